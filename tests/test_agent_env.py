"""AgentLLM features and TradingEnv: the gym contracts, no day seeing its future, and the accounting
reconciled with common/trading/backtest.py. Tiny synthetic prices; the whole file runs in seconds."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from AgentLLM.env import ACTION_MODES, TradingEnv, rollout
from AgentLLM.features import FeatureScaler, add_extra_channels, observation_features, warm_up_days
from common.trading.backtest import BPS, daily_log_returns

N_DAYS = 300
START = warm_up_days()  # the first day with every feature defined
TRAIN_STOP = 150  # the scaler's training rows are [START, TRAIN_STOP)
COST_BPS = 10.0
# Known, harmless check_env warnings: feature bounds are infinite (the env does not bound what it is
# given) and an env built without gymnasium.make has no spec to test render modes with.
EXPECTED_WARNINGS = ("infinity", "render modes")


def make_prices(n_days: int = N_DAYS, seed: int = 0) -> pd.DataFrame:
    """A random walk in log Close with an overnight gap to each Open."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n_days)))
    previous_close = np.concatenate([[100.0], close[:-1]])
    open_ = previous_close * np.exp(rng.normal(0.0, 0.005, n_days))
    return pd.DataFrame({"Open": open_, "Close": close}, index=pd.bdate_range("2020-01-01", periods=n_days))


def scaled_features(prices: pd.DataFrame, scaler: FeatureScaler | None = None) -> np.ndarray:
    frame = observation_features(prices)
    scaler = scaler or FeatureScaler().fit(frame, slice(START, TRAIN_STOP))
    return scaler.transform(frame)


def make_env(prices: pd.DataFrame, scaler: FeatureScaler | None = None, **kwargs) -> TradingEnv:
    settings = {"start": START, "stop": len(prices) - 1, "cost_bps": COST_BPS} | kwargs
    return TradingEnv(scaled_features(prices, scaler), prices["Open"].to_numpy(), prices["Close"].to_numpy(),
                      **settings)


def linear_sign_policy(obs_dim: int, seed: int = 1) -> Callable[[np.ndarray], int]:
    """A fixed deterministic long_short policy of the observation: the sign of a linear map -> index."""
    weights = np.random.default_rng(seed).normal(size=obs_dim)
    return lambda obs: int(np.sign(float(obs @ weights))) + 1


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return make_prices()


# ---- the gym contracts ------------------------------------------------------------------------------


@pytest.mark.parametrize("episode_length", [None, 20])
@pytest.mark.parametrize("action_mode", ACTION_MODES)
def test_env_passes_gymnasium_and_sb3_checkers(prices, action_mode, episode_length):
    env = make_env(prices, action_mode=action_mode, episode_length=episode_length)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gymnasium_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)
    messages = [str(warning.message) for warning in caught]
    assert [text for text in messages if not any(known in text for known in EXPECTED_WARNINGS)] == []


def test_observation_is_features_plus_held_weight(prices):
    env = make_env(prices)
    features = env.features
    obs, info = env.reset()
    assert obs.dtype == np.float32 and obs.shape == (features.shape[1] + 1,)
    assert info["day"] == START and obs[-1] == 0.0  # flat after reset
    np.testing.assert_array_equal(obs[:-1], features[START])
    obs, _, _, _, info = env.step(0)  # short
    assert info["day"] == START + 1 and obs[-1] == -1.0 and info["held"] == -1.0
    np.testing.assert_array_equal(obs[:-1], features[START + 1])


# ---- features ---------------------------------------------------------------------------------------


def test_feature_columns_and_warm_up(prices):
    features = observation_features(prices, n_returns=5)
    assert list(features.columns) == [f"ret_{k}" for k in range(5)] + [
        "rsi", "macd", "macd_signal", "close_sma20", "close_sma50", "bollinger_b", "volatility"]
    assert features.index.equals(prices.index)
    first = warm_up_days(5)
    assert features.iloc[first - 1].isna().any() and features.iloc[first:].notna().all().all()
    assert "macd_signal" not in observation_features(prices, macd_signal=False).columns


