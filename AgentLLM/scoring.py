"""Scoring positions: every policy over every split by the same accounting, and the statistics that
say how much of a Sharpe ratio is luck. Used by train.py and by evaluate.py (which re-scores a saved
positions.csv, so both give the same numbers by construction).

    score_span(open_, close, positions, span, cost_bps)               performance over one split
    test_statistics(open_, close, positions, log_ret, hold_ret, ...)   bootstrap interval, PSR, break-even
    score_policies(open_, close, policies, spans, cost_bps, ...)      all of it for a table of policies
    guard_verdict(open_, close, agent, hold, span, cost_bps, ...)      keep the agent, or buy-and-hold?
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from common.trading.backtest import span_log_returns
from common.trading.performance import performance
from common.trading.significance import (
    bootstrap_sharpe_interval,
    break_even_cost_bps,
    probabilistic_sharpe_ratio,
)


def score_span(open_: np.ndarray, close: np.ndarray, positions: np.ndarray, span: tuple[int, int],
               cost_bps: float) -> tuple[dict[str, float], np.ndarray]:
    """(performance dict, daily log returns) of the decisions of days span = [start, stop), from flat."""
    start, stop = span
    log_ret, held, cost = span_log_returns(open_, close, np.nan_to_num(positions), start, stop, cost_bps)
    return performance(log_ret, held, cost, held_before=0.0), log_ret


def _span_only(positions: np.ndarray, span: tuple[int, int]) -> np.ndarray:
    only = np.zeros(len(positions))
    only[span[0]:span[1]] = np.nan_to_num(positions[span[0]:span[1]])
    return only


def _bps(value: float) -> float | str:
    # JSON has no infinity: "inf" says the edge survives any cost (or the two policies trade alike).
    return value if math.isfinite(value) else "inf"


def test_statistics(open_: np.ndarray, close: np.ndarray, positions: np.ndarray, log_ret: np.ndarray,
                    hold_ret: np.ndarray, benchmarks: dict[str, np.ndarray], span: tuple[int, int],
                    seed: int, reps: int) -> dict[str, Any]:
    """The statistics of one policy over one split against buy-and-hold and flat, from the daily log
    returns of the policy and of buy-and-hold over the split (`score_span`).

    sharpe_interval      stationary-bootstrap 95 % interval of the annualised Sharpe, and of its lead over
                         buy-and-hold with the one-sided p-value of "no lead" (paired days)
    psr_vs_zero          probabilistic Sharpe ratio: P(true Sharpe > 0) given skew and kurtosis
    psr_vs_buy_and_hold  P(true Sharpe > buy-and-hold's measured Sharpe)
    break_even_bps       the cost per side at which the lead over flat / over buy-and-hold is gone
    """
    simple, hold_simple = np.expm1(log_ret), np.expm1(hold_ret)
    hold_daily_sharpe = float(hold_simple.mean() / hold_simple.std(ddof=1))
    interval = bootstrap_sharpe_interval(simple, benchmark=hold_simple, reps=reps, seed=seed)
    constant = np.ptp(simple) == 0.0  # a flat policy: its Sharpe has no distribution
    start, stop = span
    return {
        "sharpe_interval": interval,
        "psr_vs_zero": math.nan if constant else probabilistic_sharpe_ratio(simple, 0.0),
        "psr_vs_buy_and_hold": (math.nan if constant
                                else probabilistic_sharpe_ratio(simple, hold_daily_sharpe)),
        "break_even_bps": {
            name: _bps(break_even_cost_bps(open_, close, _span_only(positions, span),
                                           _span_only(benchmarks[name], span), start + 1, stop + 1))
            for name in ("flat", "buy_and_hold")},
    }


def score_policies(open_: np.ndarray, close: np.ndarray, policies: dict[str, np.ndarray],
                   spans: dict[str, tuple[int, int]], cost_bps: float, seed: int = 0, reps: int = 1000,
                   statistics_on: tuple[str, ...] = ("test",)) -> dict[str, dict[str, Any]]:
    """{policy: {split: performance (+ statistics on the `statistics_on` splits)}} for every policy."""
    hold_returns = {split: score_span(open_, close, policies["buy_and_hold"], spans[split], cost_bps)[1]
                    for split in statistics_on}
    table: dict[str, dict[str, Any]] = {}
    for name, positions in policies.items():
        table[name] = {}
        for split, span in spans.items():
            row, log_ret = score_span(open_, close, positions, span, cost_bps)
            if split in statistics_on:
                row.update(test_statistics(open_, close, positions, log_ret, hold_returns[split], policies,
                                           span, seed, reps))
            table[name][split] = row
    return table


def guard_verdict(open_: np.ndarray, close: np.ndarray, agent: np.ndarray, hold: np.ndarray,
                  span: tuple[int, int], cost_bps: float, alpha: float = 0.05, reps: int = 1000,
                  seed: int = 0) -> dict[str, Any]:
    """Keep the agent only if, on `span` (the guard half), it beats both buy-and-hold's Sharpe and cash
    (a Sharpe of 0), each with a stationary-bootstrap p < alpha.

    Beating buy-and-hold alone is no skill when the market falls: on a random walk whose guard half
    fell, an agent that knew nothing once "beat" it with p = 0.02. Requiring both tests to pass is an
    intersection-union test, so the level stays alpha.
    """
    _, agent_ret = score_span(open_, close, agent, span, cost_bps)
    _, hold_ret = score_span(open_, close, hold, span, cost_bps)
    versus_hold = bootstrap_sharpe_interval(np.expm1(agent_ret), benchmark=np.expm1(hold_ret), reps=reps,
                                            seed=seed)
    versus_cash = bootstrap_sharpe_interval(np.expm1(agent_ret), reps=reps, seed=seed)
    p_value = max(versus_hold["p_value"], versus_cash["p_value"])
    return {"kept": bool(p_value < alpha),
            "rule": f"keep the agent if the stationary-bootstrap p-values of 'no Sharpe lead over "
                    f"buy-and-hold' and of 'Sharpe <= 0' on the guard half are both < {alpha}; else "
                    "buy-and-hold",
            "guard_days": span[1] - span[0], **versus_hold, "p_value": p_value,
            "p_value_vs_buy_and_hold": versus_hold["p_value"], "p_value_vs_cash": versus_cash["p_value"]}
