"""common.trading.performance and common.trading.significance: the portfolio metrics against quantstats
(the oracle), the Sharpe tests against direct scipy computations and against what they must say on
data whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from common.trading.backtest import daily_log_returns, held_positions
from common.trading.performance import performance, sharpe_standard_error
from common.trading.significance import (
    SHARPE_NOTE,
    bootstrap_sharpe_interval,
    break_even_cost_bps,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)

qs_stats = pytest.importorskip("quantstats.stats")


def simulated_prices(n_days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Open and close of a random walk with an overnight gap and an intraday move each day."""
    rng = np.random.default_rng(seed)
    overnight = rng.normal(0.0002, 0.006, n_days)
    intraday = rng.normal(0.0003, 0.012, n_days)
    log_close = np.cumsum(overnight + intraday) + np.log(100.0)
    return np.exp(log_close - intraday), np.exp(log_close)


@pytest.fixture(scope="module")
def scored_policy() -> dict:
    """A policy that goes long, short, half and flat at random, with 5 bps costs, scored on days 1 .. n-1."""
    open_, close = simulated_prices(600, seed=0)
    weights, shares = [-1.0, 0.0, 0.5, 1.0], [0.2, 0.2, 0.2, 0.4]
    positions = np.random.default_rng(1).choice(weights, size=len(close), p=shares)
    log_returns, cost_paid = daily_log_returns(open_, close, positions, cost_bps=5.0)
    held = held_positions(positions)
    days = slice(1, len(close))  # day 0 has no previous close: no return to score
    simple = np.expm1(log_returns[days])
    # quantstats wants a pandas Series of returns; business days make its periods match ours (252 a year).
    series = pd.Series(simple, index=pd.bdate_range("2020-01-01", periods=len(simple)))
    return {"log_returns": log_returns[days], "held": held[days], "cost_paid": cost_paid[days],
            "held_before": held[0], "series": series,
            "metrics": performance(log_returns[days], held[days], cost_paid[days], held_before=held[0])}


def test_ratios_match_quantstats(scored_policy):
    metrics, series = scored_policy["metrics"], scored_policy["series"]
    assert math.isclose(metrics["sharpe"], qs_stats.sharpe(series, periods=252), rel_tol=1e-10)
    assert math.isclose(metrics["sortino"], qs_stats.sortino(series, periods=252), rel_tol=1e-10)
    assert math.isclose(metrics["volatility"], qs_stats.volatility(series, periods=252), rel_tol=1e-10)
    assert math.isclose(metrics["max_drawdown"], qs_stats.max_drawdown(series), rel_tol=1e-10)
    assert math.isclose(metrics["total_return"], qs_stats.comp(series), rel_tol=1e-10)
    # quantstats 0.0.86 counts years as trading periods (count / periods), not calendar days, as we do.
    assert math.isclose(metrics["cagr"], qs_stats.cagr(series, periods=252), rel_tol=1e-10)
    assert math.isclose(metrics["calmar"], qs_stats.calmar(series, periods=252), rel_tol=1e-10)
    assert metrics["n_days"] == len(series)


def test_position_metrics_match_a_hand_computation(scored_policy):
    metrics, held = scored_policy["metrics"], scored_policy["held"]
    previous = np.concatenate([[scored_policy["held_before"]], held[:-1]])
    traded = sum(abs(now - before) for now, before in zip(held, previous))
    assert math.isclose(metrics["turnover"], traded / len(held) * 252, rel_tol=1e-12)
    assert math.isclose(metrics["exposure"], np.mean(np.abs(held)), rel_tol=1e-12)
    assert math.isclose(metrics["costs_paid"], traded * 5e-4, rel_tol=1e-12)  # 5 bps per side
    in_market = [r for r, weight in zip(scored_policy["series"], held) if weight != 0]
    assert math.isclose(metrics["hit_rate"], sum(r > 0 for r in in_market) / len(in_market), rel_tol=1e-12)


