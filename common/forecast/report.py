"""Scoring forecasts and writing a forecasting run's results the same way for every stage, so the
MemoryLLM and CodeLLM outputs can be compared file for file.

Every forecast gets the roadmap's four price-space metrics (RMSE, MAE, MAPE, R²) and the ones that
say whether it knows anything a random walk does not: RMSE / naive, out-of-sample R² of the
*returns* (against "no change" and against drift — in price space every forecast, naive included,
scores R² ≈ 0.98), directional accuracy beside the share of up days with a Pesaran-Timmermann
p-value, MASE on Hyndman's in-sample scale, and a Diebold-Mariano test against naive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import metrics
from common.forecast.baselines import drift_forecast, naive_forecast
from common.forecast.stats import diebold_mariano, pesaran_timmermann
from common.forecast.windows import ForecastData
from common.runs import _to_jsonable, atomic_path, write_json

# The forecasts every run reports: the network twice, then the baselines (common.forecast.baselines).
FORECAST_NAMES = ("as_trained", "guarded", "naive", "drift", "ar", "moving_average", "linear")
TABLE_COLUMNS = (  # (key, header) of the console / Markdown table
    ("rmse", "RMSE"), ("rmse_vs_naive", "RMSE/naive"), ("mae", "MAE"), ("mape", "MAPE %"), ("r2", "R² price"),
    ("r2_oos_returns", "R² returns"), ("directional_accuracy", "dir. acc."), ("up_share", "up share"),
    ("dm_pvalue", "DM p"),
)


def squared_errors(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(windows,) squared price error per window, averaged over the horizon steps: the loss the
    Diebold-Mariano tests compare."""
    return ((np.asarray(actual) - np.asarray(predicted)) ** 2).reshape(len(actual), -1).mean(axis=1)


def forecast_metrics(
    actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray, drift: np.ndarray, scale: float,
    horizon: int = 1,
) -> dict[str, float | None]:
    """Every metric of one forecast. Arrays are (windows, steps) prices: the truth, the forecast, the
    last known close (naive) and the drift forecast; `scale` is the in-sample one-day naive MAE.
    `horizon` is how many days a window's targets reach (its last step): neighbouring windows share
    horizon - 1 of them, which the Diebold-Mariano and Pesaran-Timmermann tests must allow for."""
    actual, predicted, previous, drift = (np.asarray(a, dtype=np.float64).reshape(len(actual), -1)
                                          for a in (actual, predicted, previous, drift))
    true_return, predicted_return = np.log(actual / previous), np.log(predicted / previous)
    drift_return = np.log(drift / previous)
    error = np.sum((true_return - predicted_return) ** 2)
    moves = not np.allclose(predicted, previous, rtol=0.0, atol=1e-12)
    pt_stat, pt_pvalue = (pesaran_timmermann(true_return, predicted_return, horizon) if moves
                          else (None, None))
    dm_stat, dm_pvalue = diebold_mariano(squared_errors(actual, previous), squared_errors(actual, predicted),
                                         horizon)
    naive_rmse = metrics.rmse(actual, previous)
    return {
        "rmse": metrics.rmse(actual, predicted),
        "mae": metrics.mae(actual, predicted),
        "mape": metrics.mape(actual, predicted),
        "r2": metrics.r2(actual, predicted),
        "rmse_vs_naive": metrics.rmse(actual, predicted) / naive_rmse if naive_rmse > 0 else None,
        "mae_vs_naive": (metrics.mae(actual, predicted) / metrics.mae(actual, previous)
                         if naive_rmse > 0 else None),
        "mase": metrics.mae(actual, predicted) / scale if scale > 0 else None,
        "r2_oos_returns": 1.0 - error / np.sum(true_return**2) if np.any(true_return) else None,
        "r2_oos_returns_vs_drift": 1.0 - error / np.sum((true_return - drift_return) ** 2),
        "directional_accuracy": metrics.directional_accuracy(actual, predicted, previous) if moves else None,
        "up_share": float(np.mean(true_return > 0)),
        "pt_stat": pt_stat,
        "pt_pvalue": pt_pvalue,
        "dm_stat": dm_stat,
        "dm_pvalue": dm_pvalue,
    }


def in_sample_scale(data: ForecastData) -> float:
    """Hyndman's MASE scale: the mean absolute one-day change of the close over the training rows."""
    start, stop = data.borders["train"]
    return float(np.mean(np.abs(np.diff(data.close[start:stop]))))


