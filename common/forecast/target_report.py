"""Scoring, guarding and writing the run of a volatility or direction forecast (common.forecast.windows
.TARGETS), in the same shape as a price run: metrics.json's `forecasts` holds the network as trained
and as guarded beside the baselines (common.forecast.target_baselines), each with its metrics.

Volatility, forecasts σ̂ of the realised volatility σ of the next week (annualised):
- rmse of σ̂ - σ; qlike = mean(log σ̂² + σ² / σ̂²) (Patton, 2011): the loss that ranks variance
  forecasts correctly when the realised variance is only a noisy proxy of the true one;
- dm_pvalue: one-sided Diebold-Mariano p-value for "lower squared error than HAR-RV" (dm_qlike_pvalue:
  the same on QLIKE), tested at horizon volatility_days because neighbouring weeks share 4 days
  (common.forecast.stats: an equal-weighted cosine variance and Student's t).
Direction, forecasts p of the probability of an up day:
- log_loss (nats; a constant 0.5 scores 0.693), brier (mean (p - y)²; 0.5 scores 0.25), accuracy of
  "up when p > 0.5" beside up_share, the share of up days in the test split;
- dm_pvalue: one-sided Diebold-Mariano p-value for "lower log-loss than the training base rate".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import metrics
from common.forecast.report import series_label
from common.forecast.stats import diebold_mariano
from common.forecast.windows import ForecastData
from common.runs import _to_jsonable, atomic_path, write_json

REFERENCE = {"volatility": "har", "direction": "base_rate"}  # what the guard and the DM tests compare with
TABLE_COLUMNS = {  # target -> (key, header) of the console / Markdown table
    "volatility": (("rmse", "RMSE"), ("rmse_vs_har", "RMSE/HAR"), ("qlike", "QLIKE"),
                   ("dm_pvalue", "DM p (SE)"), ("dm_qlike_pvalue", "DM p (QLIKE)")),
    "direction": (("log_loss", "log-loss"), ("brier", "Brier"), ("accuracy", "accuracy"),
                  ("up_share", "up share"), ("dm_pvalue", "DM p")),
}


def guard_rule(target: str, guard_windows: str) -> str:
    reference, loss = (("HAR-RV", "squared volatility errors") if target == "volatility"
                       else ("the training base rate", "log-loss"))
    variance = ("equal-weighted cosine variance and Student's t, as neighbouring weeks overlap"
                if target == "volatility" else "Newey-West variance, Harvey-Leybourne-Newbold correction")
    return (f"keep the model only if a one-sided Diebold-Mariano test ({loss}, {variance}) rejects 'no "
            f"better than {reference}' at level alpha on {guard_windows}; otherwise forecast {reference}")


def window_losses(target: str, actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(windows,) the loss the guard and the DM tests compare: squared error of the volatility, or the
    log-loss of the probability of the outcome."""
    actual, predicted = np.asarray(actual, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if target == "volatility":
        return (actual - predicted) ** 2
    probability = np.clip(predicted, 1e-15, 1 - 1e-15)
    return -(actual * np.log(probability) + (1 - actual) * np.log(1 - probability))


def qlike_losses(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(windows,) log σ̂² + σ² / σ̂² of volatility forecasts σ̂ for realised volatilities σ."""
    return np.log(predicted**2) + actual**2 / predicted**2


def target_metrics(
    target: str, actual: np.ndarray, predicted: np.ndarray, reference: np.ndarray, days: int = 1
) -> dict[str, float | None]:
    """Every metric of one (windows,) forecast of `target`, beside the (windows,) `reference` forecast
    (HAR-RV, or the base rate) that its Diebold-Mariano tests compare with."""
    dm_stat, dm_pvalue = diebold_mariano(window_losses(target, actual, reference),
                                         window_losses(target, actual, predicted), days)
    if target == "volatility":
        rmse, reference_rmse = metrics.rmse(actual, predicted), metrics.rmse(actual, reference)
        _, dm_qlike_pvalue = diebold_mariano(qlike_losses(actual, reference), qlike_losses(actual, predicted),
                                             days)
        return {"rmse": rmse, "mae": metrics.mae(actual, predicted),
                "qlike": metrics.qlike(actual**2, predicted**2),
                "rmse_vs_har": rmse / reference_rmse if reference_rmse > 0 else None,
                "mean_forecast": float(np.mean(predicted)), "mean_actual": float(np.mean(actual)),
                "dm_stat": dm_stat, "dm_pvalue": dm_pvalue, "dm_qlike_pvalue": dm_qlike_pvalue}
    return {"log_loss": metrics.log_loss(actual, predicted), "brier": metrics.brier_score(actual, predicted),
            "accuracy": float(np.mean((predicted > 0.5) == (actual == 1))),
            "up_share": float(np.mean(actual)), "mean_probability": float(np.mean(predicted)),
            "dm_stat": dm_stat, "dm_pvalue": dm_pvalue}


def target_guard(
    data: ForecastData, network: np.ndarray, reference: np.ndarray, alpha: float
) -> dict[str, Any]:
    """The guard's verdict on the "guard" half: keep the network only if it beats `reference`."""
    actual = data.actual_targets("guard")
    statistic, p_value = diebold_mariano(window_losses(data.target, actual, reference),
                                         window_losses(data.target, actual, network), data.target_days)
    p_value = 1.0 if p_value is None else p_value
    return {"kept": bool(p_value < alpha), "rule": guard_rule(data.target, data.guard_windows()),
            "against": REFERENCE[data.target],
            "alpha": alpha, "dm_stat_validation": statistic, "dm_pvalue_validation": p_value,
            "windows": int(len(actual))}


def target_table(target: str, rows: dict[str, dict[str, Any]]) -> str:
    """A plain-text table of a target's metrics, one row per forecast, for the console."""
    columns = TABLE_COLUMNS[target]
    header = f"{'forecast':<18}" + "".join(f"{title:>14}" for _, title in columns)
    lines = [header, "-" * len(header)]
    for name, values in rows.items():
        cells = "".join("{:>14}".format("n/a" if values.get(key) is None else f"{values[key]:.4f}")
                        for key, _ in columns)
        lines.append(f"{name:<18}{cells}")
    return "\n".join(lines)


def target_frame(data: ForecastData, forecasts: dict[str, np.ndarray], split: str = "test") -> pd.DataFrame:
    """One row per window: the first target day (and the last, for volatility), the last known close,
    the actual target, then one column per forecast."""
    anchors = data.splits[split].anchors
    frame = pd.DataFrame({"date": data.dates[anchors + 1].strftime("%Y-%m-%d")})
    if data.target == "volatility":
        frame["target_end"] = data.dates[anchors + data.target_days].strftime("%Y-%m-%d")
    frame["step"] = 1
    frame["anchor_close"] = data.close[anchors]
    frame["actual"] = data.actual_targets(split)
    for name, values in forecasts.items():
        frame[name] = np.asarray(values, dtype=np.float64)
    return frame


def write_target_run(
    out: Path, data: ForecastData, forecasts: dict[str, np.ndarray], header: dict[str, Any],
    data_info: dict[str, Any], guard: dict[str, Any], history: dict[str, list[float]] | None = None,
    extra: dict[str, Any] | None = None, model_label: str = "model",
) -> dict[str, Any]:
    """Score every (windows,) test forecast of a volatility or direction target and write metrics.json,
    predictions.csv and the plots (volatility.png or reliability.png, loss.png); returns the metrics."""
    from common.forecast import plots

    actual = data.actual_targets("test")
    reference = forecasts[REFERENCE[data.target]]
    scores = {name: target_metrics(data.target, actual, values, reference, data.target_days)
              for name, values in forecasts.items()}
    result: dict[str, Any] = {
        **header, "target": data.target, "series": series_label(data_info), "lookback": data.lookback,
        "horizon": data.horizon, "target_days": data.target_days, "data": data_info,
        "split": data.split_dates(), "scored": data.scored("test"), "features": data.feature_names,
        "forecasts": scores, "guard": guard, "test": scores["guarded"],
        "baselines": {name: s for name, s in scores.items() if name not in ("as_trained", "guarded")},
    }
    result.update(extra or {})
    frame = target_frame(data, forecasts)
    with atomic_path(out / "predictions.csv") as tmp:
        frame.to_csv(tmp, index=False)
    title = f"{result['series']} — {header.get('stage', '')} ({model_label}), {data.target}"
    shown = {f"{model_label} as trained": forecasts["as_trained"],
             **{name: values for name, values in forecasts.items() if name not in ("as_trained", "guarded")}}
    dates = pd.to_datetime(frame["date"]).to_numpy()
    if data.target == "volatility":
        plots.plot_volatility_forecasts(dates, actual, shown, out / "volatility.png",
                                           title=f"{title}: next-week realised volatility, test split")
    else:
        plots.plot_reliability(actual, shown, out / "reliability.png",
                                  title=f"{title}: reliability of P(up), test split")
    if history:
        plots.plot_history(history, out / "loss.png", title=f"{title}: training history")
    write_json(out / "metrics.json", result)
    return _to_jsonable(result)
