"""Significance tests for forecasts: is a forecast really better than naive, and are its up/down
calls better than chance?

- `diebold_mariano`: Diebold & Mariano (1995) compare two forecasts of the same targets through the
  loss differential d_t = loss(a)_t - loss(b)_t: is its mean above zero? The mean is divided by its
  standard error, and that standard error must allow for neighbouring windows being correlated:
  - horizon 1 (windows share no target day): the Newey-West (HAC, Bartlett) variance with the usual
    rule-of-thumb lags (volatility clusters), the Harvey, Leybourne & Newbold (1997) small-sample
    correction and Student's t with n - 1 degrees of freedom;
  - horizon h > 1 (an h-day window shares h - 1 target days with its neighbour, so d_t is an MA(h - 1)
    process): the equal-weighted cosine (EWC) variance, the mean of B squared cosine transforms of d,
    and Student's t with B degrees of freedom ("fixed smoothing": Lazarus, Lewis, Stock & Watson 2018,
    HAR inference: recommendations for practice; for this very test Coroneo & Iacone 2020). Bartlett
    weights shrink the h - 1 autocovariances that the overlap puts at full weight, and even the
    rectangular kernel with h - 1 lags that HLN assume leaves a variance too small when h is a large
    share of n: simulated under the null at a nominal 5 % with 158 windows, Bartlett rejects 8-10 %
    of the time at h = 5..20 and the rectangular kernel 8 % at h = 20; EWC stays within 4-6 %
    (tests/test_stats.py measures it).
- `pesaran_timmermann`: Pesaran & Timmermann (1992) ask whether the share of correctly called
  directions beats what independent calls with the same up-shares would get by chance. When windows
  overlap (horizon > 1) their calls are not independent draws: the test becomes Pesaran &
  Timmermann's (2009) covariance form, "do the up-indicators of the calls and of the outcomes
  co-move?", with the same overlap-robust variance as Diebold-Mariano.

Every p-value here is one-sided: small means "evidence that the forecast is better".
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import fft, stats


def newey_west_lags(n: int, horizon: int = 1) -> int:
    """Lags of the HAC variance: the usual rule of thumb floor(4 (n / 100)^(2/9)), and never fewer
    than horizon - 1 (the overlap of h-step forecast errors)."""
    return max(horizon - 1, int(4 * (n / 100) ** (2 / 9)))


def long_run_variance(values: ArrayLike, lags: int) -> float:
    """Newey-West variance of a series' mean times n: γ0 + 2 Σ_k (1 - k / (lags + 1)) γk (Bartlett
    weights keep it non-negative)."""
    x = np.asarray(values, dtype=np.float64)
    x = x - x.mean()
    n = len(x)
    variance = float(x @ x) / n
    for k in range(1, min(lags, n - 1) + 1):
        variance += 2 * (1 - k / (lags + 1)) * float(x[k:] @ x[:-k]) / n
    return max(variance, 0.0)


def cosine_bases(n: int, horizon: int = 1) -> int:
    """B, the number of cosine transforms the EWC variance averages (and its degrees of freedom):
    Lazarus et al.'s rule 0.4 n^(2/3), and at most n / (2 h). The cap keeps every cosine's period
    (2n / j) at least 4 h days long, inside the low frequencies where the spectrum of an MA(h - 1)
    overlap is still near its peak at zero; a wider band averages in lower spectral density and
    understates the variance (7 % false alarms at h = 20, n = 158 with a cap of n / h)."""
    return max(1, min(int(0.4 * n ** (2 / 3)), n // (2 * horizon)))


def cosine_variance(values: ArrayLike, bases: int) -> float:
    """EWC variance of a series' mean times n: (1 / B) Σ_{j=1..B} Λ_j², where
    Λ_j = sqrt(2 / n) Σ_t x_t cos(π j (t - 1/2) / n), t = 1..n. Each Λ_j is (nearly) normal with
    variance the long-run variance, and orthogonal to a constant, so no mean need be removed;
    B · variance / long-run variance is then χ²_B, which makes the t-ratio Student's t with B degrees
    of freedom."""
    x = np.asarray(values, dtype=np.float64)
    # scipy's DCT-II is y_j = 2 Σ_t x_t cos(π j (2t + 1) / 2n) with t from 0: Λ_j = y_j / sqrt(2n)
    transforms = fft.dct(x, type=2)[1 : bases + 1] / math.sqrt(2 * len(x))
    return float(np.mean(transforms**2))


def mean_above_zero(values: ArrayLike, horizon: int = 1) -> tuple[float | None, float | None]:
    """(statistic, one-sided p-value) for "the series' expected value is above zero", when each value
    reads `horizon` consecutive days and so overlaps its h - 1 neighbours (the module docstring says
    which variance each horizon gets, and why). A series that never varies: (None, None)."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if horizon == 1:
        variance = long_run_variance(x, newey_west_lags(n))
        degrees_of_freedom = n - 1
        correction = math.sqrt((n - 1) / n)  # HLN's sqrt((n + 1 - 2h + h (h - 1) / n) / n) at h = 1
    else:
        bases = cosine_bases(n, horizon)
        variance = cosine_variance(x, bases)
        degrees_of_freedom, correction = bases, 1.0  # fixed smoothing: t_B is the small-sample law
    if not variance > 1e-300:
        return None, None
    statistic = correction * x.mean() / math.sqrt(variance / n)
    return float(statistic), float(stats.t.sf(statistic, df=degrees_of_freedom))