def score(data: ForecastData, predicted: np.ndarray, split: str = "test") -> dict[str, Any]:
    """Pooled metrics over every step, plus one entry per step when the horizon is longer than 1."""
    actual = data.actual_prices(split)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(actual.shape)
    previous, drift = naive_forecast(data, split), drift_forecast(data, split)
    scale = in_sample_scale(data)
    result: dict[str, Any] = {
        "pooled": forecast_metrics(actual, predicted, previous, drift, scale, data.horizon)
    }
    if data.horizon > 1:
        # step s reads the close s days ahead: its windows overlap by s - 1 days, so it is tested at
        # horizon s (as if at horizon 1, step 20's tests raised 21 % false alarms at a nominal 5 %)
        result["by_horizon"] = [
            {"step": step + 1, **forecast_metrics(actual[:, step], predicted[:, step], previous[:, step],
                                                  drift[:, step], scale, horizon=step + 1)}
            for step in range(data.horizon)
        ]
    return result


def predictions_frame(
    data: ForecastData, forecasts: dict[str, np.ndarray], split: str = "test"
) -> pd.DataFrame:
    """One row per (window, step): date, step, actual, then one column per forecast."""
    dates = data.target_dates(split)
    frame = pd.DataFrame({
        "date": pd.to_datetime(dates.ravel()).strftime("%Y-%m-%d"),
        "step": np.tile(np.arange(1, data.horizon + 1), len(dates)),
        "anchor_close": np.repeat(data.anchor_close(split), data.horizon),
        "actual": data.actual_prices(split).ravel(),
    })
    for name, values in forecasts.items():
        frame[name] = np.asarray(values, dtype=np.float64).ravel()
    return frame


def _cell(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def comparison_table(rows: dict[str, dict[str, float | None]]) -> str:
    """A plain-text table of metrics, one row per forecast, for the console."""
    header = f"{'forecast':<16}" + "".join(f"{title:>12}" for _, title in TABLE_COLUMNS)
    lines = [header, "-" * len(header)]
    for name, values in rows.items():
        lines.append(f"{name:<16}" + "".join(f"{_cell(values.get(key)):>12}" for key, _ in TABLE_COLUMNS))
    return "\n".join(lines)


def series_label(data_info: dict[str, Any]) -> str:
    """A person's name for the series: GOOG, or the CSV's file name (not 'auto:GOOG')."""
    source = str(data_info.get("source", ""))
    if source.startswith("csv:"):
        return Path(source[4:]).stem
    return source.split(":")[-1] or "series"


def write_forecast_run(
    out: Path,
    data: ForecastData,
    forecasts: dict[str, np.ndarray],
    header: dict[str, Any],
    data_info: dict[str, Any],
    guard: dict[str, Any] | None = None,
    history: dict[str, list[float]] | None = None,
    extra: dict[str, Any] | None = None,
    model_label: str = "model",
) -> dict[str, Any]:
    """Score every test forecast and write metrics.json, predictions.csv and the plots.

    `forecasts` maps a name (FORECAST_NAMES: "as_trained" and "guarded" for the network, then the
    baselines) to (windows, horizon) test prices. `header` opens metrics.json ({"stage", "model"});
    `extra` closes it (train_seconds, epochs_run, params...). Returns the metrics dict as written.
    """
    from common.forecast import plots

    scores = {name: score(data, values) for name, values in forecasts.items()}
    main = "guarded" if "guarded" in scores else next(iter(scores))
    result: dict[str, Any] = {
        **header,
        "series": series_label(data_info),
        "lookback": data.lookback,
        "horizon": data.horizon,
        "data": data_info,
        "split": data.split_dates(),
        "scored": data.scored("test"),
        "features": data.feature_names,
        "forecasts": {name: s["pooled"] for name, s in scores.items()},
        "guard": guard,
        # the headline at the top level: `test` and `rmse_vs_naive` are the guarded (deployed) forecast's
        "test": scores[main]["pooled"],
        "rmse_vs_naive": scores[main]["pooled"]["rmse_vs_naive"],
        "baselines": {name: s["pooled"] for name, s in scores.items()
                      if name not in ("as_trained", "guarded")},
    }
    if data.horizon > 1:
        result["forecasts_by_horizon"] = {name: s["by_horizon"] for name, s in scores.items()}
    result.update(extra or {})

    frame = predictions_frame(data, forecasts)
    with atomic_path(out / "predictions.csv") as tmp:
        frame.to_csv(tmp, index=False)

    title = f"{result['series']} — {header.get('stage', '')} ({model_label})"
    kept = bool(guard and guard.get("kept"))
    plots.plot_run_forecasts(frame, model_label, kept, out, title)
    if history:
        plots.plot_history(history, out / "loss.png", title=f"{title}: training history")
    write_json(out / "metrics.json", result)
    return _to_jsonable(result)  # as written: plain numbers, NaN as None
