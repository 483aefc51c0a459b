"""The policies an RL agent must beat, on exactly its days, fills and costs.

Every policy here returns a position per day of the series, (n_days,): the target weight decided at
that day's close from rows <= t only (NaN where it makes no decision). The backtest
(common/trading/backtest.py) turns positions into returns.

    flat              never in the market: the cost of doing nothing is nothing
    buy_and_hold      long from the first fill: what the market paid
    sma_crossover     long while SMA(20) > SMA(50), flat otherwise: the classic trend rule
    SupervisedPolicy  a logistic regression of "does the position's holding period go up?" on the agent's
                      own observation, trading only outside a no-trade band chosen on validation. A
                      price-taker's decision hardly moves the market it sees next, so the problem is
                      nearly a contextual bandit: RL must show what it adds over this
    random_positions  random weights with a given rate of change: the agent's turnover without its skill
    forecast_sign     the sign of a Stage 3/4 out-of-sample forecast (AgentLLM/forecast.py): long when it
                      says up, short (flat for long_flat) when it says down, the market when it says
                      nothing (a naive, zero forecast: where the stage's guard deploys naive)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from AgentLLM.market import Market
from common.forecast.indicators import sma
from common.trading.backtest import span_log_returns
from common.trading.performance import performance

WEIGHTS = {"long_short": (-1.0, 0.0, 1.0), "long_flat": (0.0, 1.0), "continuous": (-1.0, 0.0, 1.0)}
SUPERVISED_CS = (0.01, 0.1, 1.0)  # inverse L2 penalty: from strong shrinkage (near the base rate) to mild
NO_TRADE_BANDS = (0.0, 0.02, 0.05, 0.1)  # trade only when |P(up) - 0.5| exceeds the band


def decision_mask(market: Market) -> np.ndarray:
    first, stop = market.decision_days
    mask = np.zeros(market.n_days, dtype=bool)
    mask[first:stop] = True
    return mask


def _on_decision_days(market: Market, values: np.ndarray) -> np.ndarray:
    positions = np.full(market.n_days, np.nan)
    mask = decision_mask(market)
    positions[mask] = values[mask]
    return positions


def flat(market: Market) -> np.ndarray:
    return _on_decision_days(market, np.zeros(market.n_days))


def buy_and_hold(market: Market) -> np.ndarray:
    return _on_decision_days(market, np.ones(market.n_days))


def forecast_sign(market: Market, forecast: np.ndarray, action_mode: str) -> np.ndarray:
    """(n_days,) sign of the forecast log return of day t+1 made at the close of t. A zero forecast has
    no direction: hold the market then, as the agent's guard falls back to buy-and-hold."""
    down = 0.0 if action_mode == "long_flat" else -1.0
    values = np.where(forecast > 0, 1.0, np.where(forecast < 0, down, 1.0))
    return _on_decision_days(market, values)


def sma_crossover(market: Market, fast: int = 20, slow: int = 50) -> np.ndarray:
    """Long (1) while SMA(fast) of the close is above SMA(slow), else flat (0); causal by construction."""
    close = pd.Series(market.close)
    fast_sma, slow_sma = sma(close, fast).to_numpy(), sma(close, slow).to_numpy()
    long = np.where(np.isfinite(fast_sma) & np.isfinite(slow_sma) & (fast_sma > slow_sma), 1.0, 0.0)
    return _on_decision_days(market, long)


def random_positions(market: Market, change_rate: float, action_mode: str, seed: int) -> np.ndarray:
    """Each decision day, with probability `change_rate`, a new weight drawn uniformly from the action
    weights; otherwise the previous one. Starts flat."""
    rng = np.random.default_rng(seed)
    weights = np.asarray(WEIGHTS[action_mode])
    first, stop = market.decision_days
    values = np.zeros(market.n_days)
    current = 0.0
    for day in range(first, stop):
        if rng.random() < change_rate:
            current = float(rng.choice(weights))
        values[day] = current
    return _on_decision_days(market, values)


def change_rate(positions: np.ndarray, start: int, stop: int) -> float:
    """Share of decision days in [start, stop) whose position differs from the day before."""
    span = positions[start:stop]
    return float(np.mean(np.abs(np.diff(span)) > 1e-12)) if len(span) > 1 else 0.0


def span_sharpe(market: Market, positions: np.ndarray, span: str, cost_bps: float) -> float:
    """The annualised Sharpe of `positions` over one split or half (the selection score)."""
    start, stop = market.span(span)
    log_ret, held, cost = span_log_returns(market.open_, market.close, positions, start, stop, cost_bps)
    return performance(log_ret, held, cost)["sharpe"]


def band_positions(probability_up: np.ndarray, band: float, action_mode: str) -> np.ndarray:
    """P(up) -> weight: long above 0.5 + band, short (or flat, for long_flat) below 0.5 - band, else flat."""
    long = probability_up > 0.5 + band
    short = probability_up < 0.5 - band
    if action_mode == "long_flat":
        return long.astype(float)
    return long.astype(float) - short.astype(float)


@dataclass
class SupervisedPolicy:
    """Logistic regression on the agent's observation (without its held weight), band chosen on select."""

    model: Any = None
    band: float = 0.0
    c: float = 1.0
    trials: list[dict[str, float]] = field(default_factory=list)  # every (C, band) tried, its select Sharpe

    @staticmethod
    def labels(market: Market) -> np.ndarray:
        """(n_days,) 1 where the position decided on day t gains before costs: the fill price of day t+2
        above that of day t+1 (the span the position is held); NaN where day t+2 does not exist."""
        fills = market.open_
        up = np.full(market.n_days, np.nan)
        up[:-2] = (fills[2:] > fills[1:-1]).astype(float)
        return up

    @classmethod
    def fit(cls, market: Market, action_mode: str, cost_bps: float, seed: int) -> SupervisedPolicy:
        from sklearn.linear_model import LogisticRegression

        start, stop = market.span("train")
        # The label of day t reads the fill of day t+2: the last training label may reach day `stop`,
        # the first day the validation split's decisions are filled, but never a validation return.
        rows = np.arange(start, stop - 1)
        labels = cls.labels(market)[rows]
        policy = cls()
        best = -np.inf
        for c in SUPERVISED_CS:
            model = LogisticRegression(C=c, max_iter=1000, random_state=seed)
            model.fit(market.features[rows], labels)
            probability = policy_probability(model, market)
            for band in NO_TRADE_BANDS:
                positions = _on_decision_days(market, band_positions(probability, band, action_mode))
                sharpe = span_sharpe(market, positions, "select", cost_bps)
                policy.trials.append({"C": c, "band": band, "select_sharpe": sharpe})
                if sharpe > best:
                    best, policy.model, policy.band, policy.c = sharpe, model, band, c
        return policy

    def positions(self, market: Market, action_mode: str) -> np.ndarray:
        return _on_decision_days(market, band_positions(policy_probability(self.model, market), self.band,
                                                        action_mode))


def policy_probability(model: Any, market: Market) -> np.ndarray:
    """(n_days,) P(up) of every day with finite features (0.5 elsewhere)."""
    probability = np.full(market.n_days, 0.5)
    rows = np.isfinite(market.features).all(axis=1)
    probability[rows] = model.predict_proba(market.features[rows])[:, 1]
    return probability
