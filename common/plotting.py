"""Plots written to files (Agg backend, `savefig`, atomically): nothing here opens a window."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: CI and ssh sessions have no display
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from common.runs import atomic_path  # noqa: E402

COLORS = {"actual": "black", "naive": "tab:gray", "LSTM": "tab:blue", "Transformer": "tab:orange"}


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Save a figure atomically at 120 dpi and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _date_axis(axis: plt.Axes) -> None:
    locator = mdates.AutoDateLocator()
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def plot_indicator_chart(frame: pd.DataFrame, path: str | Path, title: str = "GOOG") -> Path:
    """Close with SMA/EMA and Bollinger Bands, an RSI panel and a MACD panel, from `add_indicators`."""
    fig, (price_ax, rsi_ax, macd_ax) = plt.subplots(
        3, 1, figsize=(12, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1, 1.2]}
    )
    dates = frame.index
    price_ax.fill_between(dates, frame["bb_lower"], frame["bb_upper"], color="tab:blue", alpha=0.12, label="Bollinger Bands (20, 2σ)")
    price_ax.plot(dates, frame["Close"], color="black", lw=0.8, label="Close")
    price_ax.plot(dates, frame["sma_20"], color="tab:orange", lw=0.9, label="SMA 20")
    price_ax.plot(dates, frame["ema_20"], color="tab:green", lw=0.9, label="EMA 20")
    price_ax.set_ylabel("price ($)")
    price_ax.set_title(title)
    price_ax.legend(loc="upper left", fontsize=8)
    price_ax.grid(alpha=0.3)

    rsi_ax.plot(dates, frame["rsi_14"], color="tab:purple", lw=0.8)
    rsi_ax.axhspan(70, 100, color="tab:red", alpha=0.08)
    rsi_ax.axhspan(0, 30, color="tab:green", alpha=0.08)
    for level in (30, 70):
        rsi_ax.axhline(level, color="gray", lw=0.6, ls="--")
    rsi_ax.set_ylim(0, 100)
    rsi_ax.set_ylabel("RSI 14")
    rsi_ax.grid(alpha=0.3)

    colors = np.where(frame["macd_hist"] >= 0, "tab:green", "tab:red")
    macd_ax.bar(dates, frame["macd_hist"], color=colors, width=1.0, alpha=0.6, label="histogram")
    macd_ax.plot(dates, frame["macd"], color="tab:blue", lw=0.8, label="MACD (12, 26)")
    macd_ax.plot(dates, frame["macd_signal"], color="tab:orange", lw=0.8, label="signal (9)")
    macd_ax.axhline(0, color="gray", lw=0.6)
    macd_ax.set_ylabel("MACD")
    macd_ax.legend(loc="upper left", fontsize=8)
    macd_ax.grid(alpha=0.3)
    _date_axis(macd_ax)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_forecasts(
    dates: np.ndarray, actual: np.ndarray, forecasts: dict[str, np.ndarray], path: str | Path,
    title: str = "", zoom_days: int = 60,
) -> Path:
    """Actual vs each forecast over the whole period, and a zoom on the last `zoom_days` days
    (where a model that only copies yesterday's close shows up as a curve shifted by one day)."""
    fig, (full_ax, zoom_ax) = plt.subplots(2, 1, figsize=(12, 8), gridspec_kw={"height_ratios": [1.3, 1]})
    for axis, window in ((full_ax, slice(None)), (zoom_ax, slice(-zoom_days, None))):
        axis.plot(dates[window], actual[window], color="black", lw=1.4, label="actual")
        for name, values in forecasts.items():
            style = {"ls": "--", "lw": 1.0} if name == "naive" else {"lw": 1.1}
            axis.plot(dates[window], values[window], color=COLORS.get(name), label=name, **style)
        axis.set_ylabel("close ($)")
        axis.grid(alpha=0.3)
        _date_axis(axis)
    full_ax.set_title(title)
    full_ax.legend(loc="upper left", fontsize=9)
    zoom_ax.set_title(f"last {zoom_days} trading days")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_residuals(dates: np.ndarray, residuals: dict[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    """Residuals over time (left) and their distributions (right), one colour per forecast."""
    fig, (time_ax, hist_ax) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2.2, 1]})
    bins = np.histogram_bin_edges(np.concatenate(list(residuals.values())), bins=40)
    for name, values in residuals.items():
        color = COLORS.get(name)
        time_ax.plot(dates, values, lw=0.8, color=color, label=f"{name} (mean {np.mean(values):+.2f})")
        hist_ax.hist(values, bins=bins, alpha=0.5, color=color, label=name)
    time_ax.axhline(0, color="black", lw=0.6)
    time_ax.set_ylabel("actual - forecast ($)")
    time_ax.legend(fontsize=8)
    time_ax.grid(alpha=0.3)
    _date_axis(time_ax)
    hist_ax.set_xlabel("residual ($)")
    hist_ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_history(history: dict[str, list[float]], path: str | Path, title: str = "", x_label: str = "epoch") -> Path:
    """Training curves: every key holding 'loss' on a log scale (train solid, validation dashed)."""
    fig, axis = plt.subplots(figsize=(8, 4.5))
    for name, values in history.items():
        if "loss" not in name:
            continue
        steps = np.arange(1, len(values) + 1)
        axis.plot(steps, values, ls="--" if name.startswith("val") else "-", marker=".", label=name)
    axis.set_yscale("log")
    axis.set_xlabel(x_label)
    axis.set_ylabel("loss (scaled units)")
    axis.set_title(title)
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    fig.tight_layout()
    return save_figure(fig, path)
