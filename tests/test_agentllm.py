"""AgentLLM: a tiny run writes every file, evaluate.py recomputes its numbers from positions.csv alone,
the baselines keep the timing rules, and bad input gets one clear line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from AgentLLM import evaluate, policies
from AgentLLM import train as agent_train
from AgentLLM.market import MarketSpec, prepare_market
from common.config import preset_config
from common.forecast.synthetic import lag_return_series
from common.runs import _to_jsonable

RUN_FILES = ("config.json", "metrics.json", "positions.csv", "trials.csv", "equity.png", "positions.png",
             "training.png", "importance.png", "agent.pt")
POLICIES = (*agent_train.BASELINES, "as_trained", "guarded")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("agent") / "run"
    config = preset_config(agent_train.AgentConfig, "tiny", out=str(out), timesteps=512, eval_every=256)
    metrics = agent_train.run(config)
    return out, metrics


def test_a_tiny_run_writes_every_file_and_every_policy(tiny_run):
    out, metrics = tiny_run
    for name in RUN_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert set(metrics["policies"]) == set(POLICIES)
    assert metrics["fill"] == "next_open" and metrics["cost_bps"] == 10.0
    test = metrics["policies"]["buy_and_hold"]["test"]
    for key in ("sharpe", "sortino", "cagr", "max_drawdown", "calmar", "turnover", "exposure", "costs_paid",
                "hit_rate", "sharpe_interval", "psr_vs_zero", "psr_vs_buy_and_hold", "break_even_bps"):
        assert key in test, key
    assert metrics["deflated_sharpe"]["n_trials"] == len(pd.read_csv(out / "trials.csv"))
    assert (out / "positions_as_trained.png").is_file() != metrics["guard"]["kept"]
    # The kept policy's weights load without unpickling any object.
    saved = torch.load(out / "agent.pt", weights_only=True)
    assert saved["agent"] == metrics["chosen"]["agent"] and saved["policy"]
    # Splits are ordered and disjoint; the guarded policy is the agent or buy-and-hold, as the guard said.
    frame = pd.read_csv(out / "positions.csv")
    order = [s for s in frame["split"].drop_duplicates() if s in ("train", "validation", "test")]
    assert order == ["train", "validation", "test"]
    fallback = "as_trained" if metrics["guard"]["kept"] else "buy_and_hold"
    decided = frame["split"] != "last_fill"
    assert np.array_equal(frame.loc[decided, "guarded"], frame.loc[decided, fallback])


def test_evaluate_recomputes_every_number_from_positions_csv(tiny_run):
    out, metrics = tiny_run
    result = evaluate.rescore(out)
    for name in POLICIES:
        assert _to_jsonable(result["policies"][name]) == json.loads(json.dumps(_to_jsonable(
            metrics["policies"][name]))), name
    for key in ("kept", "p_value", "p_value_vs_buy_and_hold", "p_value_vs_cash"):  # the guard, judged again
        assert result["guard"][key] == metrics["guard"][key], key
    higher = evaluate.main(["--out", str(out), "--cost-bps", "50"])
    assert (out / "rescored" / "cost_50bps.json").is_file()
    traded = higher["policies"]["sma_20_50"]["test"]
    assert traded["costs_paid"] > metrics["policies"]["sma_20_50"]["test"]["costs_paid"]
    assert higher["policies"]["buy_and_hold"]["test"]["turnover"] == metrics["policies"]["buy_and_hold"][
        "test"]["turnover"]


def test_agent_decisions_come_from_the_kept_checkpoint_and_are_deterministic(tiny_run, tmp_path):
    out, metrics = tiny_run
    again = agent_train.run(preset_config(agent_train.AgentConfig, "tiny", out=str(tmp_path / "again"),
                                          timesteps=512, eval_every=256))
    first = pd.read_csv(out / "positions.csv")
    second = pd.read_csv(tmp_path / "again" / "positions.csv")
    pd.testing.assert_frame_equal(first, second)
    assert again["policies"]["as_trained"]["test"] == metrics["policies"]["as_trained"]["test"]


def synthetic_market(n_days=600, seed=0):
    prices = lag_return_series(n_days=n_days, lag=1, phi=0.0, seed=seed)
    return prices, prepare_market(prices, MarketSpec())


def test_baselines_decide_from_the_past_only():
    prices, market = synthetic_market()
    t = market.span("test")[0] + 10  # models are fitted and chosen before the test split: perturb inside it
    changed = prices.copy()
    rng = np.random.default_rng(1)
    noise = rng.uniform(0.8, 1.2, (len(prices) - t - 1, 1))
    changed.iloc[t + 1:, :4] = changed.iloc[t + 1:, :4].to_numpy() * noise  # Open, High, Low, Close
    # The scaler is fitted on train rows only, so it is the same for both.
    other = prepare_market(changed, MarketSpec())
    for build in (policies.sma_crossover, policies.buy_and_hold):
        assert np.array_equal(build(market)[: t + 1], build(other)[: t + 1], equal_nan=True)
    np.testing.assert_array_equal(market.features[: t + 1], other.features[: t + 1])
    supervised = policies.SupervisedPolicy.fit(market, "long_short", 10.0, seed=0)
    supervised_other = policies.SupervisedPolicy.fit(other, "long_short", 10.0, seed=0)
    # Fitted on train labels (which read fills up to the first validation day at most), band chosen on
    # select: nothing after day t reaches a decision up to t.
    assert np.array_equal(supervised.positions(market, "long_short")[: t + 1],
                          supervised_other.positions(other, "long_short")[:t + 1], equal_nan=True)


def test_random_policy_matches_the_asked_turnover():
    _, market = synthetic_market(2000)
    positions = policies.random_positions(market, 0.2, "long_short", seed=3)
    first, stop = market.decision_days
    # A redraw can land on the same weight: changes happen at 0.2 * 2/3 of the days.
    assert abs(policies.change_rate(positions, first, stop) - 0.2 * 2 / 3) < 0.03


def test_a_csv_without_open_fills_at_the_next_close(tmp_path):
    prices, _ = synthetic_market()
    frame = prices.reset_index()[["Date", "Close"]]
    market = prepare_market(prices.assign(Open=prices["Close"]), MarketSpec())
    assert market.fill == "next_close"
    assert np.array_equal(market.open_, market.close)
    csv = tmp_path / "closes.csv"
    frame.to_csv(csv, index=False)
    config = preset_config(agent_train.AgentConfig, "tiny", csv=str(csv), out=str(tmp_path / "run"),
                           timesteps=256, eval_every=128, algorithms="dqn")
    metrics = agent_train.run(config)
    assert metrics["fill"] == "next_close"


@pytest.mark.parametrize("argv, message", [
    (["--algorithms", "sac"], "--algorithms"),
    (["--action-mode", "continuous", "--algorithms", "dqn"], "DQN needs discrete actions"),
    (["--cost-bps", "-1"], "--cost-bps"),
    (["--seeds", "0"], "--seeds"),
    (["--end", "2004-12-31"], "too short"),
])
def test_bad_options_and_short_series_get_one_clear_line(argv, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        agent_train.main(["--preset", "tiny", "--out", str(tmp_path / "run"), *argv])
    assert not (tmp_path / "run").exists()


def test_evaluate_refuses_a_folder_without_positions(tmp_path):
    with pytest.raises(FileNotFoundError, match="train first"):
        evaluate.main(["--out", str(tmp_path)])
    (tmp_path / "positions.csv").write_text("date,close\n2020-01-02,1\n")
    with pytest.raises(ValueError, match="has no split, open column"):
        evaluate.main(["--out", str(tmp_path)])
