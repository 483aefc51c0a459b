"""Scoring forecasts in price space and writing a forecasting run's results the same way for
every stage, so MemoryLLM and CodeLLM outputs can be compared file for file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import metrics
from common.runs import atomic_path, write_json
from common.timeseries import ForecastData

METRIC_NAMES = ("rmse", "mae", "mape", "r2", "mase", "directional_accuracy")


def forecast_metrics(actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray) -> dict[str, float | None]:
    """RMSE, MAE, MAPE (%), R², MASE (vs the naive forecast on the same targets) and directional
    accuracy (share of moves from `previous` called in the right direction).

    A forecast that never moves (the naive one) has no direction: its accuracy is None.
    """
    actual, predicted, previous = (np.asarray(a, dtype=np.float64).ravel() for a in (actual, predicted, previous))
    moves = not np.allclose(predicted, previous, rtol=0.0, atol=1e-12)
    return {
        "rmse": metrics.rmse(actual, predicted),
        "mae": metrics.mae(actual, predicted),
        "mape": metrics.mape(actual, predicted),
        "r2": metrics.r2(actual, predicted),
        "mase": metrics.mase(actual, predicted, y_naive=previous),
        "directional_accuracy": metrics.directional_accuracy(actual, predicted, previous) if moves else None,
    }


def score(data: ForecastData, predicted: np.ndarray, split: str = "test") -> dict[str, Any]:
    """Pooled metrics over every step, plus one entry per step when the horizon is longer than 1."""
    actual = data.actual_prices(split)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(actual.shape)
    previous = np.repeat(data.anchor_close(split)[:, None], data.horizon, axis=1)
    result: dict[str, Any] = {"pooled": forecast_metrics(actual, predicted, previous)}
    if data.horizon > 1:
        result["by_horizon"] = [
            {"step": step + 1, **forecast_metrics(actual[:, step], predicted[:, step], previous[:, step])}
            for step in range(data.horizon)
        ]
    return result


def predictions_frame(data: ForecastData, forecasts: dict[str, np.ndarray], split: str = "test") -> pd.DataFrame:
    """One row per (window, step): date, step, actual, then one column per forecast."""
    dates = data.target_dates(split)
    frame = pd.DataFrame({
        "date": pd.to_datetime(dates.ravel()).strftime("%Y-%m-%d"),
        "step": np.tile(np.arange(1, data.horizon + 1), len(dates)),
        "actual": data.actual_prices(split).ravel(),
    })
    for name, values in forecasts.items():
        frame[name] = np.asarray(values, dtype=np.float64).ravel()
    return frame


def comparison_table(rows: dict[str, dict[str, float | None]]) -> str:
    """A plain-text table of metrics, one row per forecaster, for the console."""
    header = f"{'forecast':<16}" + "".join(f"{name:>22}" for name in ("RMSE", "MAE", "MAPE %", "R²", "MASE", "direction acc."))
    lines = [header, "-" * len(header)]
    for name, values in rows.items():
        cells = []
        for key in METRIC_NAMES:
            value = values.get(key)
            cells.append(f"{'n/a':>22}" if value is None else f"{value:>22.4f}")
        lines.append(f"{name:<16}" + "".join(cells))
    return "\n".join(lines)


def write_forecast_run(
    out: Path,
    data: ForecastData,
    model_forecast: np.ndarray,
    baselines: dict[str, np.ndarray],
    header: dict[str, Any],
    data_info: dict[str, Any],
    history: dict[str, list[float]] | None = None,
    extra: dict[str, Any] | None = None,
    model_label: str = "model",
) -> dict[str, Any]:
    """Score the test split and write metrics.json, predictions.csv and the three plots.

    `header` holds the keys that open metrics.json ({"stage": ..., "model": ...}); `extra` those that
    close it (train_seconds, epochs_run, params...). Returns the metrics dict as written.
    """
    from common import plotting

    model_scores = score(data, model_forecast)
    baseline_scores = {name: score(data, values) for name, values in baselines.items()}
    result: dict[str, Any] = {
        **header,
        "lookback": data.lookback,
        "horizon": data.horizon,
        "data": data_info,
        "split": data.split_dates(),
        "features": data.feature_names,
        "test": model_scores["pooled"],
        "baselines": {name: s["pooled"] for name, s in baseline_scores.items()},
        "rmse_vs_naive": model_scores["pooled"]["rmse"] / baseline_scores["naive"]["pooled"]["rmse"],
    }
    if data.horizon > 1:
        result["test_by_horizon"] = model_scores["by_horizon"]
        result["baselines_by_horizon"] = {name: s["by_horizon"] for name, s in baseline_scores.items()}
    result.update(extra or {})

    forecasts = {"predicted": model_forecast, "naive": baselines["naive"]}
    forecasts.update({name: values for name, values in baselines.items() if name != "naive"})
    frame = predictions_frame(data, forecasts)
    with atomic_path(out / "predictions.csv") as tmp:
        frame.to_csv(tmp, index=False)

    first_step = frame[frame["step"] == 1]
    dates = pd.to_datetime(first_step["date"]).to_numpy()
    plotting.plot_forecasts(
        dates, first_step["actual"].to_numpy(),
        {model_label: first_step["predicted"].to_numpy(), "naive": first_step["naive"].to_numpy()},
        out / "predictions.png", title=f"{header.get('stage', '')}: test period, 1 day ahead",
    )
    plotting.plot_residuals(
        dates,
        {name: first_step["actual"].to_numpy() - first_step[column].to_numpy()
         for name, column in ((model_label, "predicted"), ("naive", "naive"))},
        out / "residuals.png", title=f"{header.get('stage', '')}: test residuals (actual - forecast), 1 day ahead",
    )
    if history:
        plotting.plot_history(history, out / "loss.png", title=f"{header.get('stage', '')}: training history")
    write_json(out / "metrics.json", result)
    return result
