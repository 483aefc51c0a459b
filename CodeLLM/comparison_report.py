"""The comparison's outputs: the side-by-side table (Markdown), the walk-forward and speed tables,
and the plots of both networks' forecasts and of their cumulative gain over naive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = (  # (key, header, format)
    ("rmse", "RMSE", "{:.4f}"), ("rmse_vs_naive", "RMSE / naive", "{:.4f}"), ("mae", "MAE", "{:.4f}"),
    ("mape", "MAPE %", "{:.4f}"), ("r2", "R² price", "{:.4f}"), ("r2_oos_returns", "R² returns", "{:.4f}"),
    ("directional_accuracy", "direction acc.", "{:.3f}"), ("up_share", "up share", "{:.3f}"),
    ("pt_pvalue", "PT p", "{:.3f}"), ("dm_pvalue", "DM p", "{:.3f}"), ("params", "params", "{:,}"),
    ("train_seconds", "train s", "{:.1f}"), ("inference_ms_per_window", "inference ms / window", "{:.3f}"),
    ("framework", "framework", "{}"),
)


COST_COLUMNS = (("params", "params", "{:,}"), ("train_seconds", "train s", "{:.1f}"))
TARGET_COLUMNS = {
    "volatility": (("rmse", "RMSE", "{:.4f}"), ("rmse_vs_har", "RMSE / HAR", "{:.4f}"),
                   ("qlike", "QLIKE", "{:.4f}"), ("mean_forecast", "mean forecast", "{:.3f}"),
                   ("dm_pvalue", "DM p vs HAR (SE)", "{:.3f}"),
                   ("dm_qlike_pvalue", "DM p vs HAR (QLIKE)", "{:.3f}"),
                   *COST_COLUMNS),
    "direction": (("log_loss", "log-loss", "{:.4f}"), ("brier", "Brier", "{:.4f}"),
                  ("accuracy", "accuracy", "{:.3f}"), ("up_share", "up share", "{:.3f}"),
                  ("mean_probability", "mean P(up)", "{:.3f}"), ("dm_pvalue", "DM p vs base rate", "{:.3f}"),
                  *COST_COLUMNS),
}
TARGET_NOTES = {
    "volatility": "Forecasts of the realised volatility of the next 5 trading days, sqrt(252/5 · Σ r²) of "
                  "daily log returns (annualised). QLIKE = mean(log σ̂² + σ²/σ̂²) (Patton 2011; lower is "
                  "better, only differences matter). 'DM p': one-sided Diebold-Mariano p-value for 'better "
                  "than HAR-RV' on squared errors (SE) or QLIKE. 'guarded' keeps a network only if it beats "
                  "HAR-RV at 5 % on the validation split's second half, else it is HAR-RV.",
    "direction": "Forecasts of P(next close > today's). log-loss in nats (0.6931 = a coin), Brier (0.25 = a "
                 "coin); accuracy calls 'up' when P > 0.5, beside the share of up days. 'DM p': one-sided "
                 "Diebold-Mariano p-value for 'lower log-loss than the training base rate'. 'guarded' keeps "
                 "a network only if it beats the base rate at 5 % on the validation split's second half.",
}
TARGET_PLOTS = {"volatility": "volatility.png", "direction": "reliability.png"}


def _cell(value: Any, style: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and style == "{:,}":
        value = int(value)
    return style.format(value)


def markdown_table(rows: dict[str, dict[str, Any]], columns: tuple = COLUMNS) -> str:
    lines = ["| forecast | " + " | ".join(header for _, header, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name, values in rows.items():
        cells = " | ".join(_cell(values.get(key), style) for key, _, style in columns)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


def walk_forward_markdown(result: dict[str, Any]) -> str:
    """One row per fold (RMSE / naive of every forecast), then mean ± std and the pooled DM test."""
    names = result["forecasts"]
    lines = ["| fold | test period | windows | overlaps headline | naive RMSE | " + " | ".join(names) + " |",
             "|---|---|---:|---|---:|" + "---:|" * len(names)]
    for row in result["folds"]:
        overlap = ", ".join(row["overlaps_headline"]) or "-"
        ratios = " | ".join(f"{row[f'{n} / naive']:.4f}" for n in names)
        lines.append(f"| {row['fold']} | {row['test'][0]} .. {row['test'][1]} | {row['test_windows']} "
                     f"| {overlap} | {row['naive_rmse']:.4f} | {ratios} |")
    summary = result["summary"]
    lines.append("| mean ± std | | | | | " + " | ".join(f"{summary[n]['mean']:.4f} ± {summary[n]['std']:.4f}"
                                                    for n in names) + " |")

    def p_value(name: str) -> str:
        value = summary[name]["pooled_dm_pvalue"]
        return "n/a" if value is None else f"{value:.3f}"

    lines.append("| pooled DM p vs naive | | | | | " + " | ".join(p_value(n) for n in names) + " |")
    return "\n".join(lines)


def speed_markdown(speed: dict[str, Any]) -> str:
    lines = ["| lookback | LSTM train s / 1,000 windows | Transformer train s / 1,000 windows | "
             "LSTM predict ms / window | Transformer predict ms / window |", "|---:|---:|---:|---:|---:|"]
    for index, lookback in enumerate(speed["lookbacks"]):
        lines.append(f"| {lookback} | {speed['LSTM']['epoch_seconds_per_1000_windows'][index]:.2f} | "
                     f"{speed['Transformer']['epoch_seconds_per_1000_windows'][index]:.2f} | "
                     f"{speed['LSTM']['predict_ms_per_window'][index]:.3f} | "
                     f"{speed['Transformer']['predict_ms_per_window'][index]:.3f} |")
    return "\n".join(lines)


def first_step(path: Path, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """The 1-day-ahead rows of a run's predictions.csv, which must hold a date, the actual value and
    the network's forecast (and `columns`) as numbers: a damaged file raises one ValueError naming it."""
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a predictions table ({str(error).strip().splitlines()[0]}); "
                         "re-run with --retrain") from None
    numeric = ("step", "actual", "as_trained", *columns)
    missing = [name for name in ("date", *numeric) if name not in frame.columns]
    if missing:
        raise ValueError(f"{path} has no column {', '.join(map(repr, missing))}: not the predictions.csv "
                         "a run writes; re-run with --retrain")
    wrong = [name for name in numeric if not pd.api.types.is_numeric_dtype(frame[name])]
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if wrong or dates.isna().any():
        what = f"non-numbers in {', '.join(map(repr, wrong))}" if wrong else "dates that do not parse"
        raise ValueError(f"{path} is damaged ({what}); re-run with --retrain")
    first = frame[frame["step"] == 1].reset_index(drop=True)
    if first.empty:
        raise ValueError(f"{path} has no 1-day-ahead rows (step 1); re-run with --retrain")
    return first