def test_features_match_their_definitions(prices):
    features = observation_features(prices)
    log_close = np.log(prices["Close"].to_numpy())
    t = 200
    assert features["ret_0"].iloc[t] == pytest.approx(log_close[t] - log_close[t - 1], abs=1e-15)
    assert features["ret_3"].iloc[t] == pytest.approx(log_close[t - 3] - log_close[t - 4], abs=1e-15)
    last_returns = np.diff(log_close[t - 20 : t + 1])  # the 20 returns ending today
    volatility = np.std(last_returns, ddof=1) * np.sqrt(252)
    assert features["volatility"].iloc[t] == pytest.approx(volatility, rel=1e-9)
    close = prices["Close"].to_numpy()
    sma50 = close[t - 49 : t + 1].mean()
    assert features["close_sma50"].iloc[t] == pytest.approx(close[t] / sma50 - 1, rel=1e-9)
    window = close[t - 19 : t + 1]
    lower, upper = window.mean() - 2 * window.std(), window.mean() + 2 * window.std()
    assert features["bollinger_b"].iloc[t] == pytest.approx((close[t] - lower) / (upper - lower), rel=1e-9)
    assert features["rsi"].dropna().between(0, 1).all()


def test_features_are_stationary_ratios_without_price_levels(prices):
    # The same path at ten times the price gives the same features: no column carries a price level.
    tenfold = prices * 10.0
    pd.testing.assert_frame_equal(observation_features(tenfold), observation_features(prices), rtol=1e-9)


def test_flat_prices_give_defined_features():
    flat = pd.DataFrame({"Open": 50.0, "Close": 50.0}, index=range(80))
    features = observation_features(flat).iloc[warm_up_days():]
    assert features.notna().all().all()
    assert (features["bollinger_b"] == 0.5).all() and (features["rsi"] == 0.5).all()


# ---- no day sees its future -------------------------------------------------------------------------


def with_noise_after(prices: pd.DataFrame, t: int, seed: int = 123) -> pd.DataFrame:
    """Every row after day t replaced by positive random prices (a different future)."""
    rng = np.random.default_rng(seed)
    perturbed = prices.copy()
    perturbed.iloc[t + 1 :] = rng.uniform(20.0, 300.0, size=perturbed.iloc[t + 1 :].shape)
    return perturbed


def with_nan_after(prices: pd.DataFrame, t: int) -> pd.DataFrame:
    """Every row after day t blanked (a future not yet known)."""
    perturbed = prices.copy()
    perturbed.iloc[t + 1 :] = np.nan
    return perturbed


def future_changes_past(build: Callable[[pd.DataFrame], pd.DataFrame], prices: pd.DataFrame, t: int) -> bool:
    """True when replacing every price row after day t (by noise, or by NaN) changes any output row <= t.

    A causal feature builder gives bit-identical rows <= t: nothing it computes for day t may read a
    later row, so the check is exact equality (NaN equal to NaN).
    """
    reference = build(prices).to_numpy(dtype=float)[: t + 1]
    for perturbed in (with_noise_after(prices, t), with_nan_after(prices, t)):
        past = build(perturbed).to_numpy(dtype=float)[: t + 1]
        if not np.array_equal(past, reference, equal_nan=True):
            return True
    return False


CHECK_DAYS = (START - 5, START, 120, 200, N_DAYS - 2)


@pytest.mark.parametrize("t", CHECK_DAYS)
def test_features_do_not_see_the_future(prices, t):
    assert not future_changes_past(observation_features, prices, t)


def test_leak_canary_is_caught(prices):
    def with_tomorrows_return(frame: pd.DataFrame) -> pd.DataFrame:
        features = observation_features(frame)
        features["tomorrow"] = np.log(frame["Close"]).diff().shift(-1)  # the leak: day t+1's return on day t
        return features

    assert all(future_changes_past(with_tomorrows_return, prices, t) for t in CHECK_DAYS)


