"""AgentLLM/plots.py: every figure is written as a PNG from small synthetic inputs, edge cases included
(a constant NAV, a policy always flat, an agent with no finished episode). Runs in a few seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from AgentLLM.plots import _sign_runs, plot_equity, plot_importance, plot_positions, plot_training

N_DAYS = 120
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path) -> None:
    assert path.exists() and path.stat().st_size > 1000, f"{path} is missing or nearly empty"
    assert path.read_bytes()[:8] == PNG_SIGNATURE


@pytest.fixture
def dates() -> pd.DatetimeIndex:
    return pd.bdate_range("2023-01-02", periods=N_DAYS)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_equity_with_baselines_and_a_constant_nav(tmp_path, dates, rng):
    market = np.cumsum(rng.normal(0.0005, 0.015, N_DAYS))
    log_navs = {"as_trained": np.cumsum(rng.normal(0.0008, 0.01, N_DAYS)), "guarded": 0.5 * market,
                "buy_and_hold": market, "flat": np.zeros(N_DAYS), "momentum": -market,
                "random": np.cumsum(rng.normal(0.0, 0.012, N_DAYS))}
    assert_png(plot_equity(dates, log_navs, tmp_path / "equity.png", "synthetic: test period"))
    # No highlighted policy and only a constant NAV: still a figure, with a note in the drawdown panel.
    assert_png(plot_equity(dates, {"flat": np.zeros(N_DAYS)}, tmp_path / "flat.png", "flat only"))


def test_equity_rejects_misaligned_navs(tmp_path, dates):
    with pytest.raises(ValueError, match="one value per date"):
        plot_equity(dates, {"as_trained": np.zeros(N_DAYS - 1)}, tmp_path / "bad.png", "bad")


def test_positions_long_short_and_always_flat(tmp_path, dates, rng):
    close = 100 * np.exp(np.cumsum(rng.normal(0.0, 0.015, N_DAYS)))
    positions = np.repeat([1.0, 0.0, -1.0, 0.5, -0.3, 1.0], N_DAYS // 6)
    assert_png(plot_positions(dates, close, positions, tmp_path / "positions.png", "long / short"))
    assert_png(plot_positions(dates, close, np.zeros(N_DAYS), tmp_path / "flat.png", "always flat"))


def test_sign_runs_merge_weights_of_one_sign():
    # days 0-1 long (1, then 0.5), day 2 flat, day 3 short, days 4-5 long
    assert _sign_runs(np.array([1.0, 0.5, 0.0, -1.0, 1.0, 1.0])) == [(0, 2, 1), (3, 4, -1), (4, 6, 1)]
    assert _sign_runs(np.zeros(4)) == []


def test_training_with_an_agent_without_episodes(tmp_path, rng):
    def curve(n_episodes: int, n_evaluations: int) -> dict[str, list[float]]:
        return {"episode_steps": list(np.arange(1, n_episodes + 1) * 250.0),
                "episode_reward": list(rng.normal(0.02, 0.1, n_episodes)),
                "steps": list(np.arange(1, n_evaluations + 1) * 2000.0),
                "select_sharpe": list(rng.normal(0.2, 0.5, n_evaluations))}

    curves = {"ppo seed 0": curve(80, 10), "ppo seed 1": curve(80, 10), "a2c seed 0": curve(60, 8),
              "dqn seed 0": curve(0, 5), "dqn seed 1": curve(0, 0)}
    assert_png(plot_training(curves, tmp_path / "training.png", "synthetic training"))


def test_training_rejects_unpaired_lists(tmp_path):
    curves = {"ppo seed 0": {"steps": [1.0, 2.0], "select_sharpe": [0.1],
                             "episode_steps": [], "episode_reward": []}}
    with pytest.raises(ValueError, match="pair up"):
        plot_training(curves, tmp_path / "bad.png", "bad")


def test_importance_bars(tmp_path):
    importance = {"return_1d": 0.31, "rsi_14": 0.05, "held_weight": 0.52, "volatility_20": 0.0,
                  "macd": -0.01}
    assert_png(plot_importance(importance, tmp_path / "importance.png", "what the agent looks at"))
    with pytest.raises(ValueError, match="empty"):
        plot_importance({}, tmp_path / "empty.png", "nothing")
