"""benchmarks/bench_long_range.py on its smallest path, and the yardsticks it relies on: the marker
family's exact oracle, AR(k) and skill captured."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from common.forecast.baselines import fit_ar_order
from common.forecast.synthetic import (
    MARKER_JUMP_IN_NOISE,
    lag_return_series,
    marker_return_series,
    oracle_log_returns,
    skill_captured,
)
from common.forecast.windows import prepare_forecast_data

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the benchmarks import their siblings by name
    import bench_long_range

    return bench_long_range


def test_quick_run_writes_results_of_the_promised_shape(bench, tmp_path):
    results = bench.main(["--quick", "--families", "lag", "--models", "transformer", "transformer-long",
                          "--threads", "1", "--out", str(tmp_path)])
    for name in ("results.json", "results.md", "skill_vs_lag.png", "where_they_look.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["summary"] == json.loads(json.dumps(results["summary"]))
    (row,) = results["runs"]
    assert (row["family"], row["lag"], row["lookback"]) == ("lag", 1, 20)
    assert 0 < row["oracle"]["test"] < 1 and 0 < row["oracle"]["validation"] < 1
    entry = results["summary"]["lag"]["1"]
    assert entry["oracle_skill"] == [1.0]  # the oracle captures all of its own edge, by construction
    for budget in ("epochs", "wall_clock"):
        assert set(row["runs"][budget]) == {"transformer", "transformer-long"}
        for model in ("transformer", "transformer-long"):
            run = row["runs"][budget][model]
            assert {"as_trained", "guarded"} <= set(run["test"]) and run["train_seconds"] >= 0
            skills = entry[f"{model}@{budget}"]
            assert all(math.isfinite(value) for value in skills["as_trained"] + skills["guarded"])
    # exactly one network is retrained for the wall clock: the slower one, within the faster one's seconds
    reused = [model for model, run in row["runs"]["wall_clock"].items() if run.get("reused")]
    assert len(reused) == 1 and row["wall_clock_set_by"] == reused[0]
    for label, profile in row["runs"]["epochs"]["transformer-long"]["profiles"].items():
        assert len(profile) == 20 and math.isclose(sum(profile), 1.0, rel_tol=1e-4), label
    assert "| 1 | 20 |" in (tmp_path / "results.md").read_text()


def test_wall_clock_budget_fits_the_schedule_to_the_seconds(bench):
    from CodeLLM.train import CodeConfig

    config = bench.wall_clock_config(CodeConfig(epochs=30, warmup_epochs=3), seconds=20.0,
                                     seconds_per_epoch=2.0)
    assert (config.epochs, config.warmup_epochs, config.max_seconds) == (10, 1, 20.0)
    assert bench.wall_clock_config(CodeConfig(), seconds=1.0, seconds_per_epoch=5.0).epochs == 1


def test_lag_mass_reads_the_planted_day(bench):
    lookback, lag = 70, 60
    assert math.isclose(bench.lag_mass(np.full(lookback, 1 / lookback), lag), 3 / lookback)
    profile = np.zeros(lookback)
    profile[lookback - lag] = 1.0  # r_{t+1-k}: k - 1 days before the last known day (index lookback - 1)
    assert bench.lag_mass(profile, lag) == 1.0


def test_marker_oracle_is_exact():
    prices, markers = marker_return_series(n_days=3000, lag=7, noise=0.01, seed=1, marker_prob=0.05)
    assert prices.equals(lag_return_series(n_days=3000, lag=7, phi=0.0, noise=0.01, seed=1, marker_prob=0.05))
    assert markers.shape == (3000,) and 0.03 < markers.mean() < 0.07
    returns = np.diff(np.log(prices["Close"].to_numpy()))  # returns[t] = r_{t+1}
    oracle = oracle_log_returns(prices, 7, 0.0, markers=markers, noise=0.01)[:-1]  # forecast of r_{t+1}
    after_marker = np.zeros(len(returns), dtype=bool)
    after_marker[6:] = markers[:len(returns) - 6]  # r_{t+1} carries the jump of day t + 1 - 7
    residual = returns - oracle
    assert abs(returns[after_marker].mean() - MARKER_JUMP_IN_NOISE * 0.01) < 0.004  # the jump is there...
    assert abs(residual[after_marker].mean()) < 0.004  # ...and the oracle takes it out
    assert 0.0095 < residual[7:].std() < 0.0105  # what is left is the noise
    with pytest.raises(ValueError, match="noise"):
        oracle_log_returns(prices, 7, 0.0, markers=markers)


def test_ar_of_order_k_finds_the_planted_lag():
    prices = lag_return_series(n_days=3000, lag=12, phi=0.5, seed=0)
    data = prepare_forecast_data(prices, lookback=20, horizon=1)
    coefficients = fit_ar_order(data, 12)[:, 0]  # intercept, then lags 1..12
    assert coefficients.shape == (13,)
    assert abs(coefficients[12] - 0.5) < 0.08 and np.abs(coefficients[1:12]).max() < 0.08
    with pytest.raises(ValueError, match="longer lookback"):
        fit_ar_order(data, 25)


def test_skill_captured():
    assert skill_captured(0.9, 0.9) == 1.0 and skill_captured(1.0, 0.9) == 0.0
    assert math.isclose(skill_captured(0.95, 0.9), 0.5) and math.isnan(skill_captured(0.9, 1.0))
