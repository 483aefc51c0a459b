"""The trading environment: each step the agent picks tomorrow's weight at today's close.

    TradingEnv   a gymnasium.Env over numpy arrays prepared once; reward = the day's log NAV change
    rollout      runs one episode with a policy and records every decision day

One step, in the timing of common/trading/backtest.py:

    close t:    the agent sees  obs_t = [features[t], held_t]      held_t = the weight held during day t
                and decides     w_t   (the target weight)
    open t+1:   w_t is filled, paying cost * |w_t - held_t|
    close t+1:  reward = step_log_return(held_t, w_t, open[t+1], close[t], close[t+1], cost)
                       = log NAV[t+1] - log NAV[t]      (no scaling: the sum of rewards is the log NAV)
                and the agent sees obs_{t+1} = [features[t+1], w_t]

so a decision on day t needs day t+1, and the decision days of the data are t in [start, stop) with
stop <= n_days - 1. The sum of an episode's rewards is the log NAV of the same positions in
`daily_log_returns`, to rounding.

Episodes: with `episode_length=None` one deterministic pass, start -> stop (for evaluation). With an
int, each reset draws a first day from [start, stop - episode_length] with the env's seeded `np_random`
(`random_start=False`: always `start`), so training sees many stretches of the data. A pass ends
`terminated` (the data are over); a fixed-length episode ends `truncated` (a time limit: the market goes
on, so an agent should bootstrap the value of the last observation, which stable-baselines3 does for
truncated episodes only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np

from common.trading.backtest import BPS, step_log_return

ACTION_MODES = ("long_short", "long_flat", "continuous")
# The weight each discrete action stands for: action i -> DISCRETE_WEIGHTS[mode][i].
DISCRETE_WEIGHTS = {"long_short": (-1.0, 0.0, 1.0), "long_flat": (0.0, 1.0)}


class TradingEnv(gymnasium.Env):
    """A daily long/short (or long/flat, or continuous-weight) trading environment on one price series.

    Arguments (arrays share their first axis, the day):
        features        (n_days, n_features) the scaled features of each day, known at its close; only
                        rows start..stop are used and must be finite (warm-up rows before start may be NaN)
        open_, close    (n_days,) prices, finite and positive on the used days
        start, stop     decision days t in [start, stop); day stop is the last one reached
        cost_bps        cost per side, in basis points of the traded weight
        action_mode     "long_short": Discrete(3) -> weight -1, 0, +1; "long_flat": Discrete(2) -> 0, +1;
                        "continuous": Box(-1, 1, (1,)) -> the weight itself (for PPO / A2C)
        episode_length  None: one pass start -> stop; an int: episodes of that many decisions
        random_start    with episode_length: draw each episode's first day (True) or always use start

    Observation: float32 (n_features + 1,) = [features[t], held weight on day t]; flat after reset.
    """

    metadata = {"render_modes": []}

    def __init__(self, features: np.ndarray, open_: np.ndarray, close: np.ndarray, start: int, stop: int,
                 cost_bps: float = 10.0, action_mode: str = "long_short", episode_length: int | None = None,
                 random_start: bool = True) -> None:
        super().__init__()
        features = np.asarray(features, dtype=np.float32)
        open_ = np.asarray(open_, dtype=float)
        close = np.asarray(close, dtype=float)
        if features.ndim != 2:
            raise ValueError(f"features must be 2-D (n_days, n_features), got shape {features.shape}; "
                             f"pass FeatureScaler.transform(frame) or frame.to_numpy()")
        if open_.ndim != 1 or close.ndim != 1 or not len(features) == len(open_) == len(close):
            raise ValueError(f"features, open_ and close must cover the same days: got {len(features)} rows, "
                             f"open_ {open_.shape}, close {close.shape}; slice them from one frame")
        n_days = len(close)
        if not (isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer))):
            raise ValueError(f"start and stop must be integer day positions, got {start!r}, {stop!r}")
        if not 0 <= start < stop:
            raise ValueError(f"need 0 <= start < stop (at least one decision day), got start={start}, "
                             f"stop={stop}")
        if stop > n_days - 1:
            raise ValueError(f"stop={stop} is too close to the end: the decision on day stop-1 is filled on "
                             f"day stop, so stop <= n_days - 1 = {n_days - 1}")
        used = slice(start, stop + 1)  # every day an observation or a price of the episode reads
        if not np.isfinite(features[used]).all():
            bad = start + int(np.flatnonzero(~np.isfinite(features[used]).all(axis=1))[0])
            raise ValueError(f"features hold NaN or inf on day {bad}, inside [start, stop] = [{start}, "
                             f"{stop}]; start after the warm-up (warm_up_days) or fill the extra channels")
        for name, prices in (("open_", open_[used]), ("close", close[used])):
            if not (np.isfinite(prices).all() and (prices > 0).all()):
                raise ValueError(f"{name} must be finite and positive on days [{start}, {stop}]; "
                                 f"drop or fill the bad rows first")
        if not (np.isfinite(cost_bps) and 0 <= cost_bps < 1e4):
            raise ValueError(f"cost_bps must be in [0, 10000) basis points per side, got {cost_bps!r}")
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {action_mode!r}")
        if episode_length is not None and not (isinstance(episode_length, (int, np.integer))
                                               and 1 <= episode_length <= stop - start):
            raise ValueError(f"episode_length must be None (one pass) or an int in [1, stop - start] = "
                             f"[1, {stop - start}], got {episode_length!r}")

        self.features = features
        self.open_prices = open_
        self.close_prices = close  # not `self.close`: that is gymnasium.Env.close()
        self.start, self.stop = int(start), int(stop)
        self.cost_bps = float(cost_bps)
        self.cost = self.cost_bps * BPS  # a fraction per side, as step_log_return takes it
        self.action_mode = action_mode
        self.episode_length = None if episode_length is None else int(episode_length)
        self.random_start = bool(random_start)

        n_features = features.shape[1]
        # Features are unbounded (unless scaled and clipped); the held weight is in [-1, 1].
        low = np.concatenate([np.full(n_features, -np.inf), [-1.0]]).astype(np.float32)
        high = np.concatenate([np.full(n_features, np.inf), [1.0]]).astype(np.float32)
        self.observation_space = gymnasium.spaces.Box(low, high, dtype=np.float32)
        if action_mode == "continuous":
            self.action_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        else:
            self.action_space = gymnasium.spaces.Discrete(len(DISCRETE_WEIGHTS[action_mode]))

        self._day: int | None = None  # the day whose close the agent stands at
        self._last = self.stop  # the day the current episode ends on
        self._held = 0.0
        self._log_nav = 0.0

    def action_to_weight(self, action: Any) -> float:
        """The target weight an action stands for (an index for the discrete modes, the weight itself else).

        A continuous weight is clipped to [-1, 1]: a Gaussian policy's raw sample can leave the box.
        """
        values = np.asarray(action).reshape(-1)
        if values.size != 1:
            raise ValueError(f"an action is one number, got shape {np.shape(action)}")
        value = float(values[0])
        if not np.isfinite(value):
            raise ValueError(f"the action is not finite: {action!r}")
        if self.action_mode == "continuous":
            return float(np.clip(value, -1.0, 1.0))
        weights = DISCRETE_WEIGHTS[self.action_mode]
        if not value.is_integer() or not 0 <= value < len(weights):
            raise ValueError(f"a {self.action_mode} action is an index in 0..{len(weights) - 1} "
                             f"(weights {weights}), got {action!r}")
        return weights[int(value)]

    def _observation(self) -> np.ndarray:
        obs = np.empty(self.features.shape[1] + 1, dtype=np.float32)  # a new array: callers may keep it
        obs[:-1] = self.features[self._day]
        obs[-1] = self._held
        return obs

    def _info(self, cost_paid: float) -> dict[str, Any]:
        return {"day": self._day, "nav": float(np.exp(self._log_nav)), "log_nav": self._log_nav,
                "held": self._held, "cost_paid": cost_paid}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start flat with NAV 1 on the episode's first day; `seed` seeds the draw of that day."""
        super().reset(seed=seed)
        if self.episode_length is None:
            first = self.start
            self._last = self.stop
        else:
            first = self.start
            if self.random_start:
                first = int(self.np_random.integers(self.start, self.stop - self.episode_length + 1))
            self._last = first + self.episode_length
        self._day = first
        self._held = 0.0
        self._log_nav = 0.0
        return self._observation(), self._info(0.0)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Decide the weight at close t, move to close t+1: (obs_{t+1}, reward, terminated, truncated, info).

        info: day (t+1), nav and log_nav (since reset, at close t+1), held (the weight just decided, held
        on day t+1), cost_paid (on day t+1's fill, a fraction of NAV).
        """
        if self._day is None:
            raise RuntimeError("step before reset: call env.reset() first")
        if self._day >= self._last:
            raise RuntimeError("the episode is over: call env.reset() before stepping again")
        weight = self.action_to_weight(action)
        day = self._day
        reward, cost_paid = step_log_return(self._held, weight, self.open_prices[day + 1],
                                            self.close_prices[day], self.close_prices[day + 1], self.cost)
        self._day = day + 1
        self._held = weight
        self._log_nav += reward
        done = self._day == self._last
        terminated = done and self.episode_length is None
        truncated = done and self.episode_length is not None
        return self._observation(), reward, terminated, truncated, self._info(cost_paid)


def rollout(env: TradingEnv, policy_fn: Callable[[np.ndarray], Any], seed: int | None = None
            ) -> dict[str, np.ndarray]:
    """Run one episode from `env.reset(seed=seed)` and record each decision day (n_steps rows each).

    With `episode_length=None` this is the deterministic pass start -> stop used for evaluation.
    `policy_fn(obs) -> action`, e.g. `lambda obs: model.predict(obs, deterministic=True)[0]`.

    Returns:
        day          (n_steps,) int    the decision day t
        observation  (n_steps, n_features + 1) float32, what the policy saw at close t
        action       (n_steps, ...)    what it returned
        position     (n_steps,)        the weight decided at close t (filled at open t+1)
        reward       (n_steps,)        log NAV change of day t+1
        nav          (n_steps,)        NAV at close t+1 (1 at the episode's start)
        cost_paid    (n_steps,)        cost of the fill at open t+1, a fraction of NAV
    """
    records: dict[str, list] = {key: [] for key in
                                ("day", "observation", "action", "position", "reward", "nav", "cost_paid")}
    obs, info = env.reset(seed=seed)
    while True:
        action = policy_fn(obs)
        records["day"].append(info["day"])
        records["observation"].append(obs)
        records["action"].append(np.asarray(action))
        records["position"].append(env.action_to_weight(action))
        obs, reward, terminated, truncated, info = env.step(action)
        records["reward"].append(reward)
        records["nav"].append(info["nav"])
        records["cost_paid"].append(info["cost_paid"])
        if terminated or truncated:
            break
    out = {key: np.asarray(values) for key, values in records.items()}
    out["day"] = out["day"].astype(np.int64)
    out["observation"] = out["observation"].astype(np.float32)
    return out
