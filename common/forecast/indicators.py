"""Technical indicators: pandas in, pandas out, same index, NaN during warm-up.

Every indicator is strictly causal: the value at row t depends only on rows <= t (moving windows
look back, recursions run forward). Each agrees with TA-Lib (SMA, EMA, RSI, MACD, BBANDS) once the
seeding has washed out; see tests/test_indicators.py.

Exponential averages are seeded the way TA-Lib seeds them: the first value is the simple mean of
the first `span` inputs, and the recursion runs from there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _check_series(values: pd.Series, window: int, name: str) -> pd.Series:
    if not isinstance(values, pd.Series):
        raise TypeError(f"{name} expects a pandas Series, got {type(values).__name__}")
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"{name}: the window must be a positive integer, got {window!r}")
    values = values.astype(float)
    valid = values.notna().to_numpy()
    if valid.any() and not valid[valid.argmax():].all():
        raise ValueError(f"{name}: the series has NaNs after its first value; drop or fill them first")
    return values


def _seeded_recursion(values: pd.Series, window: int, alpha: float) -> pd.Series:
    """y[first+window-1] = mean(x[first : first+window]); afterwards
    y[t] = y[t-1] + alpha * (x[t] - y[t-1])."""
    out = pd.Series(np.nan, index=values.index, dtype=float)
    first = values.first_valid_index()
    if first is None:
        return out
    start = values.index.get_loc(first)
    seed_at = start + window - 1
    if seed_at >= len(values):
        return out  # shorter than one window: all warm-up
    tail = values.iloc[seed_at:].copy()
    tail.iloc[0] = values.iloc[start : seed_at + 1].mean()
    out.iloc[seed_at:] = tail.ewm(alpha=alpha, adjust=False).mean().to_numpy()
    return out


def sma(close: pd.Series, window: int = 20) -> pd.Series:
    """Simple moving average of the last `window` closes."""
    close = _check_series(close, window, "sma")
    return close.rolling(window, min_periods=window).mean()


def ema(close: pd.Series, span: int = 20) -> pd.Series:
    """Exponential moving average with alpha = 2 / (span + 1), seeded with the first `span`-day SMA."""
    close = _check_series(close, span, "ema")
    return _seeded_recursion(close, span, alpha=2.0 / (span + 1))


def rsi(close: pd.Series, window: int = 14) -> pd.Series:
    """Relative Strength Index (0-100) with Wilder's smoothing (alpha = 1 / window).

    100 means only gains over the smoothing horizon, 0 only losses; a flat stretch gives 50.
    """
    close = _check_series(close, window, "rsi")
    change = close.diff()
    # Wilder seeds each average with the plain mean of the first `window` changes.
    average_gain = _seeded_recursion(change.clip(lower=0.0), window, alpha=1.0 / window)
    average_loss = _seeded_recursion((-change).clip(lower=0.0), window, alpha=1.0 / window)
    total = average_gain + average_loss
    value = 100.0 * average_gain / total.where(total > 0)
    return value.where(total > 0, 50.0).where(total.notna()).rename("rsi")


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD line (fast EMA - slow EMA), its signal line (EMA of MACD) and the histogram (difference)."""
    if fast >= slow:
        raise ValueError(f"macd: fast ({fast}) must be shorter than slow ({slow})")
    close = _check_series(close, slow, "macd")
    line = ema(close, fast) - ema(close, slow)
    signal_line = _seeded_recursion(line, signal, alpha=2.0 / (signal + 1))
    return pd.DataFrame({"macd": line, "signal": signal_line, "hist": line - signal_line}, index=close.index)


def bollinger(close: pd.Series, window: int = 20, num_std: float = 2.0) -> pd.DataFrame:
    """Bollinger Bands: SMA +- num_std population standard deviations (ddof=0, as TA-Lib)."""
    close = _check_series(close, window, "bollinger")
    middle = close.rolling(window, min_periods=window).mean()
    spread = num_std * close.rolling(window, min_periods=window).std(ddof=0)
    return pd.DataFrame({"middle": middle, "upper": middle + spread, "lower": middle - spread},
                        index=close.index)


def add_indicators(prices: pd.DataFrame) -> pd.DataFrame:
    """The price frame plus every indicator column the stages use (a copy; the input is untouched).

    Added: sma_20, ema_20, rsi_14, macd, macd_signal, macd_hist, bb_middle, bb_upper, bb_lower.
    """
    if "Close" not in prices.columns:
        raise ValueError("add_indicators needs a Close column; load prices with "
                         "common.forecast.prices.load_prices")
    out = prices.copy()
    close = out["Close"]
    out["sma_20"] = sma(close, 20)
    out["ema_20"] = ema(close, 20)
    out["rsi_14"] = rsi(close, 14)
    lines = macd(close)
    out["macd"], out["macd_signal"], out["macd_hist"] = lines["macd"], lines["signal"], lines["hist"]
    bands = bollinger(close)
    out["bb_middle"], out["bb_upper"], out["bb_lower"] = bands["middle"], bands["upper"], bands["lower"]
    return out
