"""The comparison's outputs: the side-by-side table (Markdown), the predictions plot of both models
and the interpretability plot (Transformer attention beside LSTM saliency, same axes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORECASTERS = ("LSTM", "Transformer", "naive", "moving_average", "linear")
COLUMNS = (  # (key, header, format)
    ("rmse", "RMSE", "{:.4f}"), ("rmse_vs_naive", "RMSE / naive", "{:.4f}"), ("mae", "MAE", "{:.4f}"),
    ("mape", "MAPE %", "{:.4f}"), ("r2", "R²", "{:.4f}"), ("mase", "MASE", "{:.4f}"),
    ("directional_accuracy", "direction acc.", "{:.3f}"), ("params", "params", "{:,}"),
    ("train_seconds", "train s", "{:.1f}"), ("seconds_per_epoch", "s / epoch", "{:.2f}"),
    ("inference_ms_per_window", "inference ms / window", "{:.3f}"), ("framework", "framework", "{}"),
)


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
        lines.append(f"| {name} | " + " | ".join(_cell(values.get(key), style) for key, _, style in columns) + " |")
    return "\n".join(lines)


def walk_forward_markdown(result: dict[str, Any]) -> str:
    models = list(result["summary"])
    lines = ["| fold | test period | windows | naive RMSE | " + " | ".join(f"{m} / naive" for m in models) + " |",
             "|---|---|---:|---:|" + "---:|" * len(models)]
    for row in result["folds"]:
        lines.append(f"| {row['fold']} | {row['test'][0]} .. {row['test'][1]} | {row['test_windows']} | "
                     f"{row['naive_rmse']:.4f} | " + " | ".join(f"{row[f'{m}_vs_naive']:.4f}" for m in models) + " |")
    summary = result["summary"]
    lines.append("| mean ± std | | | | " + " | ".join(f"{summary[m]['mean']:.4f} ± {summary[m]['std']:.4f}" for m in models) + " |")
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


def first_step(path: Path) -> pd.DataFrame:
    """The 1-day-ahead rows of a run's predictions.csv."""
    frame = pd.read_csv(path)
    return frame[frame["step"] == 1].reset_index(drop=True)


def plot_predictions(lstm: pd.DataFrame, transformer: pd.DataFrame, path: Path, title: str) -> Path:
    """Both models and naive over the test period, with the last 60 days zoomed."""
    from common.plotting import plot_forecasts

    dates = pd.to_datetime(lstm["date"]).to_numpy()
    forecasts = {"LSTM": lstm["predicted"].to_numpy(), "Transformer": transformer["predicted"].to_numpy(),
                 "naive": lstm["naive"].to_numpy()}
    return plot_forecasts(dates, lstm["actual"].to_numpy(), forecasts, path, title=title)


def plot_interpretability(lags: dict[str, np.ndarray], lookback: int, path: Path) -> Path:
    """interpretability.png: per lag day, the Transformer's attention (left, with its input × gradient
    saliency for reference) and the LSTM's input × gradient saliency (right), on the same axes."""
    from common.plotting import COLORS, plt, save_figure

    day = np.arange(-lookback + 1, 1)
    fig, (attention_ax, saliency_ax) = plt.subplots(1, 2, figsize=(13, 4.5), sharex=True, sharey=True)
    attention_ax.plot(day, lags["attention_cross"], marker=".", color=COLORS["Transformer"], label="cross-attention")
    attention_ax.plot(day, lags["attention_rollout"], ls="--", color=COLORS["Transformer"], alpha=0.6,
                      label="attention rollout through the encoder")
    attention_ax.plot(day, lags["transformer_saliency"], color="black", lw=0.9, alpha=0.7,
                      label="|input × gradient| (as for the LSTM)")
    attention_ax.set_title("Transformer: attention from the forecast onto each day")
    saliency_ax.bar(day, lags["lstm_saliency"], color=COLORS["LSTM"], alpha=0.8, label="|input × gradient|")
    saliency_ax.set_title("LSTM: share of input × gradient saliency per day")
    for axis in (attention_ax, saliency_ax):
        axis.axhline(1 / lookback, color="gray", ls=":", lw=0.8, label="uniform (1 / lookback)")
        axis.set_xlabel("day relative to the last known close (0)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    attention_ax.set_ylabel("share (sums to 1 over the window)")
    fig.suptitle("Which past days drive each model's forecast (all test windows)")
    fig.tight_layout()
    return save_figure(fig, path)