def diebold_mariano(
    loss_reference: ArrayLike, loss_model: ArrayLike, horizon: int = 1
) -> tuple[float | None, float | None]:
    """(statistic, one-sided p-value) for "the model's expected loss is lower than the reference's".

    `loss_reference` and `loss_model` are per-window losses (e.g. squared errors) on the same targets;
    `horizon` is how many days each window's loss reads (its windows overlap by horizon - 1 days). A
    loss differential that never varies (two identical forecasts) carries no evidence either way:
    (None, None).
    """
    d = np.asarray(loss_reference, dtype=np.float64) - np.asarray(loss_model, dtype=np.float64)
    if d.ndim != 1 or len(d) < 3:
        raise ValueError(f"the Diebold-Mariano test needs at least 3 paired losses, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("the losses contain NaN or inf: score finite forecasts only")
    if horizon < 1:
        raise ValueError(f"the horizon is the days each loss reads, at least 1, got {horizon}")
    return mean_above_zero(d, horizon)


def pesaran_timmermann(
    actual_moves: ArrayLike, predicted_moves: ArrayLike, horizon: int = 1
) -> tuple[float | None, float | None]:
    """(statistic, one-sided p-value) for "the predicted directions agree with the actual ones more
    often than chance". Moves are signed changes, (windows,) or (windows, steps); zero counts as down.
    A forecast that always calls the same direction has no testable skill: (None, None).

    At horizon 1 this is the 1992 test on every move. At horizon h > 1 a window's moves share days
    with the next h - 1 windows' (and, pooled over steps, with each other), so the hits are not
    independent: the test asks instead whether the per-window covariance of the up-indicators,
    mean over steps of (actual_up - its share) (predicted_up - its share), is above zero, with the
    overlap-robust variance of `mean_above_zero` (Pesaran & Timmermann 2009).
    """
    actual = np.asarray(actual_moves, dtype=np.float64)
    predicted = np.asarray(predicted_moves, dtype=np.float64)
    if actual.shape != predicted.shape or actual.size < 2:
        raise ValueError(f"need equally many actual and predicted moves (at least 2), got shapes "
                         f"{actual.shape} and {predicted.shape}")
    if horizon < 1:
        raise ValueError(f"the horizon is the days each move spans, at least 1, got {horizon}")
    actual_up = (actual > 0).reshape(len(actual), -1)  # (windows, steps)
    predicted_up = (predicted > 0).reshape(len(actual), -1)
    p_actual, p_predicted = float(actual_up.mean()), float(predicted_up.mean())
    if p_predicted in (0.0, 1.0):
        return None, None
    if horizon > 1:
        if len(actual_up) < 3:
            raise ValueError(f"the overlapping Pesaran-Timmermann test needs at least 3 windows, got "
                             f"{len(actual_up)}")
        co_moves = ((actual_up - p_actual) * (predicted_up - p_predicted)).mean(axis=1)  # (windows,)
        return mean_above_zero(co_moves, horizon)
    n = actual_up.size
    hit_rate = float(np.mean(actual_up == predicted_up))
    chance = p_actual * p_predicted + (1 - p_actual) * (1 - p_predicted)
    variance_hits = chance * (1 - chance) / n
    variance_chance = (
        (2 * p_actual - 1) ** 2 * p_predicted * (1 - p_predicted) / n
        + (2 * p_predicted - 1) ** 2 * p_actual * (1 - p_actual) / n
        + 4 * p_actual * p_predicted * (1 - p_actual) * (1 - p_predicted) / n**2
    )
    spread = variance_hits - variance_chance
    if not spread > 0:
        return None, None
    statistic = (hit_rate - chance) / math.sqrt(spread)
    return float(statistic), float(stats.norm.sf(statistic))
