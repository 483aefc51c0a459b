"""Synthetic price series with a planted, known signal: the yardstick for "did the network learn?".

Real prices are close to a random walk, so a forecaster that learns nothing and one that cannot learn
look the same on them. Here the daily log return follows a lag-k autoregression,

    r_t = phi * r_{t-lag} + e_t,        e_t ~ N(0, noise²),

so the best possible one-day-ahead forecast made at the close of day t is known exactly:
E[r_{t+1} | past] = phi * r_{t+1-lag}. Its error is the pure noise e_{t+1}, while the naive forecast
("tomorrow = today", r = 0) also pays for the predictable part. With phi = 0.5 the oracle's RMSE is
sqrt(1 - phi²) ≈ 0.87 of the naive one: a 13% improvement that any model which really reads the
window at lag `lag` can approach, and which no model can beat. `lag` sets how far back the network
has to look: lag = 1 is yesterday, lag = 50 needs a memory of most of a 60-day window.

Everything else in the frame (Open, High, Low, Volume) is plausible filler so that the usual
technical indicators can be computed; it carries no information about future returns, except for
the optional "markers" below.

Markers (off by default, `marker_prob = 0`): each day is a marker day with probability
`marker_prob`; its Volume is multiplied by `MARKER_VOLUME_FACTOR` and the return `lag` days later gets
an extra jump of `MARKER_JUMP_IN_NOISE` · noise. A model then has to notice a volume spike and
remember it for `lag` days. `marker_return_series` also returns which days are markers, and
`oracle_log_returns` given them (and the noise) is the exact oracle of such a series.

Yardsticks shared by the benchmarks: `oracle_forecast` puts the oracle on a forecasting split's
windows, and `skill_captured` says how much of the oracle's edge over naive a forecast gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from common.forecast.windows import ForecastData

START_PRICE = 100.0
# Intraday range: High/Low sit this fraction (half-normal scale) beyond max/min(Open, Close).
RANGE_SCALE = 0.005
VOLUME_MEDIAN = 1_000_000.0
VOLUME_SIGMA = 0.3  # lognormal spread of the daily volume
MARKER_VOLUME_FACTOR = 8.0
MARKER_JUMP_IN_NOISE = 3.0


def _burn_in(lag: int, phi: float) -> int:
    """Days simulated and thrown away so the start-up transient (r = 0 before day 0) has died out.

    The memory of the recursion decays as |phi|^(t / lag): 20 "half-lives" worth of steps leaves
    a factor below |phi|^20 (about 1e-6 at phi = 0.5).
    """
    return 20 * lag + 100 if abs(phi) > 0 else 0


def lag_return_series(
    n_days: int = 2500,
    lag: int = 1,
    phi: float = 0.5,
    noise: float = 0.01,
    seed: int = 0,
    start: str = "2010-01-04",
    marker_prob: float = 0.0,
) -> pd.DataFrame:
    """Daily OHLCV prices whose log close-to-close return is r_t = phi * r_{t-lag} + e_t, e_t ~ N(0, noise²).

    Returns a frame like `common.forecast.prices.load_prices`: a DatetimeIndex named "Date" of
    `n_days` business days from `start`, columns Open, High, Low, Close, Volume, all positive and
    finite. The burn-in is
    discarded, so the returns are stationary from the first row. Open is the previous close, High and
    Low bracket Open and Close with a small random range, Volume is lognormal. Deterministic in `seed`.
    """
    return marker_return_series(n_days, lag, phi, noise, seed, start, marker_prob)[0]


def marker_return_series(
    n_days: int = 2500,
    lag: int = 20,
    phi: float = 0.0,
    noise: float = 0.01,
    seed: int = 0,
    start: str = "2010-01-04",
    marker_prob: float = 0.05,
) -> tuple[pd.DataFrame, np.ndarray]:
    """(prices, markers): `lag_return_series` with the same arguments (the very same frame), and
    (n_days,) bool, True on the marker days. A marker day's Volume is `MARKER_VOLUME_FACTOR` times its
    usual value and the log return `lag` rows later gets MARKER_JUMP_IN_NOISE · noise added. With
    phi = 0 the markers are the only signal: a forecaster must spot a rare volume spike exactly `lag`
    days back, which no average over the window shows.
    """
    if n_days < 2:
        raise ValueError(f"n_days must be at least 2, got {n_days}")
    if lag < 1:
        raise ValueError(f"lag must be at least 1 day, got {lag}")
    if not abs(phi) < 1:
        raise ValueError(f"|phi| must be below 1 for a stationary series, got {phi}")
    if noise <= 0:
        raise ValueError(f"noise must be positive, got {noise}")
    if not 0.0 <= marker_prob <= 1.0:
        raise ValueError(f"marker_prob is a probability in [0, 1], got {marker_prob}")
    rng = np.random.default_rng(seed)
    burn = _burn_in(lag, phi)
    total = burn + n_days + 1  # one extra day in front: the first row's Open is its previous close
    shocks = rng.normal(0.0, noise, total)
    markers = rng.random(total) < marker_prob if marker_prob > 0 else np.zeros(total, dtype=bool)
    returns = np.zeros(total)
    for t in range(total):  # a plain loop: the recursion reaches `lag` days back
        past = returns[t - lag] if t >= lag else 0.0
        jump = MARKER_JUMP_IN_NOISE * noise if t >= lag and markers[t - lag] else 0.0
        returns[t] = phi * past + jump + shocks[t]
    returns, markers = returns[burn:], markers[burn:]  # (n_days + 1,)

    close_all = START_PRICE * np.exp(np.cumsum(returns) - returns[0])  # day -1 closes at START_PRICE
    close, open_ = close_all[1:], close_all[:-1]
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, RANGE_SCALE, n_days)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, RANGE_SCALE, n_days)))
    volume = VOLUME_MEDIAN * np.exp(rng.normal(0.0, VOLUME_SIGMA, n_days))
    volume = np.where(markers[1:], volume * MARKER_VOLUME_FACTOR, volume).round()

    dates = pd.bdate_range(start=start, periods=n_days, name="Date")
    frame = pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume},
                         index=dates)
    return frame, markers[1:].copy()  # markers[1:]: the frame's rows (markers[0] is day -1)


def oracle_log_returns(
    prices: pd.DataFrame, lag: int, phi: float, markers: np.ndarray | None = None, noise: float | None = None
) -> np.ndarray:
    """(rows,) for each day t the best forecast of r_{t+1} made at the close of day t: phi * r_{t+1-lag},
    plus MARKER_JUMP_IN_NOISE · noise when day t+1-lag is a marker day (`markers`, (rows,) bool, from
    `marker_return_series`; `noise` is then required).

    Aligned with `prices`' rows; NaN where r_{t+1-lag} is not in the frame (the first `lag` rows).
    Turn it into a price forecast with close_t * exp(oracle_t).
    """
    if lag < 1:
        raise ValueError(f"lag must be at least 1 day, got {lag}")
    if markers is not None and (noise is None or len(markers) != len(prices)):
        raise ValueError("markers need the series' noise and one flag per row of prices "
                         f"(got noise={noise}, {len(markers)} flags for {len(prices)} rows)")
    log_close = np.log(prices["Close"].to_numpy(dtype=np.float64))
    returns = np.full(len(log_close), np.nan)
    returns[1:] = np.diff(log_close)  # returns[t] = r_t
    oracle = np.full(len(log_close), np.nan)
    # oracle[t] = phi * returns[t + 1 - lag]: shift `returns` forward by lag - 1 rows.
    shift = lag - 1
    oracle[shift:] = phi * returns[: len(returns) - shift]
    if markers is not None:
        flags = np.asarray(markers[: len(returns) - shift], dtype=np.float64)
        oracle[shift:] += MARKER_JUMP_IN_NOISE * noise * flags
    return oracle


def oracle_forecast(data: ForecastData, prices: pd.DataFrame, oracle: np.ndarray, split: str) -> np.ndarray:
    """(windows,) the oracle's next-close forecasts on `split`'s windows of `data` (built from `prices`
    with horizon 1): close_t · exp(oracle_t), `oracle` aligned with `prices`' rows."""
    rows = prices.index.get_indexer(data.dates[data.splits[split].anchors])
    return data.anchor_close(split) * np.exp(oracle[rows])


def skill_captured(rmse_ratio: float, oracle_ratio: float) -> float:
    """(1 - RMSE / naive RMSE) / (1 - oracle RMSE / naive RMSE): 1 = everything the oracle gets over
    naive, 0 = naive, negative = worse than naive. NaN when the oracle has no edge to capture."""
    return (1 - rmse_ratio) / (1 - oracle_ratio) if oracle_ratio < 1 else float("nan")
