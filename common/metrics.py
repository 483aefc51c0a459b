"""Metrics for forecasts and language models: numpy arrays (or lists) in, a float out.

Forecast metrics agree with scikit-learn's to 1e-9 (see tests/test_metrics.py). Every function
refuses inputs that would give a silently wrong number: unequal lengths, empty arrays, NaN or inf.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def _as_arrays(*arrays: ArrayLike, names: tuple[str, ...]) -> list[np.ndarray]:
    """Flatten each input to float64 and check they are non-empty, equally long and finite."""
    out = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    lengths = {name: len(a) for name, a in zip(names, out)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"inputs must have the same length, got {lengths}")
    if len(out[0]) == 0:
        raise ValueError("inputs are empty: there is nothing to score")
    for name, a in zip(names, out):
        if not np.all(np.isfinite(a)):
            bad = int(np.flatnonzero(~np.isfinite(a))[0])
            raise ValueError(
                f"{name} contains NaN or inf (first at position {bad}); drop or fill those values first"
            )
    return out


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error, in the units of y."""
    t, p = _as_arrays(y_true, y_pred, names=("y_true", "y_pred"))
    return float(np.sqrt(np.mean((t - p) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error, in the units of y."""
    t, p = _as_arrays(y_true, y_pred, names=("y_true", "y_pred"))
    return float(np.mean(np.abs(t - p)))


def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute percentage error in percent (2.5 means 2.5 %)."""
    t, p = _as_arrays(y_true, y_pred, names=("y_true", "y_pred"))
    if np.any(t == 0):
        raise ValueError(
            f"mape is undefined when y_true has zeros ({int(np.sum(t == 0))} found); use mae or rmse"
        )
    return float(100.0 * np.mean(np.abs((t - p) / t)))


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination, as scikit-learn's `r2_score` (1.0 or 0.0 for a constant y_true)."""
    t, p = _as_arrays(y_true, y_pred, names=("y_true", "y_pred"))
    residual = np.sum((t - p) ** 2)
    total = np.sum((t - t.mean()) ** 2)
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return float(1.0 - residual / total)


def mase(y_true: ArrayLike, y_pred: ArrayLike, y_naive: ArrayLike | None = None) -> float:
    """Mean absolute scaled error: the forecast's MAE divided by the naive forecast's MAE.

    With `y_naive` (the "tomorrow equals today" forecast for the same targets) the scale is that
    forecast's MAE on the same points, so MASE < 1 means "beats naive here" and naive scores 1.
    Without it, the scale is the in-sample one-step naive error of `y_true` itself (Hyndman's).
    """
    t, p = _as_arrays(y_true, y_pred, names=("y_true", "y_pred"))
    if y_naive is None:
        if len(t) < 2:
            raise ValueError("mase without y_naive needs at least two points to form a naive forecast")
        scale = float(np.mean(np.abs(np.diff(t))))
    else:
        (n,) = _as_arrays(y_naive, names=("y_naive",))
        if len(n) != len(t):
            raise ValueError(f"y_naive has {len(n)} values but y_true has {len(t)}")
        scale = float(np.mean(np.abs(t - n)))
    if scale == 0.0:
        raise ValueError("mase is undefined: the naive forecast is perfect on these points (scale 0)")
    return float(np.mean(np.abs(t - p)) / scale)


def directional_accuracy(y_true: ArrayLike, y_pred: ArrayLike, y_prev: ArrayLike) -> float:
    """Share of points where the forecast moves in the same direction as the truth, from `y_prev`.

    A predicted change of exactly zero has no direction and counts as wrong unless the truth did not
    move either, so a "no change" forecast scores near 0; report it as not applicable instead.
    """
    t, p, prev = _as_arrays(y_true, y_pred, y_prev, names=("y_true", "y_pred", "y_prev"))
    return float(np.mean(np.sign(t - prev) == np.sign(p - prev)))


def qlike(actual_variance: ArrayLike, forecast_variance: ArrayLike) -> float:
    """Mean QLIKE loss of variance forecasts, Patton (2011): log h + y / h for a forecast variance h of a
    realised variance y. Lower is better; it is minimised by h = E[y], so a noisy proxy y ranks
    forecasts as the true variance would, and it punishes a forecast that is too calm far more than one
    too nervous. Its level depends on the units; only differences between forecasts mean something."""
    y, h = _as_arrays(actual_variance, forecast_variance, names=("actual_variance", "forecast_variance"))
    if np.any(h <= 0) or np.any(y < 0):
        raise ValueError("qlike needs positive forecast variances and non-negative realised ones")
    return float(np.mean(np.log(h) + y / h))


def _probabilities(y_true: ArrayLike, probability: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t, p = _as_arrays(y_true, probability, names=("y_true", "probability"))
    if not np.all((t == 0) | (t == 1)):
        raise ValueError("y_true must hold 0 / 1 outcomes (1 = the event happened)")
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError("probabilities must lie in [0, 1]")
    return t, p


def log_loss(y_true: ArrayLike, probability: ArrayLike, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood (nats) of 0/1 outcomes under the forecast probabilities of a 1, as
    scikit-learn's `log_loss` (probabilities clipped to [eps, 1 - eps]). A constant 0.5 scores log 2."""
    t, p = _probabilities(y_true, probability)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))


def brier_score(y_true: ArrayLike, probability: ArrayLike) -> float:
    """Mean squared difference between the forecast probability of a 1 and the 0/1 outcome (Brier, 1950);
    a constant 0.5 scores 0.25."""
    t, p = _probabilities(y_true, probability)
    return float(np.mean((p - t) ** 2))


def perplexity(mean_cross_entropy_nats: float) -> float:
    """exp(cross-entropy): the effective number of equally likely next tokens."""
    _check_loss(mean_cross_entropy_nats)
    return float(math.exp(mean_cross_entropy_nats))


def bits_per_char(mean_cross_entropy_nats: float, tokens_per_char: float = 1.0) -> float:
    """Bits per character of the original text, from a mean cross-entropy in nats per token.

    For a character model `tokens_per_char` is 1; for words or BPE it is tokens / characters, which
    makes models with different tokenizers comparable on the same text.
    """
    _check_loss(mean_cross_entropy_nats)
    if not tokens_per_char > 0:
        raise ValueError(f"tokens_per_char must be positive, got {tokens_per_char}")
    return float(mean_cross_entropy_nats * tokens_per_char / math.log(2))


def _check_loss(value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"a mean cross-entropy must be a finite, non-negative number of nats, got {value}")
