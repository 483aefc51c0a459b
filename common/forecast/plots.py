"""The forecasting family's plots: indicators, forecasts against the actual price, training history,
cumulative gain over naive, lag profiles, volatility forecasts and reliability diagrams.

Built with matplotlib's object API and saved atomically by `common.figures.save_figure`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from common.figures import COLORS, save_figure


def _date_axis(axis: Axes) -> None:
    locator = mdates.AutoDateLocator()
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def plot_indicator_chart(frame: pd.DataFrame, path: str | Path, title: str = "GOOG") -> Path:
    """Close with SMA/EMA and Bollinger Bands, an RSI panel and a MACD panel, from `add_indicators`."""
    fig = Figure(figsize=(12, 8))
    price_ax, rsi_ax, macd_ax = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1, 1.2]})
    dates = frame.index
    price_ax.fill_between(dates, frame["bb_lower"], frame["bb_upper"], color="tab:blue", alpha=0.12,
                          label="Bollinger Bands (20, 2σ)")
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
    fig = Figure(figsize=(12, 8))
    full_ax, zoom_ax = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1.3, 1]})
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


def plot_history(
    history: dict[str, list[float]], path: str | Path, title: str = "", x_label: str = "epoch"
) -> Path:
    """Training curves: every key holding 'loss' on a log scale (train solid, validation dashed)."""
    fig = Figure(figsize=(8, 4.5))
    axis = fig.subplots()
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


FORECAST_STYLES = {  # name in predictions.csv -> (label suffix, colour, line style)
    "naive": ("naive", "tab:gray", "--"), "drift": ("drift", "tab:brown", ":"),
    "ar": ("AR(p)", "tab:green", "-"), "moving_average": ("moving average", "tab:olive", "-"),
    "linear": ("ridge", "tab:purple", "-"),
}


def _styles(model_label: str) -> dict[str, tuple[str, str, str]]:
    color = COLORS.get(model_label, "tab:red")
    return {"as_trained": (f"{model_label} as trained", color, "-"), **FORECAST_STYLES}


def plot_run_forecasts(frame: pd.DataFrame, model_label: str, kept: bool, out: Path, title: str) -> None:
    """The three test-period plots of a run, from its predictions.csv frame (1-day-ahead rows):

    - predictions.png: prices with the as-trained network beside naive (a 0.3 % difference hides in
      a price chart, so the next plot is the one to read);
    - cumulative_error.png: for every forecast, Σ (naive error² − forecast error²) over time: a line
      above zero has beaten naive so far; a steady climb is skill, a jump is one lucky day;
    - returns_scatter.png: predicted vs actual next-day return: skill is a cloud tilted along y = x.
    """
    first = frame[frame["step"] == 1]
    dates = pd.to_datetime(first["date"]).to_numpy()
    actual = first["actual"].to_numpy()
    guarded_note = ("guard kept the network" if kept
                    else "guard fell back to naive: the deployed forecast IS naive")
    styles = _styles(model_label)

    plot_forecasts(dates, actual, {f"{model_label} (as trained)": first["as_trained"].to_numpy(),
                                   "naive": first["naive"].to_numpy()},
                   out / "predictions.png", title=f"{title}: test period, 1 day ahead ({guarded_note})")

    lines = {label: (first[name].to_numpy(), color, style, 1.8 if name == "as_trained" else 1.0)
             for name, (label, color, style) in styles.items() if name != "naive" and name in first}
    plot_cumulative_gain(dates, actual, first["naive"].to_numpy(), lines, out / "cumulative_error.png",
                         title=f"{title}: above 0 = beating naive so far ({guarded_note})",
                         off_scale=(styles["moving_average"][0],))

    anchor = first["anchor_close"].to_numpy()
    true_return = 100 * np.log(actual / anchor)
    fig = Figure(figsize=(14, 4.5))
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    for axis, name in zip(axes, ("as_trained", "ar", "linear")):
        label, color, _ = styles[name]
        predicted = 100 * np.log(first[name].to_numpy() / anchor)
        axis.scatter(predicted, true_return, s=6, alpha=0.5, color=color)
        correlation = np.corrcoef(predicted, true_return)[0, 1] if np.std(predicted) > 0 else float("nan")
        axis.set_title(f"{label}: corr {correlation:.2f}")
        axis.axhline(0, color="gray", lw=0.5)
        axis.axvline(0, color="gray", lw=0.5)
        axis.set_xlabel("predicted return (%)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("actual return (%)")
    fig.suptitle(f"{title}: predicted vs actual next-day return, test period")
    fig.tight_layout()
    save_figure(fig, out / "returns_scatter.png")


def plot_cumulative_gain(
    dates: np.ndarray, actual: np.ndarray, naive: np.ndarray,
    lines: dict[str, tuple[np.ndarray, str, str, float]], path: str | Path, title: str,
    off_scale: tuple[str, ...] = (),
) -> Path:
    """Σ (naive error² − forecast error²) over time for each forecast, as a share of naive's total
    squared error (so the last point is 1 − (RMSE / naive RMSE)²). `lines` maps a label to
    (forecast, colour, line style, width); labels in `off_scale` (e.g. a moving average far below the
    rest) are drawn but do not set the y-range, and their end value is written in the legend."""
    fig = Figure(figsize=(12, 5))
    axis = fig.subplots()
    naive_error = (actual - naive) ** 2
    total = max(float(naive_error.sum()), 1e-300)
    shown = []
    for label, (values, color, style, width) in lines.items():
        gain = np.cumsum(naive_error - (actual - values) ** 2) / total
        if label in off_scale:
            label += f" (ends at {gain[-1]:+.2f})"
        else:
            shown.append(gain)
        axis.plot(dates, gain, color=color, ls=style, lw=width, label=label)
    low, high = min([0.0, *(g.min() for g in shown)]), max([0.0, *(g.max() for g in shown)])
    margin = 0.1 * (high - low) or 0.01
    axis.set_ylim(low - margin, high + margin)
    axis.axhline(0, color="black", lw=0.8)
    axis.set_ylabel("cumulative gain over naive\n(share of naive's total squared error)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    _date_axis(axis)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_lag_profiles(
    profiles: dict[str, np.ndarray], path: str | Path, title: str, note: str = "", true_lag: int | None = None
) -> Path:
    """Per day of the window (0 = last known close), where each as-trained network looks: one line
    per profile (shares summing to 1). `true_lag` marks where a planted signal sits."""
    fig = Figure(figsize=(11, 4.5))
    axis = fig.subplots()
    for name, values in profiles.items():
        values = np.asarray(values, dtype=np.float64)
        day = np.arange(-len(values) + 1, 1)
        axis.plot(day, values, marker=".", lw=1.2, label=name)
    lookback = len(next(iter(profiles.values())))
    axis.axhline(1 / lookback, color="gray", ls=":", lw=0.8, label="uniform (1 / lookback)")
    if true_lag is not None:
        # r_{t+1} depends on r_{t+1-k}: the day k-1 before the last known close
        axis.axvline(-(true_lag - 1), color="tab:red", ls="--", lw=0.8, label=f"planted lag {true_lag}")
    axis.set_xlabel("day in the window (0 = last known close)")
    axis.set_ylabel("share over the window")
    axis.set_title(title + (f"\n{note}" if note else ""))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_volatility_forecasts(
    dates: np.ndarray, actual: np.ndarray, forecasts: dict[str, np.ndarray], path: str | Path, title: str,
    reference: str = "har",
) -> Path:
    """Realised volatility of each next week against every forecast (top), and each forecast's
    cumulative gain in squared error over `reference` (bottom: above 0 = ahead of HAR-RV so far)."""
    fig = Figure(figsize=(12, 7.5))
    level_ax, gain_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    level_ax.plot(dates, 100 * actual, color="black", lw=1.2, label="realised")
    reference_error = (actual - forecasts[reference]) ** 2
    total = max(float(reference_error.sum()), 1e-300)
    for name, values in forecasts.items():
        level_ax.plot(dates, 100 * values, lw=1.0, label=name, ls="--" if name == "last" else "-")
        if name != reference:
            gain = np.cumsum(reference_error - (actual - values) ** 2) / total
            gain_ax.plot(dates, gain, lw=1.0, label=name)
    level_ax.set_ylabel("annualised volatility (%)")
    level_ax.set_title(title)
    level_ax.legend(fontsize=8, loc="upper left")
    level_ax.grid(alpha=0.3)
    gain_ax.axhline(0, color="black", lw=0.8)
    gain_ax.set_ylabel(f"cumulative gain over {reference}\n(share of its squared error)")
    gain_ax.legend(fontsize=8, loc="upper left")
    gain_ax.grid(alpha=0.3)
    _date_axis(gain_ax)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_reliability(
    actual: np.ndarray, probabilities: dict[str, np.ndarray], path: str | Path, title: str, bins: int = 10
) -> Path:
    """A reliability diagram: windows grouped into `bins` equally full bins of each forecast's P(up);
    the share of up days in a bin against its mean forecast (on the diagonal = calibrated; a point per
    bin, so a constant forecast is one point). Below: how the forecasts spread."""
    fig = Figure(figsize=(7, 8))
    curve_ax, spread_ax = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1.3]})
    actual = np.asarray(actual, dtype=np.float64)
    everything = np.concatenate([np.asarray(p, dtype=np.float64) for p in probabilities.values()])
    low, high = min(everything.min(), actual.mean()) - 0.05, max(everything.max(), actual.mean()) + 0.05
    low, high = max(low, 0.0), min(high, 1.0)
    curve_ax.plot([low, high], [low, high], color="gray", ls=":", lw=1, label="calibrated")
    curve_ax.axhline(actual.mean(), color="black", lw=0.6, ls="--",
                     label=f"test up share {actual.mean():.3f}")
    for name, values in probabilities.items():
        values = np.asarray(values, dtype=np.float64)
        groups = np.array_split(np.argsort(values, kind="stable"), min(bins, len(np.unique(values))))
        mean_forecast = [values[group].mean() for group in groups]
        observed = [actual[group].mean() for group in groups]
        curve_ax.plot(mean_forecast, observed, marker="o", lw=1.0, label=name)
        spread_ax.hist(values, bins=40, range=(low, high), alpha=0.5, label=name)
    curve_ax.set_xlim(low, high)
    curve_ax.set_xlabel("mean forecast P(up) in the bin")
    curve_ax.set_ylabel("share of up days in the bin")
    curve_ax.set_title(title)
    curve_ax.grid(alpha=0.3)
    curve_ax.legend(fontsize=8)
    spread_ax.set_xlabel("forecast P(up)")
    spread_ax.set_ylabel("windows")
    spread_ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