def plot_predictions(lstm: pd.DataFrame, transformer: pd.DataFrame, guards: dict[str, Any], out: Path,
                     series: str) -> None:
    """predictions.png (prices: both networks as trained, and naive) and cumulative_error.png (each
    network's cumulative gain in squared error over naive: above zero = ahead of naive so far)."""
    from common.figures import COLORS
    from common.forecast.plots import plot_cumulative_gain, plot_forecasts

    dates = pd.to_datetime(lstm["date"]).to_numpy()
    actual = lstm["actual"].to_numpy()
    note = "; ".join(f"{name} guard: {'kept' if guard['kept'] else 'naive'}"
                     for name, guard in guards.items())
    forecasts = {"LSTM": lstm["as_trained"].to_numpy(), "Transformer": transformer["as_trained"].to_numpy(),
                 "naive": lstm["naive"].to_numpy()}
    plot_forecasts(dates, actual, forecasts, out / "predictions.png",
                   title=f"{series}: test period, 1 day ahead, networks as trained ({note})")
    lines = {f"{name} as trained": (forecasts[name], COLORS[name], "-", 1.6)
             for name in ("LSTM", "Transformer")}
    lines["drift"] = (lstm["drift"].to_numpy(), "tab:brown", ":", 1.0)
    plot_cumulative_gain(dates, actual, forecasts["naive"], lines, out / "cumulative_error.png",
                         title=f"{series}: above 0 = beating naive so far ({note})")
