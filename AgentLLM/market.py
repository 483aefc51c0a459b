"""From a price frame to what every policy of the stage reads: prices, scaled features and the splits.

    market = prepare_market(prices, MarketSpec())    # arrays prepared once; no pandas inside the env
    market.span("test")                               # (start, stop): the test split's decision days

Decision days are the days t whose close a policy decides at; a decision needs day t+1 (its fill), so
they run from the end of the feature warm-up to the second-to-last day. They are cut in time order,
as in Stages 3-4:

    |-- warm-up --|------------ train 70 % ------------|-- validation 15 % --|---- test 15 % ----|
                                                       | select  |  guard   |

- train: the agents learn here (episodes at random offsets), the feature scaler and the supervised
  baseline are fitted here;
- validation, first half ("select"): checkpoints, algorithms, seeds and the no-trade band are chosen;
- validation, second half ("guard"): the guard's test of the chosen agent against buy-and-hold;
- test: read once, at the end.

The decision on the last day of a split is filled on the first day of the next one, and the first
decision of the next split earns from its second day on: no day's return is scored in two splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from AgentLLM.features import FeatureScaler, add_extra_channels, observation_features, warm_up_days

SPLITS = ("train", "validation", "test")
HALVES = ("select", "guard")  # of the validation split
MIN_SPLIT_DAYS = 20  # decision days a split needs for a Sharpe ratio that is more than two numbers
FILLS = {"next_open": "decided at the close of day t, filled at the open of day t+1",
         "next_close": "decided at the close of day t, filled at the close of day t+1 (no Open column)"}


@dataclass
class MarketSpec:
    """The options that shape the market data (a subset of the stage's config)."""

    n_returns: int = 10
    train_fraction: float = 0.70
    validation_fraction: float = 0.15


@dataclass
class Market:
    dates: pd.DatetimeIndex  # (n_days,)
    open_: np.ndarray  # (n_days,) the fill prices; the closes when the data have no Open column
    close: np.ndarray  # (n_days,)
    features: np.ndarray  # (n_days, n_features) float32, scaled with the train split's statistics
    feature_names: list[str]
    borders: dict[str, tuple[int, int]]  # split or half -> (first decision day, last + 1)
    fill: str  # "next_open" or "next_close"
    scaler: FeatureScaler
    first_day: int  # the first decision day (end of the warm-up)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_days(self) -> int:
        return len(self.close)

    @property
    def decision_days(self) -> tuple[int, int]:
        """(first, last + 1) of every decision day; the last day of the data is only a fill."""
        return self.first_day, self.n_days - 1

    def span(self, name: str) -> tuple[int, int]:
        return self.borders[name]

    def split_of_day(self) -> np.ndarray:
        """(n_days,) the split of each day's decision: "warm_up", train/validation/test, or "last_fill"."""
        labels = np.full(self.n_days, "warm_up", dtype=object)
        for name in SPLITS:
            start, stop = self.borders[name]
            labels[start:stop] = name
        labels[-1] = "last_fill"
        return labels


def validation_halves(start: int, stop: int) -> dict[str, tuple[int, int]]:
    """The validation days [start, stop) cut into "select" (the earlier half) and "guard"."""
    middle = start + (stop - start) // 2
    return {"select": (start, middle), "guard": (middle, stop)}


def chronological_spans(first: int, stop: int, train_fraction: float, validation_fraction: float
                        ) -> dict[str, tuple[int, int]]:
    """Decision days [first, stop) cut into train / validation / test, and validation into halves."""
    if not (0 < train_fraction < 1 and 0 < validation_fraction < 1
            and train_fraction + validation_fraction < 1):
        raise ValueError(f"--train-fraction ({train_fraction}) and --validation-fraction "
                         f"({validation_fraction}) must be positive and leave a test split (sum < 1)")
    count = stop - first
    train_end = first + round(count * train_fraction)
    validation_end = train_end + round(count * validation_fraction)
    spans = {"train": (first, train_end), "validation": (train_end, validation_end),
             "test": (validation_end, stop), **validation_halves(train_end, validation_end)}
    short = {name: b - a for name, (a, b) in spans.items() if b - a < MIN_SPLIT_DAYS}
    if short:
        raise ValueError(
            f"the series is too short: {count} decision days after the {first}-day warm-up give "
            + ", ".join(f"{name} {days}" for name, days in short.items())
            + f" days (each needs at least {MIN_SPLIT_DAYS}); use a longer series (about "
            f"{first + int(2 * MIN_SPLIT_DAYS / validation_fraction) + 2} days or more)")
    return spans


def prepare_market(prices: pd.DataFrame, spec: MarketSpec, extra: pd.DataFrame | None = None) -> Market:
    """Fill prices, features scaled on the train split only, and the split borders. `extra`: more
    channels on the prices' index, each known at its day's close (AgentLLM/text.py's text channel),
    appended before scaling so the scaler standardises them with the train rows too."""
    if "Close" not in prices.columns:
        raise ValueError("the prices have no Close column: give a CSV with Date and Close (and ideally Open)")
    close = prices["Close"].to_numpy(dtype=float)
    open_ = prices["Open"].to_numpy(dtype=float) if "Open" in prices.columns else close.copy()
    # Without opens (load_prices fills a missing Open with the close) the honest fill is the next close:
    # the decision still waits a whole day, and the accounting with open = close says exactly that.
    fill = "next_close" if np.array_equal(open_, close) or not np.isfinite(open_).all() else "next_open"
    if fill == "next_close":
        open_ = close.copy()
    frame = observation_features(prices, n_returns=spec.n_returns)
    if extra is not None:
        frame = add_extra_channels(frame, extra)
    first = max(warm_up_days(spec.n_returns), int(np.argmax(frame.notna().all(axis=1).to_numpy())))
    borders = chronological_spans(first, len(close) - 1, spec.train_fraction, spec.validation_fraction)
    train_start, train_stop = borders["train"]
    scaler = FeatureScaler().fit(frame, slice(train_start, train_stop))
    features = scaler.transform(frame)
    return Market(dates=prices.index, open_=open_, close=close, features=features,
                  feature_names=list(frame.columns), borders=borders, fill=fill, scaler=scaler,
                  first_day=first)
