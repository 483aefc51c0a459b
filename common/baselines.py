"""The forecasts a model must beat, computed on exactly the windows and targets the models see.

- naive: tomorrow's close = today's (for every step of the horizon). On daily prices this is a
  hard baseline: prices are close to a random walk, so a model that matches it has learned little
  and one that "beats" it by a wide margin has almost always peeked at the future.
- moving_average: the mean of the last `window` closes.
- linear: ridge regression from the same scaled windows to the same scaled log-return targets; the
  penalty is chosen on the validation split, never on the test split.
"""

from __future__ import annotations

import warnings

import numpy as np

from common.metrics import rmse
from common.timeseries import ForecastData

RIDGE_ALPHAS = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6)


def naive_forecast(data: ForecastData, split: str = "test") -> np.ndarray:
    """(windows, horizon): the last known close, repeated for every step."""
    return np.repeat(data.anchor_close(split)[:, None], data.horizon, axis=1)


def moving_average_forecast(data: ForecastData, split: str = "test", window: int = 5) -> np.ndarray:
    """(windows, horizon): the mean close of the last `window` days of each input window."""
    if not 1 <= window <= data.lookback:
        raise ValueError(f"the moving-average window must be between 1 and the lookback ({data.lookback}), got {window}")
    anchors = data.splits[split].anchors
    means = data.close[anchors[:, None] + np.arange(-window + 1, 1)].mean(axis=1)
    return np.repeat(means[:, None], data.horizon, axis=1)


def linear_forecast(data: ForecastData, split: str = "test") -> tuple[np.ndarray, dict]:
    """(windows, horizon) ridge forecasts, and {"alpha": chosen penalty}. Fitted on train only."""
    from scipy.linalg import LinAlgWarning
    from sklearn.linear_model import Ridge

    def flat(name: str) -> np.ndarray:
        inputs = data.splits[name].inputs
        return inputs.reshape(len(inputs), -1)  # (windows, lookback * features)

    train = data.splits["train"]
    validation_actual = data.actual_prices("validation")
    scores = {}
    # Neighbouring days overlap heavily, so the flattened windows are nearly collinear; the
    # penalty handles that, and scipy's conditioning warning would only be noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)
        for alpha in RIDGE_ALPHAS:
            model = Ridge(alpha=alpha).fit(flat("train"), train.targets)
            predicted = data.to_prices("validation", model.predict(flat("validation")))
            scores[alpha] = rmse(validation_actual, predicted)
        best_alpha = min(scores, key=scores.get)
        model = Ridge(alpha=best_alpha).fit(flat("train"), train.targets)
    return data.to_prices(split, model.predict(flat(split))), {"alpha": best_alpha}


def baseline_forecasts(data: ForecastData, split: str = "test", ma_window: int = 5) -> dict[str, np.ndarray]:
    """{"naive", "moving_average", "linear"} -> (windows, horizon) price forecasts for `split`."""
    linear, _ = linear_forecast(data, split)
    return {
        "naive": naive_forecast(data, split),
        "moving_average": moving_average_forecast(data, split, ma_window),
        "linear": linear,
    }
