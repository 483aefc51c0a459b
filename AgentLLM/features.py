"""What the agent sees at the close of each day: stationary features of the prices up to that day.

    observation_features   per day t, from rows <= t only: the last n log returns, RSI, MACD, distance
                           to two moving averages, Bollinger %B and realised volatility (n_days, n_features)
    warm_up_days           the first row at which every feature of a clean series is defined
    add_extra_channels     appends columns computed elsewhere (a forecast, text class probabilities)
    FeatureScaler          standardises with the training rows' mean and std, clips at +-5 std

Strictly causal: the feature row of day t is a function of the price rows <= t only. Moving windows look
back, recursions run forward, and nothing is centred, shifted backwards or filled from later rows, so
changing every row after t (or blanking it with NaN) leaves rows <= t unchanged; tests/test_agent_env.py
checks this by perturbation.

Only ratios and returns, never price levels: a level carries the era it was measured in (GOOG at 50 and
at 150 is the same situation), so a policy trained on levels would not transfer to later prices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from common.forecast.indicators import bollinger, macd, rsi, sma
from common.forecast.windows import TRADING_DAYS  # annualises: sigma_year = sigma_day * sqrt(252)

VOLATILITY_DAYS = 20  # one trading month of returns for the realised volatility
LONG_SMA_DAYS = 50  # the longest look-back, so it sets the warm-up
DEFAULT_CLIP = 5.0  # standard deviations; see FeatureScaler


def warm_up_days(n_returns: int = 10) -> int:
    """The first row at which every column of `observation_features` is defined for a series with no gaps.

    SMA(50) needs 50 closes (row 49); ret_{n-1} needs the close n days before (row n); the MACD signal
    line, RSI(14), Bollinger(20) and the 20-return volatility are all defined by row 33.
    """
    return max(LONG_SMA_DAYS - 1, n_returns, VOLATILITY_DAYS, 33)


def observation_features(prices: pd.DataFrame, n_returns: int = 10, macd_signal: bool = True) -> pd.DataFrame:
    """The feature frame of a price frame: same index, one row per day, NaN during the warm-up.

    Columns, all known at the close of their day:
        ret_0 ... ret_{n-1}   log(Close[t-k] / Close[t-k-1]): ret_0 is today's return, ret_1 yesterday's
        rsi                   RSI(14) / 100, in [0, 1]
        macd                  (EMA12 - EMA26) / Close: the trend, as a fraction of the price
        macd_signal           EMA9 of the MACD line / Close (left out with `macd_signal=False`)
        close_sma20           Close / SMA(20) - 1
        close_sma50           Close / SMA(50) - 1
        bollinger_b           %B = (Close - lower) / (upper - lower) for the 20-day, 2-std bands: 0 at the
                              lower band, 1 at the upper; 0.5 when the bands have no width (a flat window)
        volatility            sample std (ddof=1) of the last 20 log returns * sqrt(252)

    Rows at the end whose Close is NaN (days not yet known) get NaN features, so the frame may be blanked
    after any day; a NaN between two known closes is an error.
    """
    if "Close" not in prices.columns:
        raise ValueError("observation_features needs a Close column; load prices with "
                         "common.forecast.prices.load_prices")
    if not isinstance(n_returns, (int, np.integer)) or n_returns < 1:
        raise ValueError(f"n_returns must be a positive integer (how many past returns to show), "
                         f"got {n_returns!r}")
    close_all = prices["Close"].astype(float)
    known = np.flatnonzero(close_all.notna().to_numpy())
    if len(known) == 0:
        raise ValueError("observation_features: the Close column is all NaN")
    first, last = known[0], known[-1]
    if len(known) != last - first + 1:
        raise ValueError("observation_features: Close has NaN between known days; drop or fill those "
                         "rows first")
    close = close_all.iloc[: last + 1]  # trailing unknown days are left out, then come back as NaN rows
    if (close.iloc[first:] <= 0).any():
        raise ValueError("observation_features: Close must be positive (log returns); drop the bad rows")

    log_return = np.log(close).diff()
    columns = {f"ret_{lag}": log_return.shift(lag) for lag in range(n_returns)}  # shift(k) looks k days back
    columns["rsi"] = rsi(close, 14) / 100.0
    lines = macd(close, 12, 26, 9)
    columns["macd"] = lines["macd"] / close
    if macd_signal:
        columns["macd_signal"] = lines["signal"] / close
    columns["close_sma20"] = close / sma(close, 20) - 1.0
    columns["close_sma50"] = close / sma(close, LONG_SMA_DAYS) - 1.0
    bands = bollinger(close, 20, 2.0)
    width = bands["upper"] - bands["lower"]
    # A flat window has bands of zero width (or rounding dust): the close sits on the middle line.
    flat = width <= 1e-12 * bands["middle"]
    percent_b = (close - bands["lower"]) / width.where(~flat)
    columns["bollinger_b"] = percent_b.mask(flat, 0.5)
    columns["volatility"] = log_return.rolling(VOLATILITY_DAYS, min_periods=VOLATILITY_DAYS).std() * np.sqrt(
        TRADING_DAYS)

    known_part = pd.DataFrame(columns, index=close.index)
    out = pd.DataFrame(np.nan, index=prices.index, columns=known_part.columns)
    out.iloc[: last + 1] = known_part.to_numpy()
    return out


def _rows_of(frame: pd.DataFrame, rows: slice | np.ndarray | list[int] | None) -> pd.DataFrame:
    """Positional rows of a frame: a slice, integer positions or a boolean mask; None means every row."""
    return frame if rows is None else frame.iloc[rows]


def add_extra_channels(features: pd.DataFrame, extra_channels: pd.DataFrame,
                       rows: slice | np.ndarray | list[int] | None = None) -> pd.DataFrame:
    """The features with more columns appended: an out-of-sample forecast, text class probabilities ...

    Each extra value on day t must already be known at the close of day t (a forecast made with data up
    to t, headlines published before the close): this function cannot check that, it only aligns. It
    checks that both frames have the same index, that no column name repeats, and that the extra columns
    are numeric with no NaN in the positional `rows` the agent will use (None: the rows where every
    feature is defined).
    """
    if not isinstance(extra_channels, pd.DataFrame):
        raise TypeError(f"extra_channels must be a DataFrame on the features' index, got "
                        f"{type(extra_channels).__name__}")
    if not extra_channels.index.equals(features.index):
        raise ValueError("extra_channels must have exactly the features' index (same days, same order); "
                         "reindex it with extra_channels.reindex(features.index) first")
    repeated = sorted(set(features.columns) & set(extra_channels.columns))
    if repeated:
        raise ValueError(f"extra_channels repeats feature columns {repeated}; rename them")
    not_numeric = [name for name in extra_channels.columns
                   if not pd.api.types.is_numeric_dtype(extra_channels[name])]
    if not_numeric:
        raise ValueError(f"extra_channels columns {not_numeric} are not numeric; encode them as numbers")
    if rows is None:
        used = extra_channels[features.notna().all(axis=1)]
    else:
        used = _rows_of(extra_channels, rows)
    missing = [name for name in used.columns if not np.isfinite(used[name].to_numpy(dtype=float)).all()]
    if missing:
        raise ValueError(f"extra_channels columns {missing} have NaN or inf in the rows the agent uses; "
                         "fill them with values known at that day's close, or start later")
    return pd.concat([features, extra_channels.astype(float)], axis=1)


class FeatureScaler:
    """Per-column standardisation z = (x - mean) / std with the training rows' statistics, clipped at +-clip.

    Fitted on the training rows only, so validation and test days are scaled with numbers the agent could
    have known when it was trained. Clipping at 5 std: a crash day (returns of -10 std happen) would
    otherwise be an input far outside anything seen in training, saturating the network's units and
    swinging the policy on one number; clipped, it still reads as "extreme" in the right direction, and
    every observation stays in a bounded box.
    """

    def __init__(self, clip: float = DEFAULT_CLIP) -> None:
        if not clip > 0:
            raise ValueError(f"clip must be a positive number of standard deviations, got {clip!r}")
        self.clip = float(clip)
        self.columns: list[str] | None = None
        self.mean: np.ndarray | None = None  # (n_features,)
        self.std: np.ndarray | None = None  # (n_features,)

    def fit(self, frame: pd.DataFrame, rows: slice | np.ndarray | list[int]) -> FeatureScaler:
        """Learn mean and std (ddof=0) from the positional `rows` of `frame` (the training rows only)."""
        train = _rows_of(frame, rows).to_numpy(dtype=float)  # (n_train, n_features)
        if len(train) < 2:
            raise ValueError(f"FeatureScaler.fit needs at least 2 training rows, got {len(train)}")
        if not np.isfinite(train).all():
            bad = [name for name, ok in zip(frame.columns, np.isfinite(train).all(axis=0)) if not ok]
            raise ValueError(f"the training rows hold NaN or inf in {bad}: start them after the warm-up "
                             f"(warm_up_days) or drop those rows")
        self.columns = [str(name) for name in frame.columns]
        self.mean = train.mean(axis=0)
        std = train.std(axis=0)
        # A column constant over training carries no information: dividing by 1 keeps it at 0, not inf.
        self.std = np.where(std > 1e-12, std, 1.0)
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Scaled features as float32, (n_rows, n_features); NaN rows (warm-up) stay NaN."""
        if self.columns is None or self.mean is None or self.std is None:
            raise ValueError("FeatureScaler.transform before fit: call fit(frame, train_rows) first")
        columns = [str(name) for name in frame.columns]
        if columns != self.columns:
            raise ValueError(f"the frame's columns {columns} differ from the fitted ones {self.columns}; "
                             f"build the features with the same settings (and extra channels) as for fitting")
        scaled = (frame.to_numpy(dtype=float) - self.mean) / self.std
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)  # np.clip keeps NaN as NaN

    def to_dict(self) -> dict:
        """Plain lists and floats, for json.dump next to a checkpoint."""
        if self.columns is None or self.mean is None or self.std is None:
            raise ValueError("FeatureScaler.to_dict before fit: there is nothing to save yet")
        return {"columns": list(self.columns), "mean": self.mean.tolist(), "std": self.std.tolist(),
                "clip": self.clip}

    @classmethod
    def from_dict(cls, state: dict) -> FeatureScaler:
        """The scaler `to_dict` wrote."""
        missing = {"columns", "mean", "std", "clip"} - set(state)
        if missing:
            raise ValueError(f"a FeatureScaler state needs keys columns, mean, std, clip; "
                             f"missing {sorted(missing)}")
        if not len(state["columns"]) == len(state["mean"]) == len(state["std"]):
            raise ValueError("a FeatureScaler state has columns, mean and std of different lengths")
        scaler = cls(clip=state["clip"])
        scaler.columns = [str(name) for name in state["columns"]]
        scaler.mean = np.asarray(state["mean"], dtype=float)
        scaler.std = np.asarray(state["std"], dtype=float)
        return scaler
