"""From prices to leak-free training windows, shared by MemoryLLM (Keras) and CodeLLM (PyTorch),
so both stages see identical windows and identical test targets.

The recipe, and why:
1. Features are *stationary* transforms of causal indicators (log returns, price relative to its
   moving averages, RSI, MACD / price, Bollinger %B and width, volume relative to its average).
   Raw prices are not stationary: GOOG's test period trades above most of the training range, so
   a model fed raw scaled prices is asked to extrapolate.
2. The target is the log return from the last known close to each of the next `horizon` closes:
   y[t, h-1] = log(close[t+h] / close[t]). A prediction becomes a price as close[t] * exp(y), and
   every metric is computed on prices. "No change" (y = 0) is exactly the naive forecast.
   Two other targets (`target=`) ask what daily prices *can* tell: "volatility", the realised
   volatility of the next `volatility_days` (5) days, sqrt(252 / 5 · Σ_{j=1..5} r[t+j]²) with r the
   daily log returns (annualised: 0.25 = 25 % a year); and "direction", 1 if close[t+1] > close[t]
   else 0 (a flat day counts as down), which a network forecasts as a logit.
3. Rows are split chronologically into train / validation / test. Every target of a window lies in
   one split, and every day of a split after the first training window is a target: a validation or
   test window may read its *inputs* from days before the border (the past is known at forecast
   time), but no target crosses a border. Two more sets of windows serve the choices: "select"
   (early stopping, the best epoch, baseline settings) and "guard" (the test of "better than naive?",
   on windows nothing was chosen on). By default (`select_on="validation-half"`) they are the
   validation windows halved in time order. With `select_on="train-tail"` the last TRAIN_TAIL_SHARE
   of the training windows become "select" (no longer trained on) and the guard gets all of
   validation: twice the evidence for its test, for 15 % fewer windows to learn from. A window's
   target reads `reach` days (the horizon, or the volatility target's days), so the reach - 1
   windows between two such sets are dropped: like two splits, they share no target day.
4. Feature and target scalers are fitted on the training split only, then applied everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from common.forecast.indicators import add_indicators

SPLITS = ("train", "validation", "test")
TARGETS = ("price", "volatility", "direction")  # what a window forecasts (see the module docstring)
TRADING_DAYS = 252  # annualises a daily variance
# Volatility forecasts are floored at this share of the training mean: a forecast of zero volatility
# would make QLIKE infinite, and no trading week is 20 times calmer than the average one.
MIN_VOLATILITY_SHARE = 0.05
VALIDATION_HALVES = ("select", "guard")  # the two halves of "validation", in time order
SELECT_ON = ("validation-half", "train-tail")  # where "select" comes from (the module docstring, 3.)
TRAIN_TAIL_SHARE = 0.15  # train-tail: the share of training windows that choose the epoch instead
MIN_VALIDATION_WINDOWS = 20  # 10 per half: the least that a significance test can say anything from
# (besides the reach - 1 windows dropped between the halves)
# Rows lost before every feature is defined: MACD's signal line needs 26 + 9 - 1 closes.
WARMUP_ROWS = 33


def make_features(prices: pd.DataFrame) -> pd.DataFrame:
    """Causal, roughly stationary features per day (NaN during the indicators' warm-up)."""
    ind = add_indicators(prices)
    close = ind["Close"]
    band_width = ind["bb_upper"] - ind["bb_lower"]
    features = pd.DataFrame(index=prices.index)
    features["log_return"] = np.log(close).diff()
    features["close_vs_sma20"] = close / ind["sma_20"] - 1.0
    features["close_vs_ema20"] = close / ind["ema_20"] - 1.0
    features["rsi_14"] = ind["rsi_14"] / 100.0 - 0.5
    features["macd"] = ind["macd"] / close
    features["macd_signal"] = ind["macd_signal"] / close
    features["macd_hist"] = ind["macd_hist"] / close
    # %B: where the close sits in its band (0 = lower, 1 = upper); a flat band is the middle.
    features["bb_percent_b"] = ((close - ind["bb_lower"]) / band_width.where(band_width > 0)).fillna(0.5)
    features["bb_percent_b"] = features["bb_percent_b"].where(ind["bb_middle"].notna())
    features["bb_width"] = band_width / ind["bb_middle"]
    features["high_low_range"] = (ind["High"] - ind["Low"]) / close
    volume = ind["Volume"]
    if (volume > 0).any():  # a CSV without volume has Volume = 0 everywhere: leave the feature out
        features["volume_ratio"] = np.log((volume + 1.0) / (volume.rolling(20, min_periods=20).mean() + 1.0))
    return features


@dataclass
class Standardizer:
    """Per-column (x - mean) / std, fitted on training rows only; saved as JSON with a run."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardizer:
        """Fit on a (rows, columns) array or (windows, steps, columns): statistics per last axis."""
        flat = np.asarray(values, dtype=np.float64).reshape(-1, np.shape(values)[-1])
        std = flat.std(axis=0)
        return cls(mean=flat.mean(axis=0), std=np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.std + self.mean

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, payload: dict) -> Standardizer:
        return cls(mean=np.asarray(payload["mean"], dtype=np.float64),
                   std=np.asarray(payload["std"], dtype=np.float64))


def chronological_borders(
    n_rows: int, train_fraction: float = 0.70, validation_fraction: float = 0.15
) -> dict:
    """Row ranges {split: (start, stop)} in time order; the test split gets what is left."""
    if not (0 < train_fraction < 1 and 0 < validation_fraction < 1
            and train_fraction + validation_fraction < 1):
        raise ValueError(
            f"split fractions must be positive and leave room for a test split, got train={train_fraction}, "
            f"validation={validation_fraction}"
        )
    train_stop = int(round(n_rows * train_fraction))
    validation_stop = int(round(n_rows * (train_fraction + validation_fraction)))
    return {"train": (0, train_stop), "validation": (train_stop, validation_stop),
            "test": (validation_stop, n_rows)}


def walk_forward_borders(
    n_rows: int, folds: int = 3, validation_fraction: float = 0.15, initial_train_fraction: float = 0.40
) -> list[dict]:
    """Expanding-window folds: fold k tests on the k-th of `folds` consecutive blocks after the first
    `initial_train_fraction + validation_fraction` of the rows; its validation block (a fixed size)
    sits just before its test block and its training rows are everything earlier.
    """
    if folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    validation_rows = int(round(n_rows * validation_fraction))
    first_test = int(round(n_rows * (initial_train_fraction + validation_fraction)))
    edges = np.linspace(first_test, n_rows, folds + 1).round().astype(int)
    return [
        {"train": (0, start - validation_rows), "validation": (start - validation_rows, start),
         "test": (start, stop)}
        for start, stop in zip(edges[:-1], edges[1:])
    ]


@dataclass
class Windows:
    """The windows of one split: inputs, targets and the row of each window's last known day."""

    inputs: np.ndarray  # (windows, lookback, features), scaled, float32
    targets: np.ndarray  # (windows, horizon), scaled log returns (or (windows, 1) scaled vol / 0-1), float32
    anchors: np.ndarray  # (windows,) row index t of the last input day


@dataclass
class ForecastData:
    """Everything a forecasting stage needs, built once by `prepare_forecast_data`."""

    dates: pd.DatetimeIndex  # (rows,) usable days, after the indicator warm-up
    close: np.ndarray  # (rows,) closing prices
    feature_names: list[str]
    lookback: int
    horizon: int
    borders: dict  # split -> (start_row, stop_row)
    feature_scaler: Standardizer
    target_scaler: Standardizer
    splits: dict = field(default_factory=dict)  # split (and validation half) -> Windows
    target: str = "price"  # one of TARGETS; a non-price target has horizon 1 (one output per window)
    target_days: int = 0  # days after the anchor that the target reads: horizon, volatility_days or 1
    select_on: str = "validation-half"  # where "select" comes from (SELECT_ON), and so what "guard" holds

    def guard_windows(self) -> str:
        """Where the guard tests, in words (its rule in metrics.json says it)."""
        return ("the whole validation split" if self.select_on == "train-tail"
                else "the validation split's second half")

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def flat_inputs(self, split: str) -> np.ndarray:
        """(windows, lookback * features): each window as one row, for the linear baselines."""
        inputs = self.splits[split].inputs
        return inputs.reshape(len(inputs), -1)

    def anchor_close(self, split: str) -> np.ndarray:
        """(windows,) the last known close of each window: the naive forecast for every step."""
        return self.close[self.splits[split].anchors]

    def actual_prices(self, split: str) -> np.ndarray:
        """(windows, horizon) the true closes 1..horizon days after each window."""
        anchors = self.splits[split].anchors
        return self.close[anchors[:, None] + np.arange(1, self.horizon + 1)]

    def target_dates(self, split: str) -> np.ndarray:
        """(windows, horizon) the dates of the targets."""
        anchors = self.splits[split].anchors
        return self.dates.to_numpy()[anchors[:, None] + np.arange(1, self.horizon + 1)]

    def scaled_zero_return(self) -> np.ndarray:
        """(horizon,) the scaled target of a zero log return: a model that outputs it IS the naive
        forecast."""
        return self.target_scaler.transform(np.zeros((1, self.horizon)))[0]

    def neutral_output(self) -> np.ndarray:
        """(horizon,) where a network's output layer starts: the no-skill forecast of the target.
        price: a zero return (naive); volatility: the training mean (scaled: 0); direction: the logit of
        the training share of up days (the base rate)."""
        if self.target == "price":
            return self.scaled_zero_return()
        if self.target == "volatility":
            return np.zeros(1)
        up_share = float(np.clip(np.mean(self.splits["train"].targets), 1e-3, 1 - 1e-3))
        return np.array([np.log(up_share / (1 - up_share))])

    def actual_targets(self, split: str) -> np.ndarray:
        """(windows,) a non-price target's true values, in float64 from the closes (the windows hold them
        scaled, in float32): annualised realised volatility, or 0 / 1."""
        anchors = self.splits[split].anchors
        return target_values(np.log(self.close), anchors, self.target, self.target_days)[:, 0]

    def volatility_floor(self) -> float:
        """The least volatility any forecast may say: MIN_VOLATILITY_SHARE of the training mean."""
        return MIN_VOLATILITY_SHARE * float(self.target_scaler.mean[0])

    def to_target(self, outputs: np.ndarray) -> np.ndarray:
        """(windows,) a network's raw outputs as forecasts of a non-price target: the volatility
        (unscaled, floored by `volatility_floor`) or the probability of an up day (sigmoid of a logit)."""
        outputs = np.asarray(outputs, dtype=np.float64).reshape(-1, 1)
        if self.target == "volatility":
            return np.maximum(self.target_scaler.inverse(outputs)[:, 0], self.volatility_floor())
        if self.target == "direction":
            return 1.0 / (1.0 + np.exp(-outputs[:, 0]))
        raise ValueError(f"to_target is for the volatility and direction targets, not {self.target!r}")

    def to_prices(self, split: str, scaled_returns: np.ndarray) -> np.ndarray:
        """Turn a model's (windows, horizon) scaled log-return output into prices."""
        scaled_returns = np.asarray(scaled_returns, dtype=np.float64).reshape(-1, self.horizon)
        log_returns = self.target_scaler.inverse(scaled_returns)
        return self.anchor_close(split)[:, None] * np.exp(log_returns)

    def split_dates(self) -> dict:
        """{split: [first date, last date]} of the rows in each split."""
        return {
            name: [str(self.dates[start].date()), str(self.dates[stop - 1].date())]
            for name, (start, stop) in self.borders.items()
        }

    def scored(self, split: str = "test") -> dict:
        """{"first", "last", "windows"}: the target dates actually scored in `split` (first step; for
        the volatility target, from the first day of the first window's week to the last day of the last)."""
        dates = self.target_dates(split)[:, 0]
        if self.target == "volatility":
            last = self.dates[self.splits[split].anchors[-1] + self.target_days]
            return {"first": str(pd.Timestamp(dates[0]).date()), "last": str(last.date()),
                    "windows": int(len(dates))}
        return {"first": str(pd.Timestamp(dates[0]).date()), "last": str(pd.Timestamp(dates[-1]).date()),
                "windows": int(len(dates))}


MAX_DAILY_MOVE = np.log(1000.0)  # a thousandfold move in one day is a data error, not a market


def check_prices(prices: pd.DataFrame, features: pd.DataFrame) -> None:
    """Refuse prices that float64 indicators cannot handle, or that jump a thousandfold in a day."""
    close = prices["Close"].to_numpy(dtype=np.float64)
    with np.errstate(all="ignore"):
        moves = np.abs(np.diff(np.log(close)))
    if np.any(moves > MAX_DAILY_MOVE):
        day = int(np.argmax(moves > MAX_DAILY_MOVE)) + 1
        raise ValueError(
            f"the close jumps from {close[day - 1]:.6g} to {close[day]:.6g} on {prices.index[day].date()}, "
            "a move of more than 1000x in one day: fix that row of the CSV (a typo or a missing split "
            "adjustment?)"
        )
    with np.errstate(all="ignore"):
        infinite = np.isinf(features.to_numpy(dtype=np.float64))
    if infinite.any() or (len(features) > WARMUP_ROWS and not features.notna().all(axis=1).any()):
        raise ValueError(
            f"the indicators overflow float64 on these prices (largest close {np.nanmax(close):.3g}): "
            "rescale the prices (e.g. divide every price column by 1e6) and try again"
        )


def check_degenerate(values: np.ndarray, log_close: np.ndarray, features: pd.DataFrame, train: tuple) -> None:
    """Fail before any training when the series cannot be forecast meaningfully: features that
    overflow (prices near 1e308), or training closes that never move (a constant series)."""
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"feature {features.columns[column]!r} is not finite on {features.index[row].date()}: the prices "
            "are too large or too small for float64 arithmetic (check the CSV's units; rescale them, e.g. "
            "divide by 1e6)"
        )
    moves = np.abs(np.diff(log_close[train[0]:train[1]]))
    if not (moves > 1e-12).any():
        raise ValueError("the training prices never change (a constant series): there is nothing to "
                         "forecast; check the Close column")