@pytest.mark.parametrize("t", (START, START + 1, 120, 200, N_DAYS - 3))
def test_env_does_not_see_the_future(prices, t):
    # The scaler is a fixed parameter of the agent: fitted once on the clean training rows.
    scaler = FeatureScaler().fit(observation_features(prices), slice(START, TRAIN_STOP))
    clean_env, future_env = make_env(prices, scaler), make_env(with_noise_after(prices, t), scaler)
    policy = linear_sign_policy(clean_env.observation_space.shape[0])
    clean, other = rollout(clean_env, policy), rollout(future_env, policy)
    upto_t = clean["day"] <= t  # observations and actions made at the close of days <= t
    np.testing.assert_array_equal(other["observation"][upto_t], clean["observation"][upto_t])
    np.testing.assert_array_equal(other["action"][upto_t], clean["action"][upto_t])
    reached_by_t = clean["day"] + 1 <= t  # rewards returned on reaching days <= t
    np.testing.assert_array_equal(other["reward"][reached_by_t], clean["reward"][reached_by_t])
    # and the perturbation is real: the first observation after t differs
    after_t = clean["day"] == t + 1
    assert not np.array_equal(other["observation"][after_t], clean["observation"][after_t])


# ---- the accounting, reconciled with backtest.py ----------------------------------------------------


@pytest.mark.parametrize("action_mode,long_action", [("long_short", 2), ("long_flat", 1),
                                                      ("continuous", np.array([1.0], dtype=np.float32))])
def test_always_long_is_buy_and_hold(prices, action_mode, long_action):
    env = make_env(prices, action_mode=action_mode)
    record = rollout(env, lambda obs: long_action)
    cost = COST_BPS * BPS
    buy_and_hold = (1 - cost) * prices["Close"].iloc[env.stop] / prices["Open"].iloc[START + 1]
    assert record["nav"][-1] == pytest.approx(buy_and_hold, abs=1e-9)
    assert record["day"][0] == START and record["day"][-1] == env.stop - 1
    assert record["cost_paid"].sum() == pytest.approx(cost)  # one fill, from flat to long


def test_alternating_on_constant_prices_loses_exactly_the_costs():
    n_days = 60
    constant = np.full(n_days, 100.0)
    env = TradingEnv(np.zeros((n_days, 3), dtype=np.float32), constant, constant, start=5, stop=n_days - 1,
                     cost_bps=COST_BPS, action_mode="long_flat")
    record = rollout(env, lambda obs: 0 if obs[-1] == 1.0 else 1)  # flip every day
    n_changes = int(np.count_nonzero(np.diff(np.concatenate([[0.0], record["position"]]))))
    assert n_changes == len(record["position"])  # every decision trades
    cost = COST_BPS * BPS
    assert np.log(record["nav"][-1]) == pytest.approx(n_changes * np.log(1 - cost), abs=1e-12)
    # a round trip (in and out) costs 2 x cost of NAV, to first order
    assert record["nav"][1] == pytest.approx((1 - cost) ** 2, abs=1e-15)


@pytest.mark.parametrize("action_mode", ACTION_MODES)
def test_rewards_equal_daily_log_returns(prices, action_mode):
    env = make_env(prices, action_mode=action_mode)
    signs = linear_sign_policy(env.observation_space.shape[0])
    if action_mode == "long_short":
        policy = signs
    elif action_mode == "long_flat":
        policy = lambda obs: int(signs(obs) == 2)  # noqa: E731
    else:
        policy = lambda obs: np.array([0.5 * (signs(obs) - 1)], dtype=np.float32)  # noqa: E731
    record = rollout(env, policy)
    positions = np.zeros(len(prices))
    positions[record["day"]] = record["position"]
    assert len(np.unique(record["position"])) > 1
    open_, close = prices["Open"].to_numpy(), prices["Close"].to_numpy()
    log_returns, cost_paid = daily_log_returns(open_, close, positions, COST_BPS)
    reached = record["day"] + 1
    np.testing.assert_allclose(record["reward"], log_returns[reached], rtol=0, atol=1e-12)
    np.testing.assert_allclose(record["cost_paid"], cost_paid[reached], rtol=0, atol=1e-15)
    assert np.log(record["nav"][-1]) == pytest.approx(log_returns[START + 1 : env.stop + 1].sum(), abs=1e-12)


