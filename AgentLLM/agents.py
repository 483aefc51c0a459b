"""The RL agents: stable-baselines3's PPO, A2C and DQN with `MlpPolicy`, trained on the train split and
checkpointed on the validation split's first half ("select").

    result = train_agent("ppo", seed=0, market=market, settings=settings, progress=bar)
    result.positions      # (n_days,) the best checkpoint's decisions, one deterministic pass per split

Every `eval_every` steps the current policy makes one deterministic pass over "select"; its Sharpe
there decides which checkpoint is kept (the last one is not the best one: RL on noisy rewards
wanders). The test split is never read here.

Settings sized for short runs on a CPU (stable-baselines3's defaults suit millions of steps):
- gamma 0.9: a decision's consequence (its return, the cost of the next change) lives for days, not
  months; a horizon of ~10 days keeps the value estimate from averaging over a year of noise.
- PPO: 512 steps per rollout, minibatches of 64, 10 epochs: several updates even in 20k steps.
- A2C: 16-step rollouts (its default of 5 makes every update one week of noise).
- DQN: learning starts after 1,000 steps (not 100: the replay buffer needs variety first), a
  50,000-step buffer (the whole run), exploration decays over the first 30 % of steps to 5 %, the
  target network follows every 500 steps (its default of 10,000 would barely move in 20k steps).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from AgentLLM.env import TradingEnv, rollout
from AgentLLM.market import SPLITS, Market
from common.trading.performance import performance

ALGORITHMS = ("ppo", "a2c", "dqn")
HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "ppo": dict(n_steps=512, batch_size=64, n_epochs=10, learning_rate=3e-4, gamma=0.9, ent_coef=0.01),
    "a2c": dict(n_steps=16, learning_rate=7e-4, gamma=0.9, ent_coef=0.01),
    "dqn": dict(learning_starts=1000, buffer_size=50_000, exploration_fraction=0.3,
                exploration_final_eps=0.05, target_update_interval=500, train_freq=4, learning_rate=5e-4,
                gamma=0.9, batch_size=64),
}


@dataclass
class AgentSettings:
    """What train_agent needs of the stage's config."""

    timesteps: int = 20_000
    eval_every: int = 2_000
    episode_length: int = 252
    cost_bps: float = 10.0
    action_mode: str = "long_short"
    n_envs: int = 1


@dataclass
class AgentResult:
    name: str  # "ppo seed 0"
    algorithm: str
    seed: int
    positions: np.ndarray  # (n_days,) decisions of the kept checkpoint, NaN outside the decision days
    select_sharpe: float  # of the kept checkpoint
    best_step: int
    curve: dict[str, list[float]] = field(default_factory=dict)  # steps, select_sharpe, episode_*
    trials: list[float] = field(default_factory=list)  # select Sharpe of every checkpoint evaluated
    steps_per_second: float = 0.0
    model: Any = None  # the stable-baselines3 model at the kept checkpoint (not saved by pickling)


def evaluation_env(market: Market, span: str, settings: AgentSettings) -> TradingEnv:
    start, stop = market.span(span)
    return TradingEnv(market.features, market.open_, market.close, start, stop, cost_bps=settings.cost_bps,
                      action_mode=settings.action_mode, episode_length=None)


def pass_sharpe(model: Any, env: TradingEnv) -> float:
    """Annualised Sharpe of one deterministic pass of `model` over `env` (a whole split)."""
    record = rollout(env, lambda obs: model.predict(obs, deterministic=True)[0])
    return performance(record["reward"], record["position"], record["cost_paid"])["sharpe"]


def make_training_env(market: Market, settings: AgentSettings, seed: int) -> Any:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    start, stop = market.span("train")
    length = min(settings.episode_length, stop - start)
    kwargs = dict(features=market.features, open_=market.open_, close=market.close, start=start, stop=stop,
                  cost_bps=settings.cost_bps, action_mode=settings.action_mode, episode_length=length)
    vec_cls = SubprocVecEnv if settings.n_envs > 1 else DummyVecEnv  # processes only when they pay
    return make_vec_env(TradingEnv, n_envs=settings.n_envs, seed=seed, env_kwargs=kwargs, vec_env_cls=vec_cls)