def window_anchors(start: int, stop: int, lookback: int, horizon: int) -> np.ndarray:
    """Rows t whose targets t+1..t+horizon all lie in [start, stop) and whose inputs
    t-lookback+1..t exist (they may lie before `start`: the past is known)."""
    return np.arange(max(start - 1, lookback - 1), stop - horizon)


def halve(windows: Windows, reach: int = 1) -> tuple[Windows, Windows]:
    """Split windows in two in time order, dropping the reach - 1 windows between the halves so that no
    target day lies in both (a window's targets are the `reach` days after its anchor); the earlier
    half gets the odd one."""
    gap = reach - 1
    middle = (len(windows.anchors) - gap + 1) // 2
    first, second = slice(0, middle), slice(middle + gap, None)
    return tuple(Windows(windows.inputs[part], windows.targets[part], windows.anchors[part])
                 for part in (first, second))


def cut_tail(windows: Windows, share: float, reach: int = 1) -> tuple[Windows, Windows]:
    """(the windows to train on, the last `share` of them) in time order, dropping the reach - 1
    windows between the two so that no target day lies in both."""
    tail = max(round(len(windows.anchors) * share), MIN_VALIDATION_WINDOWS // 2)
    stop = len(windows.anchors) - tail - (reach - 1)
    if stop < 1:
        raise ValueError(f"the training split has {len(windows.anchors)} windows, too few to give its last "
                         f"{tail} to --select-on train-tail; use --select-on validation-half or a longer "
                         "series")
    first, second = slice(0, stop), slice(len(windows.anchors) - tail, None)
    return tuple(Windows(windows.inputs[part], windows.targets[part], windows.anchors[part])
                 for part in (first, second))


def prepare_forecast_data(
    prices: pd.DataFrame,
    lookback: int = 60,
    horizon: int = 1,
    train_fraction: float = 0.70,
    validation_fraction: float = 0.15,
    borders: dict | None = None,
    scalers: tuple[Standardizer, Standardizer] | None = None,
    feature_names: list[str] | None = None,
    target: str = "price",
    volatility_days: int = 5,
    select_on: str = "validation-half",
) -> ForecastData:
    """Features, chronological splits, leak-free windows and train-only scalers.

    `borders` overrides the fractions (walk-forward folds); `scalers` and `feature_names` reuse a
    trained model's (evaluate.py): nothing is then fitted on the new series. `target` is one of
    TARGETS (the module docstring defines each); a non-price target needs `horizon` 1. `select_on`
    (SELECT_ON) says where the "select" windows come from, and so how many the guard gets.
    """
    if select_on not in SELECT_ON:
        raise ValueError(f"--select-on must be one of {', '.join(SELECT_ON)}, got {select_on!r}")
    if lookback < 1:
        raise ValueError(f"--lookback must be at least 1 day, got {lookback}")
    if horizon < 1:
        raise ValueError(f"--horizon must be at least 1 day ahead, got {horizon}")
    check_target(target, horizon, volatility_days, lookback)
    # how many days after the anchor the target reads: every one must lie in the window's split
    reach = {"price": horizon, "volatility": volatility_days}.get(target, 1)
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing prices are reported by check_prices
        features = make_features(prices)
    if feature_names is not None:
        missing = [name for name in feature_names if name not in features.columns]
        if missing:
            raise ValueError(
                f"the model was trained on features {missing} that this series cannot provide (no Volume?)"
            )
        features = features[feature_names]
    check_prices(prices, features)
    usable = features.notna().all(axis=1).to_numpy()
    if not usable.any():
        raise ValueError(
            f"the series has {len(prices)} rows: too few to compute the indicators ({WARMUP_ROWS}+ needed)"
        )
    first = int(usable.argmax())  # the warm-up is a prefix: causal indicators are defined from then on
    features = features.iloc[first:]
    n_rows = len(features)
    borders = borders or chronological_borders(n_rows, train_fraction, validation_fraction)
    smallest = min(train_fraction, validation_fraction, 1 - train_fraction - validation_fraction)
    for name, (start, stop) in borders.items():
        # train must hold whole windows; validation enough windows for its two halves and the reach - 1
        # dropped between them; test one.
        need = {"train": lookback + reach,
                "validation": MIN_VALIDATION_WINDOWS + 2 * (reach - 1)}.get(name, reach)
        if stop - start < need:
            rows_needed = int(np.ceil(max(lookback + reach, MIN_VALIDATION_WINDOWS + 2 * reach) / smallest))
            raise ValueError(
                f"the {name} split has {stop - start} rows, too few for lookback {lookback} and horizon "
                f"{reach} (train needs lookback + horizon rows, validation {MIN_VALIDATION_WINDOWS} "
                f"windows and horizon - 1 between its halves): the series has {len(prices)} rows ({first} "
                f"used for indicator warm-up). Use a shorter --lookback/--horizon or a longer series (about "
                f"{rows_needed + first}+ rows)."
            )

    log_close = np.log(prices["Close"].to_numpy(dtype=np.float64)[first:])
    values = features.to_numpy(dtype=np.float64)
    check_degenerate(values, log_close, features, borders["train"])
    if scalers is None:
        train_start, train_stop = borders["train"]
        feature_scaler = Standardizer.fit(values[train_start:train_stop])
    else:
        feature_scaler = scalers[0]
    scaled = feature_scaler.transform(values).astype(np.float32)

    steps = np.arange(1, horizon + 1)
    raw_windows = {}
    for name, (start, stop) in borders.items():
        anchors = window_anchors(start, stop, lookback, reach)
        inputs = scaled[anchors[:, None] + np.arange(-lookback + 1, 1)]  # (windows, lookback, features)
        if target == "price":
            targets = log_close[anchors[:, None] + steps] - log_close[anchors][:, None]  # (windows, horizon)
        else:
            targets = target_values(log_close, anchors, target, reach)  # (windows, 1)
        raw_windows[name] = (inputs, targets, anchors)
    if scalers is not None:
        target_scaler = scalers[1]
    elif target == "direction":  # 0 / 1 labels are left as they are: the network outputs a logit
        target_scaler = Standardizer(mean=np.zeros(1), std=np.ones(1))
    else:
        target_scaler = Standardizer.fit(raw_windows["train"][1])
    splits = {
        name: Windows(inputs=inputs, targets=target_scaler.transform(targets).astype(np.float32),
                      anchors=anchors)
        for name, (inputs, targets, anchors) in raw_windows.items()
    }
    if "validation" in splits and select_on == "train-tail":
        # the scalers above saw the whole training split: the tail is training data, never validation
        splits["train"], splits["select"] = cut_tail(splits["train"], TRAIN_TAIL_SHARE, reach)
        splits["guard"] = splits["validation"]
    elif "validation" in splits:
        splits.update(zip(VALIDATION_HALVES, halve(splits["validation"], reach)))

    return ForecastData(
        dates=pd.DatetimeIndex(features.index),
        close=np.exp(log_close),
        feature_names=list(features.columns),
        lookback=lookback,
        horizon=horizon,
        borders=dict(borders),
        feature_scaler=feature_scaler,
        target_scaler=target_scaler,
        splits=splits,
        target=target,
        target_days=reach,
        select_on=select_on,
    )


def check_target(target: str, horizon: int, volatility_days: int, lookback: int) -> None:
    """Refuse a target that these settings cannot forecast, saying which setting to change."""
    if target not in TARGETS:
        raise ValueError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    if target != "price" and horizon != 1:
        raise ValueError(f"--target {target} forecasts one number per window ("
                         + ("the realised volatility of the next --volatility-days days"
                            if target == "volatility" else "the probability that the next close is up")
                         + f"), so --horizon must be 1, got {horizon}")
    if target == "volatility":
        if volatility_days < 2:
            raise ValueError(f"--volatility-days must be at least 2 (a volatility needs several returns), "
                             f"got {volatility_days}")
        if lookback <= HAR_MONTH_DAYS:
            raise ValueError(f"--target volatility needs --lookback {HAR_MONTH_DAYS + 1} or more: the HAR-RV "
                             f"baseline reads the last {HAR_MONTH_DAYS} days' returns, and no baseline may "
                             f"see more than the network's window (got --lookback {lookback})")


HAR_MONTH_DAYS = 22  # the monthly term of HAR-RV (Corsi 2009): a trading month of daily returns


def target_values(log_close: np.ndarray, anchors: np.ndarray, target: str, days: int) -> np.ndarray:
    """(windows, 1) a non-price target for each anchor row t, from daily log returns r[s] = log close[s]
    - log close[s-1]: volatility sqrt(252 / days · Σ_{j=1..days} r[t+j]²); direction 1.0 if r[t+1] > 0."""
    if target == "volatility":
        returns = log_close[anchors[:, None] + np.arange(1, days + 1)] - log_close[
            anchors[:, None] + np.arange(0, days)]  # (windows, days)
        return np.sqrt(TRADING_DAYS * np.mean(returns**2, axis=1, keepdims=True))
    if target == "direction":
        return (log_close[anchors + 1] > log_close[anchors]).astype(np.float64)[:, None]
    raise ValueError(f"no target values for {target!r}: price targets are the log returns")