def test_continuous_short_matches_long_short(prices):
    n_steps = N_DAYS - 1 - START
    weights = np.random.default_rng(5).choice([-1.0, 0.0, 1.0], size=n_steps, p=[0.5, 0.2, 0.3])
    as_index, as_weight = iter(weights.astype(int) + 1), iter(weights)  # one action per decision day
    by_index = rollout(make_env(prices, action_mode="long_short"), lambda obs: next(as_index))
    by_weight = rollout(make_env(prices, action_mode="continuous"),
                        lambda obs: np.array([next(as_weight)], dtype=np.float32))
    np.testing.assert_array_equal(by_index["position"], weights)
    assert (by_index["position"] == -1.0).sum() > 50
    np.testing.assert_array_equal(by_weight["position"], by_index["position"])
    np.testing.assert_array_equal(by_weight["reward"], by_index["reward"])


# ---- episodes ---------------------------------------------------------------------------------------


def test_seeded_episodes_are_reproducible(prices):
    actions = np.random.default_rng(9).integers(0, 3, size=40)

    def run(env: TradingEnv, seed: int) -> tuple[int, list[float]]:
        _, info = env.reset(seed=seed)
        rewards = [env.step(int(action))[1] for action in actions]
        return info["day"], rewards

    first, second = make_env(prices, episode_length=40), make_env(prices, episode_length=40)
    assert run(first, 3) == run(second, 3) == run(first, 3)
    assert len({run(first, seed)[0] for seed in range(10)}) > 1  # different seeds, different starts


def test_random_starts_stay_inside_the_data(prices):
    length = 30
    env = make_env(prices, episode_length=length, stop=250)
    starts = []
    for seed in range(60):
        record = rollout(env, lambda obs: 2, seed=seed)
        starts.append(record["day"][0])
        assert len(record["day"]) == length
        assert START <= record["day"].min() and record["day"].max() < env.stop
    assert min(starts) >= START and max(starts) <= env.stop - length
    # a fixed-length episode is cut by a time limit (truncated); a full pass ends with the data (terminated)
    env.reset(seed=0)
    *_, terminated, truncated, _ = [env.step(2) for _ in range(length)][-1]
    assert truncated and not terminated
    fixed = make_env(prices, episode_length=length, random_start=False)
    assert {rollout(fixed, lambda obs: 1, seed=seed)["day"][0] for seed in range(5)} == {START}


def test_step_after_the_end_raises(prices):
    env = make_env(prices, stop=START + 2)
    env.reset()
    env.step(1)
    assert env.step(1)[2]  # terminated on reaching stop
    with pytest.raises(RuntimeError, match="reset"):
        env.step(1)


# ---- bad input ---------------------------------------------------------------------------------------