def test_flat_policy_is_nan_free_with_zero_ratios():
    metrics = performance(np.zeros(50), np.zeros(50), np.zeros(50))
    assert metrics["sharpe"] == metrics["sortino"] == metrics["calmar"] == 0.0
    assert metrics["max_drawdown"] == metrics["volatility"] == metrics["total_return"] == 0.0
    assert math.isnan(metrics["hit_rate"])  # never in the market: no hit rate to report
    assert not any(math.isnan(value) for key, value in metrics.items() if key != "hit_rate")


def test_drawdown_counts_a_loss_on_the_first_day():
    log_returns = np.log([0.9, 1.05, 1.02])
    metrics = performance(log_returns, np.ones(3), np.zeros(3))
    assert math.isclose(metrics["max_drawdown"], -0.1, rel_tol=1e-12)


def test_sharpe_standard_error_reduces_to_lo_for_normal_returns():
    assert math.isclose(sharpe_standard_error(0.1, 253, 0.0, 3.0), math.sqrt((1 + 0.1**2 / 2) / 252))
    # One year of daily data: the annualised Sharpe's standard error is about 1, as SHARPE_NOTE says.
    assert 0.95 < sharpe_standard_error(0.05, 252, 0.0, 3.0) * math.sqrt(252) < 1.05
    assert "close to 1" in SHARPE_NOTE
    with pytest.raises(ValueError, match="non-excess"):
        sharpe_standard_error(0.1, 100, 0.0, 0.0)  # a normal's excess kurtosis passed by mistake


def test_probabilistic_sharpe_matches_a_direct_computation():
    returns = np.random.default_rng(2).standard_t(5, size=400) * 0.01 + 0.0008
    n = len(returns)
    sharpe = returns.mean() / returns.std(ddof=1)
    centred = returns - returns.mean()
    skew = np.mean(centred**3) / np.mean(centred**2) ** 1.5
    kurtosis = np.mean(centred**4) / np.mean(centred**2) ** 2
    for threshold in (0.0, 0.02, -0.03):
        expected = scipy_stats.norm.cdf((sharpe - threshold) * math.sqrt(n - 1)
                                        / math.sqrt(1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2))
        assert math.isclose(probabilistic_sharpe_ratio(returns, threshold), expected, rel_tol=1e-10)
    assert math.isclose(probabilistic_sharpe_ratio(returns, sharpe), 0.5, abs_tol=1e-12)
    assert probabilistic_sharpe_ratio(returns, sharpe + 0.2) < 0.01 < 0.99 < probabilistic_sharpe_ratio(
        returns, sharpe - 0.2)


def test_deflated_sharpe_with_one_trial_is_the_psr_and_falls_with_more_trials():
    returns = np.random.default_rng(3).normal(0.001, 0.01, size=500)
    one = deflated_sharpe_ratio(returns, [0.1])
    assert one["n_trials"] == 1 and one["expected_max_sharpe_daily"] == 0.0
    assert math.isclose(one["dsr"], probabilistic_sharpe_ratio(returns, 0.0), rel_tol=1e-12)
    dsrs = []
    for n_trials in (2, 10, 100, 1000):
        # Trials spread like a normal with std 0.03: the spread is the same, only N grows.
        trials = scipy_stats.norm.ppf((np.arange(n_trials) + 0.5) / n_trials) * 0.03
        result = deflated_sharpe_ratio(returns, trials)
        assert math.isclose(result["expected_max_sharpe_annualised"],
                            result["expected_max_sharpe_daily"] * math.sqrt(252), rel_tol=1e-12)
        dsrs.append(result["dsr"])
    assert all(later < earlier for earlier, later in zip(dsrs, dsrs[1:]))


def test_expected_max_sharpe_is_the_mean_best_of_n_lucky_trials():
    # 100 trials whose daily Sharpes spread with a sample std of exactly 0.05, and no skill in any.
    quantiles = scipy_stats.norm.ppf((np.arange(100) + 0.5) / 100)
    trials = 0.05 * quantiles / quantiles.std(ddof=1)
    best_of_100 = np.random.default_rng(4).normal(0.0, 0.05, size=(4000, 100)).max(axis=1).mean()
    assert math.isclose(expected_max_sharpe(trials), best_of_100, rel_tol=0.03)  # an approximation


