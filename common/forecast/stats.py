"""Significance tests for forecasts: is a forecast really better than naive, and are its up/down
calls better than chance?

- `diebold_mariano`: Diebold & Mariano (1995) compare two forecasts of the same targets through the
  loss differential d_t = loss(a)_t - loss(b)_t. Its mean over n windows, divided by its standard
  error, is the DM statistic. Forecast errors of neighbouring windows are correlated (an h-day
  forecast's windows overlap by h - 1 days, and volatility clusters), so the variance is the
  Newey-West (HAC) long-run variance, with at least h - 1 lags. Harvey, Leybourne & Newbold (1997)
  correct the statistic for small samples and compare it with Student's t (n - 1 degrees of freedom).
- `pesaran_timmermann`: Pesaran & Timmermann (1992) ask whether the share of correctly called
  directions beats what independent calls with the same up-shares would get by chance.

Every p-value here is one-sided: small means "evidence that the forecast is better".
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


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


def diebold_mariano(
    loss_reference: ArrayLike, loss_model: ArrayLike, horizon: int = 1
) -> tuple[float | None, float | None]:
    """(statistic, one-sided p-value) for "the model's expected loss is lower than the reference's".

    `loss_reference` and `loss_model` are per-window losses (e.g. squared errors) on the same targets.
    With the HLN small-sample correction. A loss differential that never varies (two identical
    forecasts) carries no evidence either way: (None, None).
    """
    d = np.asarray(loss_reference, dtype=np.float64) - np.asarray(loss_model, dtype=np.float64)
    if d.ndim != 1 or len(d) < 3:
        raise ValueError(f"the Diebold-Mariano test needs at least 3 paired losses, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("the losses contain NaN or inf: score finite forecasts only")
    n = len(d)
    variance = long_run_variance(d, newey_west_lags(n, horizon))
    if not variance > 1e-300:
        return None, None
    statistic = d.mean() / math.sqrt(variance / n)
    correction = math.sqrt(max(n + 1 - 2 * horizon + horizon * (horizon - 1) / n, 1e-12) / n)
    statistic *= correction
    return float(statistic), float(stats.t.sf(statistic, df=n - 1))


def pesaran_timmermann(
    actual_moves: ArrayLike, predicted_moves: ArrayLike
) -> tuple[float | None, float | None]:
    """(statistic, one-sided p-value) for "the predicted directions agree with the actual ones more
    often than chance". Moves are signed changes; zero counts as down. A forecast that always calls
    the same direction has no testable skill: (None, None)."""
    actual_up = np.asarray(actual_moves, dtype=np.float64).ravel() > 0
    predicted_up = np.asarray(predicted_moves, dtype=np.float64).ravel() > 0
    n = len(actual_up)
    if n != len(predicted_up) or n < 2:
        raise ValueError(
            f"need equally many actual and predicted moves (at least 2), got {n} and {len(predicted_up)}"
        )
    hit_rate = float(np.mean(actual_up == predicted_up))
    p_actual, p_predicted = float(actual_up.mean()), float(predicted_up.mean())
    chance = p_actual * p_predicted + (1 - p_actual) * (1 - p_predicted)
    variance_hits = chance * (1 - chance) / n
    variance_chance = (
        (2 * p_actual - 1) ** 2 * p_predicted * (1 - p_predicted) / n
        + (2 * p_predicted - 1) ** 2 * p_actual * (1 - p_actual) / n
        + 4 * p_actual * p_predicted * (1 - p_actual) * (1 - p_predicted) / n**2
    )
    spread = variance_hits - variance_chance
    if not spread > 0 or p_predicted in (0.0, 1.0):
        return None, None
    statistic = (hit_rate - chance) / math.sqrt(spread)
    return float(statistic), float(stats.norm.sf(statistic))
