"""benchmarks/bench_agent.py without RL training: the oracle that knows the planted rule, its band
chosen on "select", its accounting against the series' own returns, and the plan of runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from AgentLLM.market import MarketSpec, prepare_market
from AgentLLM.scoring import score_span
from common.forecast.synthetic import lag_return_series, oracle_log_returns

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
BANDS = [0.0, 0.0005, 0.001, 0.002, 0.004]


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the benchmarks import their siblings by name
    import bench_agent

    return bench_agent


@pytest.fixture(scope="module")
def planted():
    prices = lag_return_series(n_days=1500, lag=1, phi=0.3, noise=0.01, seed=0)
    return prices, prepare_market(prices, MarketSpec())


def test_oracle_finds_the_planted_signal_at_no_cost(bench, planted):
    prices, market = planted
    oracle = bench.score_oracle(market, prices, lag=1, phi=0.3, cost_bps=0.0, bands=BANDS)
    assert oracle["band"] in BANDS
    assert [trial["band"] for trial in oracle["band_trials"]] == BANDS
    # phi * sqrt(2 / pi) * sqrt(252) ~ 3.8 expected; ~210 test days give a standard error near 1
    assert oracle["test"]["sharpe"] > 1.5
    assert oracle["train"]["sharpe"] > 2.5


def test_oracle_band_is_the_best_on_select_and_costs_pull_it_wider(bench, planted):
    prices, market = planted
    prediction = oracle_log_returns(prices, 1, 0.3)
    for cost in (0.0, 10.0):
        band, trials = bench.choose_band(market, prediction, cost, BANDS)
        assert band in BANDS
        assert max(trial["select_sharpe"] for trial in trials) == \
            next(trial["select_sharpe"] for trial in trials if trial["band"] == band)
    # a band wider than any prediction never trades
    positions = bench.oracle_positions(market, prediction, band=1.0)
    first, stop = market.decision_days
    assert np.all(positions[first:stop] == 0) and np.isnan(positions[:first]).all()


def test_oracle_earns_the_sign_of_its_prediction_times_the_next_return(bench, planted):
    """Independent of the backtest: at no cost, the decision at close t earns day t+1's close-to-close
    return, so the scored log returns are log(1 + position_t * (close_{t+1} / close_t - 1))."""
    prices, market = planted
    prediction = oracle_log_returns(prices, 1, 0.3)
    positions = bench.oracle_positions(market, prediction, band=0.0)
    start, stop = market.span("test")
    _, log_returns = score_span(market.open_, market.close, positions, (start, stop), 0.0)
    close = prices["Close"].to_numpy()
    expected = np.log1p(positions[start:stop] * (close[start + 1:stop + 1] / close[start:stop] - 1))
    np.testing.assert_allclose(log_returns, expected, atol=1e-12)
    assert np.array_equal(positions[start:stop], np.sign(prediction[start:stop]))


def test_plan_runs_every_series_at_every_cost(bench, tmp_path):
    config = bench.parse_bench_config(["--out", str(tmp_path)])
    config.validate()
    jobs = bench.plan(config)
    assert len(jobs) == 12  # (2 lags x 2 phis + 2 random walks) x 2 costs
    assert sum(job["family"] == "random_walk" for job in jobs) == 4
    assert len({job["run_dir"] for job in jobs}) == len(jobs)
    quick = bench.parse_bench_config(["--quick", "--out", str(tmp_path)])
    assert (quick.agent_seeds, quick.timesteps, len(bench.plan(quick))) == (1, 5_000, 4)


def test_bad_options_name_the_flag(bench):
    with pytest.raises(ValueError, match="--phis"):
        bench.parse_bench_config(["--phis", "0"]).validate()
    with pytest.raises(ValueError, match="--lags"):
        bench.parse_bench_config(["--lags", "one"]).validate()
