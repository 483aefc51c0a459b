"""The forecasts a model must beat, computed on exactly the windows and targets the models see.

- naive: tomorrow's close = today's (for every step of the horizon). On daily prices this is a
  hard baseline: prices are close to a random walk, so a model that matches it has learned little
  and one that "beats" it by a wide margin has almost always peeked at the future.
- drift: naive plus the training split's mean log return per step (the "trend" a model can learn
  from the intercept alone; on a rising stock it beats naive by a hair with no skill at all).
- ar: an autoregression of the next returns on the last p daily log returns (OLS with an
  intercept, fitted on train, p ≤ 10 chosen on the validation split's "select" half); `fit_ar_order`
  fits one of a given order (the long-range benchmark's AR(k)).
- moving_average: the mean of the last `window` closes.
- linear: ridge regression from the same scaled windows to the same scaled log-return targets; the
  penalty is chosen on the "select" half, and metrics.json says when it sits on the grid's edge
  (at the top edge, ridge has shrunk to its intercept: drift in disguise).
No baseline setting is ever chosen on the test split.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from common.forecast.windows import ForecastData
from common.metrics import rmse

RIDGE_ALPHAS = tuple(10.0 ** power for power in range(-2, 9))  # 1e-2 .. 1e8
MAX_AR_ORDER = 10
SELECT = "select"  # the validation half on which every baseline setting is chosen


def naive_forecast(data: ForecastData, split: str = "test") -> np.ndarray:
    """(windows, horizon): the last known close, repeated for every step."""
    return np.repeat(data.anchor_close(split)[:, None], data.horizon, axis=1)


def drift_forecast(data: ForecastData, split: str = "test") -> np.ndarray:
    """(windows, horizon): the last close grown by the training mean log return of each step (the
    target scaler's mean, so a scaled output of 0 *is* this forecast)."""
    return data.to_prices(split, np.zeros((len(data.splits[split].anchors), data.horizon)))


def moving_average_forecast(data: ForecastData, split: str = "test", window: int = 5) -> np.ndarray:
    """(windows, horizon): the mean close of the last `window` days of each input window."""
    if not 1 <= window <= data.lookback:
        raise ValueError(
            f"the moving-average window must be between 1 and the lookback ({data.lookback}), got {window}"
        )
    anchors = data.splits[split].anchors
    means = data.close[anchors[:, None] + np.arange(-window + 1, 1)].mean(axis=1)
    return np.repeat(means[:, None], data.horizon, axis=1)


@dataclass
class FittedBaselines:
    """Baselines fitted once (train) and tuned once (validation "select"), then asked for any split."""

    data: ForecastData
    ma_window: int
    ar_order: int
    ar_coefficients: np.ndarray  # (1 + p, horizon): intercept, then lags 1..p
    ridge: object  # a fitted sklearn Ridge
    info: dict = field(default_factory=dict)  # chosen settings, for metrics.json

    def forecasts(self, split: str) -> dict[str, np.ndarray]:
        """{"naive", "drift", "ar", "moving_average", "linear"} -> (windows, horizon) prices."""
        return {
            "naive": naive_forecast(self.data, split),
            "drift": drift_forecast(self.data, split),
            "ar": ar_predict(self.data, split, self.ar_order, self.ar_coefficients),
            "moving_average": moving_average_forecast(self.data, split, self.ma_window),
            "linear": self.data.to_prices(split, self.ridge.predict(self.data.flat_inputs(split))),
        }


def _lagged_returns(data: ForecastData, split: str, order: int) -> np.ndarray:
    """(windows, 1 + order): a column of ones, then the log returns of the last `order` days."""
    log_close = np.log(data.close)
    anchors = data.splits[split].anchors
    lags = np.arange(order)  # lag 1 = the return into the anchor day itself
    returns = log_close[anchors[:, None] - lags] - log_close[anchors[:, None] - lags - 1]
    return np.hstack([np.ones((len(anchors), 1)), returns])


def ar_predict(data: ForecastData, split: str, order: int, coefficients: np.ndarray) -> np.ndarray:
    return data.anchor_close(split)[:, None] * np.exp(_lagged_returns(data, split, order) @ coefficients)


def fit_ar_order(data: ForecastData, order: int) -> np.ndarray:
    """(1 + order, horizon) OLS coefficients (intercept, then lags 1..order) of the next returns on the
    last `order` daily log returns, fitted on the training windows; forecast with `ar_predict`."""
    train = data.splits["train"]
    if not 1 <= order <= int(train.anchors.min()):
        raise ValueError(f"an AR({order}) needs {order} past returns before the first training window, which "
                         f"has {int(train.anchors.min())}: use a longer lookback or a smaller order")
    targets = data.target_scaler.inverse(train.targets)  # (windows, horizon) log returns
    coefficients, *_ = np.linalg.lstsq(_lagged_returns(data, "train", order), targets, rcond=None)
    return coefficients


def fit_ar(data: ForecastData) -> tuple[int, np.ndarray, dict]:
    """OLS of the next returns on the last p returns, for p = 1..10 (fewer when the windows start
    too early to have p past returns); p with the lowest RMSE on the "select" half wins."""
    train = data.splits["train"]
    targets = data.target_scaler.inverse(train.targets)  # (windows, horizon) log returns
    max_order = min(MAX_AR_ORDER, int(train.anchors.min()))
    if max_order < 1:
        return 0, np.vstack([targets.mean(axis=0)]), {"order": 0}
    actual = data.actual_prices(SELECT)
    best = None
    for order in range(1, max_order + 1):
        coefficients = fit_ar_order(data, order)
        error = rmse(actual, ar_predict(data, SELECT, order, coefficients))
        if best is None or error < best[0]:
            best = (error, order, coefficients)
    _, order, coefficients = best
    return order, coefficients, {"order": order, "max_order": max_order,
                                 "lag_coefficients_step1": coefficients[1:, 0].tolist()}


def fit_ridge(data: ForecastData) -> tuple[object, dict]:
    """Ridge on the flattened windows, penalty chosen on the "select" half from RIDGE_ALPHAS."""
    from scipy.linalg import LinAlgWarning
    from sklearn.linear_model import Ridge

    train = data.splits["train"]
    actual = data.actual_prices(SELECT)
    scores = {}
    # Neighbouring days overlap heavily, so the flattened windows are nearly collinear; the
    # penalty handles that, and scipy's conditioning warning would only be noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)
        for alpha in RIDGE_ALPHAS:
            model = Ridge(alpha=alpha).fit(data.flat_inputs("train"), train.targets)
            scores[alpha] = rmse(actual, data.to_prices(SELECT, model.predict(data.flat_inputs(SELECT))))
        best_alpha = min(scores, key=scores.get)
        model = Ridge(alpha=best_alpha).fit(data.flat_inputs("train"), train.targets)
    edge = "top" if best_alpha == RIDGE_ALPHAS[-1] else "bottom" if best_alpha == RIDGE_ALPHAS[0] else None
    return model, {"alpha": best_alpha, "alpha_on_grid_edge": edge is not None, "edge": edge,
                   "grid": [RIDGE_ALPHAS[0], RIDGE_ALPHAS[-1]]}


def fit_baselines(data: ForecastData, ma_window: int = 5) -> FittedBaselines:
    """Fit AR and ridge on train, choose their settings on the validation "select" half."""
    moving_average_forecast(data, "train", ma_window)  # checks the window before any fitting
    order, coefficients, ar_info = fit_ar(data)
    ridge, ridge_info = fit_ridge(data)
    info = {"ar": ar_info, "linear": ridge_info, "moving_average": {"window": ma_window}}
    return FittedBaselines(data, ma_window, order, coefficients, ridge, info=info)


def baseline_forecasts(data: ForecastData, split: str = "test", ma_window: int = 5) -> dict[str, np.ndarray]:
    """{"naive", "drift", "ar", "moving_average", "linear"} -> (windows, horizon) price forecasts for
    `split`."""
    return fit_baselines(data, ma_window).forecasts(split)