def test_bad_env_input_raises(prices):
    features = scaled_features(prices)
    open_, close = prices["Open"].to_numpy(), prices["Close"].to_numpy()
    with pytest.raises(ValueError, match="NaN or inf on day"):
        TradingEnv(features, open_, close, start=START - 1, stop=N_DAYS - 1)  # the warm-up row is used
    holed = features.copy()
    holed[200, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or inf on day 200"):
        TradingEnv(holed, open_, close, start=START, stop=N_DAYS - 1)
    with pytest.raises(ValueError, match="start < stop"):
        TradingEnv(features, open_, close, start=100, stop=100)
    with pytest.raises(ValueError, match="too close to the end"):
        TradingEnv(features, open_, close, start=START, stop=N_DAYS)
    with pytest.raises(ValueError, match="same days"):
        TradingEnv(features[:-1], open_, close, start=START, stop=N_DAYS - 2)
    with pytest.raises(ValueError, match="same days"):
        TradingEnv(features, open_[:-1], close, start=START, stop=N_DAYS - 2)
    with pytest.raises(ValueError, match="action_mode"):
        TradingEnv(features, open_, close, start=START, stop=N_DAYS - 1, action_mode="short_only")
    with pytest.raises(ValueError, match="episode_length"):
        TradingEnv(features, open_, close, start=START, stop=START + 10, episode_length=11)
    with pytest.raises(ValueError, match="positive"):
        TradingEnv(features, open_, -close, start=START, stop=N_DAYS - 1)
    env = TradingEnv(features, open_, close, start=START, stop=N_DAYS - 1)
    env.reset()
    with pytest.raises(ValueError, match="index in 0..2"):
        env.step(3)


def test_bad_feature_input_raises(prices):
    with pytest.raises(ValueError, match="Close column"):
        observation_features(prices.rename(columns={"Close": "close"}))
    holed = prices.copy()
    holed.iloc[100, 1] = np.nan
    with pytest.raises(ValueError, match="NaN between known days"):
        observation_features(holed)


# ---- scaler and extra channels -----------------------------------------------------------------------


def test_scaler_uses_training_rows_only_and_clips(prices):
    frame = observation_features(prices)
    scaler = FeatureScaler().fit(frame, slice(START, TRAIN_STOP))
    later_changed = frame.copy()
    later_changed.iloc[TRAIN_STOP:] *= 100.0
    refit = FeatureScaler().fit(later_changed, slice(START, TRAIN_STOP))
    np.testing.assert_array_equal(refit.mean, scaler.mean)
    np.testing.assert_array_equal(refit.std, scaler.std)
    train = scaler.transform(frame)[START:TRAIN_STOP]
    assert train.dtype == np.float32
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-5)
    scaled = scaler.transform(later_changed)
    assert np.nanmax(np.abs(scaled)) == pytest.approx(5.0) and np.isnan(scaled[: START - 1]).any()
    with pytest.raises(ValueError, match="warm-up"):
        FeatureScaler().fit(frame, slice(0, TRAIN_STOP))
    with pytest.raises(ValueError, match="differ from the fitted"):
        scaler.transform(frame.drop(columns="rsi"))


def test_scaler_round_trips_through_json(prices):
    frame = observation_features(prices)
    scaler = FeatureScaler(clip=4.0).fit(frame, slice(START, TRAIN_STOP))
    restored = FeatureScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(restored.transform(frame), scaler.transform(frame))
    assert restored.clip == 4.0


def test_extra_channels_are_appended_and_validated(prices):
    features = observation_features(prices)
    forecast = pd.DataFrame({"forecast": np.linspace(-1, 1, N_DAYS)}, index=prices.index)
    combined = add_extra_channels(features, forecast)
    assert list(combined.columns) == list(features.columns) + ["forecast"]
    np.testing.assert_array_equal(combined["forecast"].to_numpy(), forecast["forecast"].to_numpy())
    late = forecast.copy()
    late.iloc[:100] = np.nan  # known only from day 100
    with pytest.raises(ValueError, match="NaN or inf in the rows the agent uses"):
        add_extra_channels(features, late)
    assert add_extra_channels(features, late, rows=slice(100, None))["forecast"].iloc[100:].notna().all()
    with pytest.raises(ValueError, match="exactly the features' index"):
        add_extra_channels(features, forecast.iloc[1:])
    with pytest.raises(ValueError, match="repeats"):
        add_extra_channels(features, features[["rsi"]])