def train_agent(algorithm: str, seed: int, market: Market, settings: AgentSettings,
                progress: Any = None) -> AgentResult:
    """Train one agent; keep the checkpoint with the best select Sharpe; record its decisions."""
    import time

    from stable_baselines3 import A2C, DQN, PPO
    from stable_baselines3.common.callbacks import BaseCallback

    classes = {"ppo": PPO, "a2c": A2C, "dqn": DQN}
    if algorithm not in classes:
        raise ValueError(f"unknown algorithm {algorithm!r}: use {', '.join(ALGORITHMS)}")
    if algorithm == "dqn" and settings.action_mode == "continuous":
        raise ValueError("DQN needs discrete actions: use --action-mode long_short or long_flat, or drop dqn "
                         "from --algorithms")
    name = f"{algorithm} seed {seed}"
    env = make_training_env(market, settings, seed)
    model = classes[algorithm]("MlpPolicy", env, seed=seed, verbose=0, device="cpu",
                               **HYPERPARAMETERS[algorithm])
    select_env = evaluation_env(market, "select", settings)
    curve: dict[str, list[float]] = {key: [] for key in
                                     ("steps", "select_sharpe", "episode_steps", "episode_reward")}
    kept: dict[str, Any] = {"sharpe": -np.inf, "step": 0, "state": None}

    class Checkpoints(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals.get("infos", []):
                if "episode" in info:  # the Monitor wrapper's summary of a finished episode
                    curve["episode_steps"].append(self.num_timesteps)
                    curve["episode_reward"].append(float(info["episode"]["r"]))
            if progress is not None and self.n_calls % 64 == 0:
                progress.update(64 * settings.n_envs)
            if self.n_calls % max(1, settings.eval_every // settings.n_envs) == 0:
                self.evaluate()
            return True

        def evaluate(self) -> None:
            sharpe = pass_sharpe(self.model, select_env)
            curve["steps"].append(self.num_timesteps)
            curve["select_sharpe"].append(sharpe)
            if sharpe > kept["sharpe"]:
                kept.update(sharpe=sharpe, step=self.num_timesteps,
                            state=copy.deepcopy(self.model.policy.state_dict()))
            if progress is not None:
                progress.set_postfix_str(f"{name}: select Sharpe {sharpe:+.2f} (best {kept['sharpe']:+.2f})")

    callback = Checkpoints()
    started = time.perf_counter()
    model.learn(total_timesteps=settings.timesteps, callback=callback)
    seconds = time.perf_counter() - started
    if not curve["steps"] or curve["steps"][-1] != model.num_timesteps:
        callback.evaluate()  # the final policy is a candidate too
    model.policy.load_state_dict(kept["state"])
    env.close()

    positions = np.full(market.n_days, np.nan)
    for split in SPLITS:  # one deterministic pass per split, each from a flat start
        record = rollout(evaluation_env(market, split, settings),
                         lambda obs: model.predict(obs, deterministic=True)[0])
        positions[record["day"]] = record["position"]
    return AgentResult(name=name, algorithm=algorithm, seed=seed, positions=positions,
                       select_sharpe=float(kept["sharpe"]), best_step=int(kept["step"]), curve=curve,
                       trials=list(curve["select_sharpe"]), steps_per_second=settings.timesteps / seconds,
                       model=model)


def decision_importance(model: Any, market: Market, span: str, settings: AgentSettings, seed: int
                        ) -> dict[str, float]:
    """Permutation importance: the share of the span's decisions that change when one input column is
    shuffled across days (the held weight included). 0 = the policy ignores the input."""
    env = evaluation_env(market, span, settings)
    base = rollout(env, lambda obs: model.predict(obs, deterministic=True)[0])
    observations = base["observation"]  # (days, n_features + 1)
    actions = model.predict(observations, deterministic=True)[0]
    rng = np.random.default_rng(seed)
    names = [*market.feature_names, "held weight"]
    importance = {}
    for column, column_name in enumerate(names):
        shuffled = observations.copy()
        shuffled[:, column] = rng.permutation(shuffled[:, column])
        changed = model.predict(shuffled, deterministic=True)[0]
        importance[column_name] = float(np.mean(np.any(
            np.reshape(changed, (len(changed), -1)) != np.reshape(actions, (len(actions), -1)), axis=1)))
    return importance