def test_bootstrap_interval_covers_the_true_sharpe_and_repeats_for_a_seed():
    mean, std = 0.001, 0.01
    true_sharpe = mean / std * math.sqrt(252)
    covered = 0
    for seed in range(20):
        returns = np.random.default_rng(100 + seed).normal(mean, std, size=500)
        result = bootstrap_sharpe_interval(returns, reps=200, seed=seed)
        assert result["low"] < result["sharpe"] < result["high"] and result["block_length"] >= 1
        covered += result["low"] <= true_sharpe <= result["high"]
    assert covered >= 16  # a 95 % interval misses ~1 in 20; 5 misses would be very unlikely
    again = bootstrap_sharpe_interval(returns, reps=200, seed=19)
    assert again == result
    assert bootstrap_sharpe_interval(returns, reps=200, seed=7)["low"] != result["low"]


def test_paired_bootstrap_of_a_series_against_itself_is_zero():
    returns = np.random.default_rng(5).normal(0.0005, 0.01, size=300)
    result = bootstrap_sharpe_interval(returns, benchmark=returns, reps=200)
    assert result["difference"] == result["difference_low"] == result["difference_high"] == 0.0
    assert result["p_value"] == 1.0  # every resampled difference is <= 0: no evidence of a better policy
    better = bootstrap_sharpe_interval(returns + 0.002, benchmark=returns, reps=200)
    assert better["difference_low"] > 0 and better["p_value"] == 0.0


def test_break_even_cost_of_buy_and_hold_is_infinite_and_of_a_planted_edge_is_where_totals_meet():
    open_, close = simulated_prices(400, seed=6)
    buy_and_hold = np.ones(len(close))
    start, stop = 1, len(close)  # decisions of days 0 .. n-2, earned on days 1 .. n-1
    assert break_even_cost_bps(open_, close, buy_and_hold, buy_and_hold, start, stop) == math.inf
    # The planted edge: long on the days the next close is higher, flat otherwise (it trades a lot).
    foresight = np.append((close[1:] > close[:-1]).astype(float), 1.0)
    cost = break_even_cost_bps(open_, close, foresight, buy_and_hold, start, stop)
    assert 0.0 < cost < 10_000.0
    policy, _ = daily_log_returns(open_, close, foresight, cost)
    reference, _ = daily_log_returns(open_, close, buy_and_hold, cost)
    assert math.isclose(policy[start:stop].sum(), reference[start:stop].sum(), abs_tol=1e-6)
    hindsight_wrong = 1.0 - foresight  # behind buy-and-hold before any cost
    assert break_even_cost_bps(open_, close, hindsight_wrong, buy_and_hold, start, stop) == 0.0


@pytest.mark.parametrize("call", [
    lambda: performance([], [], []),
    lambda: performance([0.01, np.nan], [1.0, 1.0], [0.0, 0.0]),
    lambda: performance([0.01, 0.02, 0.0], [1.0, 1.0], [0.0, 0.0]),
    lambda: sharpe_standard_error(0.1, 1, 0.0, 3.0),
    lambda: probabilistic_sharpe_ratio([0.01, np.nan, 0.02, 0.0]),
    lambda: probabilistic_sharpe_ratio([]),
    lambda: deflated_sharpe_ratio(np.full(10, 0.01), []),
    lambda: bootstrap_sharpe_interval(np.zeros(50), benchmark=np.zeros(40)),
    lambda: bootstrap_sharpe_interval(np.full(50, np.nan)),
    lambda: bootstrap_sharpe_interval(np.zeros(50), level=1.5),
    lambda: break_even_cost_bps(np.ones(10), np.ones(10), np.ones(10), np.ones(10), 5, 5),
    lambda: break_even_cost_bps(np.ones(10), np.ones(10), np.ones(10), np.ones(9), 1, 10),
    lambda: break_even_cost_bps(np.ones(10), np.ones(10), np.ones(10), np.ones(10), 1, 11),
])
def test_bad_input_raises_a_value_error(call):
    with pytest.raises(ValueError):
        call()
