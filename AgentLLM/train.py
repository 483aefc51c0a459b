"""Stage 6, AgentLLM: a reinforcement-learning agent that reads the market each evening and picks
tomorrow's position, beside every baseline a trader would try first, scored by a backtest whose every
number can be recomputed from one CSV.

    python AgentLLM/train.py                              # GOOG: PPO, A2C, DQN x 3 seeds + baselines
    python AgentLLM/train.py --csv prices.csv --cost-bps 5
    python AgentLLM/train.py --csv prices.csv --text-column headline   # + the day's text, read by Stage 5
    python AgentLLM/train.py --forecast-models transformer  # + Stage 4's walk-forward forecasts
    python AgentLLM/train.py --algorithms ppo --seeds 5 --action-mode long_flat
    python AgentLLM/train.py --preset tiny                # seconds: checks the plumbing, not the agent
    python AgentLLM/evaluate.py --out outputs/AgentLLM --cost-bps 25   # re-score the saved positions

The recipe:
1. prices -> causal features scaled on the train split -> train / validation (select, guard) / test;
2. each agent (algorithm x seed) learns on train in episodes of a year at random offsets; its
   checkpoint with the best Sharpe on "select" is kept (common/trading, AgentLLM/agents.py);
3. the baselines decide on the same days: flat, buy-and-hold, SMA 20/50, a supervised logistic policy
   with a no-trade band chosen on "select", a random policy with the agent's turnover;
4. as trained: the algorithm with the best median select Sharpe, its best seed. Guarded: that agent
   only if a bootstrap on "guard" says it beats buy-and-hold and cash, else buy-and-hold;
5. every policy is scored on every split by one accounting (decide at the close, fill at the next
   open, pay --cost-bps on every change), test read once, with intervals, PSR and the deflated Sharpe.

The run folder gets config.json, metrics.json, positions.csv (every policy's position per day with the
prices), trials.csv (every configuration tried), equity.png, positions.png (and
positions_as_trained.png when the guard falls back), training.png, importance.png and agent.pt
(the kept policy network's weights, loaded with weights_only).
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from tqdm import tqdm

from AgentLLM import policies
from AgentLLM.agents import ALGORITHMS, AgentResult, AgentSettings, decision_importance, train_agent
from AgentLLM.env import ACTION_MODES
from AgentLLM.forecast import agent_columns, column_name, forecast_channels, save_channel
from AgentLLM.market import FILLS, SPLITS, Market, MarketSpec, prepare_market
from AgentLLM.scoring import guard_verdict, score_policies, score_span
from common.config import finite, option, parse_config, require, require_at_least, run_cli
from common.forecast.prices import PriceOptions
from common.forecast.windows import TRADING_DAYS
from common.paths import output_dir
from common.runs import run_transaction, write_json
from common.seed import set_seed
from common.trading.significance import SHARPE_NOTE, deflated_sharpe_ratio

STAGE = "AgentLLM"
BASELINES = ("flat", "buy_and_hold", "sma_20_50", "supervised", "random")


@dataclass
class AgentConfig(PriceOptions):
    # tiny: one short PPO run that still writes every file of a real run
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": dict(algorithms="ppo", seeds=1, timesteps=1024, eval_every=512, bootstrap_reps=100,
                     episode_length=64, forecast_preset="tiny", forecast_folds=2),
    }
    csv: str | None = option(None, "read prices from this CSV instead (Date and Close; Open for next-open "
                                   "fills, else fills at the next close)")
    text_column: str | None = option(None, "a column of --csv holding each day's text (known by its close): "
                                           "read by Stage 5's sentiment model into three class "
                                           "probabilities that join the observation (AgentLLM/text.py)")
    llmind_run: str = option(str(output_dir("LLMind")), "--text-column: the LLMind run folder whose "
                                                        "fine-tuned model reads the text; without a saved "
                                                        "run, Stage 5's frozen MiniLM + logistic regression")
    forecast_models: str = option("", "comma-separated Stage 3/4 networks (transformer, lstm) whose next-day "
                                      "forecasts join the observation and give sign baselines; each is "
                                      "refitted walk-forward, so every forecast is out of sample "
                                      "(AgentLLM/forecast.py; about 2 minutes per network on GOOG)")
    forecast_folds: int = option(4, "walk-forward blocks of the forecast channel after a 30 % burn-in: "
                                    "more blocks, fresher networks, more refits")
    forecast_preset: str = option("", "the forecasting stages' preset (tiny: seconds, learns nothing)")
    forecast_input: bool = option(True, "the agent reads the forecasts; --no-forecast-input keeps them for "
                                        "the sign baselines only (the ablation's prices-only run)")
    forecast_csv: str | None = option(None, "reuse the forecasts.csv of an earlier run on the same prices "
                                            "instead of refitting the networks")
    train_fraction: float = option(0.70, "oldest share of decision days: the agents learn here")
    validation_fraction: float = option(0.15, "next share: checkpoints and choices (first half), the guard "
                                              "(second half); the rest is test")
    n_returns: int = option(10, "past daily returns in the observation: two trading weeks")
    cost_bps: float = option(10.0, "cost per side in basis points of the traded weight (spread + fees)")
    action_mode: str = option("long_short", "long_short: {-1, 0, 1}; long_flat: {0, 1}; continuous: a "
                              "weight in [-1, 1] (PPO and A2C only)", choices=ACTION_MODES)
    algorithms: str = option("ppo,a2c,dqn", "comma-separated stable-baselines3 algorithms to train")
    seeds: int = option(3, "seeds per algorithm: the spread over seeds is part of the result")
    seed: int = option(0, "first seed; agent k of an algorithm uses seed + k")
    timesteps: int = option(20_000, "environment steps per agent: ~13 passes over 1,500 training days")
    eval_every: int = option(2_000, "steps between checkpoint evaluations on the select half")
    episode_length: int = option(252, "days per training episode (one trading year), at random offsets")
    n_envs: int = option(1, "parallel training environments (subprocesses when > 1: one per spare core)")
    guard_alpha: float = option(0.05, "the guard keeps the agent if the bootstrap p-values of 'no Sharpe "
                                      "lead over buy-and-hold' and 'Sharpe <= 0' on the guard half are "
                                      "both below this")
    bootstrap_reps: int = option(1000, "stationary-bootstrap resamples for every interval")
    threads: int = option(1, "PyTorch threads (0: one per physical core); the policy networks are tiny, one "
                                "thread is fastest")
    out: str = option(str(output_dir(STAGE)), "run folder for results, positions and plots")
    preset: str = option("", "named settings resolved first (tiny: seconds, checks the plumbing)")

    def algorithm_list(self) -> list[str]:
        names = [name.strip().lower() for name in self.algorithms.split(",") if name.strip()]
        unknown = [name for name in names if name not in ALGORITHMS]
        if not names or unknown:
            raise ValueError(f"--algorithms takes a comma-separated subset of {', '.join(ALGORITHMS)}, "
                             f"got {self.algorithms!r}")
        if self.action_mode == "continuous" and "dqn" in names:
            raise ValueError("DQN needs discrete actions: drop dqn from --algorithms for --action-mode "
                             "continuous")
        return names

    def forecast_model_list(self) -> list[str]:
        from AgentLLM.forecast import FORECAST_MODELS

        names = [name.strip().lower() for name in self.forecast_models.split(",") if name.strip()]
        unknown = [name for name in names if name not in FORECAST_MODELS]
        if unknown or len(set(names)) != len(names):
            raise ValueError(f"--forecast-models takes a comma-separated subset of "
                             f"{', '.join(FORECAST_MODELS)}, got {self.forecast_models!r}")
        return names

    def validate(self) -> None:
        self.algorithm_list()
        if not self.forecast_model_list() and self.forecast_csv:
            raise ValueError("--forecast-csv needs --forecast-models (the networks whose columns to read)")
        require(self, self.forecast_preset in ("", "tiny"), "forecast_preset", "'' or tiny")
        require_at_least(self, 1, "forecast_folds")
        if self.text_column and not self.csv:
            raise ValueError("--text-column reads a column of your price file: give --csv too (GOOG's "
                             "embedded prices have no dated text)")
        require_at_least(self, 1, "seeds", "eval_every", "n_envs", "n_returns")
        require_at_least(self, 2, "episode_length")
        require_at_least(self, 10, "bootstrap_reps")
        require_at_least(self, 64, "timesteps")
        require(self, 0 <= finite(self.cost_bps) < 1e4, "cost_bps", "in [0, 10000) basis points per side")
        require(self, 0 < finite(self.guard_alpha) < 1, "guard_alpha", "a probability in (0, 1)")
        require(self, 0 <= self.threads <= 1024, "threads", "0 (one per physical core) to 1024")

    def settings(self) -> AgentSettings:
        return AgentSettings(timesteps=self.timesteps, eval_every=self.eval_every,
                             episode_length=self.episode_length, cost_bps=self.cost_bps,
                             action_mode=self.action_mode, n_envs=self.n_envs)


def sign_policy(model: str, guarded: bool) -> str:
    return f"sign_{model}" + ("_guarded" if guarded else "")


def choose_agent(agents: list[AgentResult]) -> AgentResult:
    """The algorithm with the best median select Sharpe over its seeds, then its best seed there."""
    by_algorithm: dict[str, list[AgentResult]] = {}
    for agent in agents:
        by_algorithm.setdefault(agent.algorithm, []).append(agent)
    best_algorithm = max(by_algorithm,
                         key=lambda name: np.median([agent.select_sharpe for agent in by_algorithm[name]]))
    return max(by_algorithm[best_algorithm], key=lambda agent: agent.select_sharpe)


def guard(market: Market, as_trained: np.ndarray, hold: np.ndarray, config: AgentConfig) -> dict[str, Any]:
    """The deployment decision on the guard half (AgentLLM/scoring.py: guard_verdict)."""
    return guard_verdict(market.open_, market.close, as_trained, hold, market.span("guard"), config.cost_bps,
                         config.guard_alpha, config.bootstrap_reps, config.seed)


def agent_summary(agents: list[AgentResult], table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per algorithm: median and range over seeds of the test Sharpe, and the share beating buy-and-hold."""
    hold_sharpe = table["buy_and_hold"]["test"]["sharpe"]
    summary = {}
    for algorithm in dict.fromkeys(agent.algorithm for agent in agents):
        test = [table[agent.name]["test"]["sharpe"] for agent in agents if agent.algorithm == algorithm]
        select = [agent.select_sharpe for agent in agents if agent.algorithm == algorithm]
        summary[algorithm] = {"seeds": len(test), "test_sharpe_median": float(np.median(test)),
                              "test_sharpe_min": float(np.min(test)), "test_sharpe_max": float(np.max(test)),
                              "select_sharpe_median": float(np.median(select)),
                              "share_beating_buy_and_hold": float(np.mean(np.array(test) > hold_sharpe))}
    return summary


def every_trial(agents: list[AgentResult], supervised: policies.SupervisedPolicy) -> list[dict[str, Any]]:
    """Every configuration that could have been chosen, with its select Sharpe: each checkpoint of each
    agent and each (C, band) of the supervised policy. The deflated Sharpe counts them all."""
    trials = [{"kind": "agent checkpoint", "name": agent.name, "select_sharpe": sharpe}
              for agent in agents for sharpe in agent.trials]
    trials += [{"kind": "supervised", "name": f"C={trial['C']} band={trial['band']}",
                "select_sharpe": trial["select_sharpe"]} for trial in supervised.trials]
    return trials


def positions_frame(market: Market, policies_by_name: dict[str, np.ndarray]) -> pd.DataFrame:
    """positions.csv: one row per day from the first decision on: the fill and close prices, the split
    of the day's decision, and each policy's weight decided at that close (held from the next fill)."""
    first = market.first_day
    frame = pd.DataFrame({"date": market.dates[first:].strftime("%Y-%m-%d"),
                          "split": market.split_of_day()[first:],
                          "open": market.open_[first:], "close": market.close[first:]})
    for name, positions in policies_by_name.items():
        frame[name.replace(" ", "_")] = positions[first:]
    return frame


def run(config: AgentConfig) -> dict[str, Any]:
    """Train every agent and baseline as `config` says and write the run folder; returns metrics.json."""
    config.validate()
    prices = config.load()
    text, text_info = None, "unavailable: no dated text offline for these prices"
    if config.text_column:
        from AgentLLM.text import channel_from_csv

        text, text_info = channel_from_csv(config.csv, config.text_column, prices.index, config.llmind_run)
    models = config.forecast_model_list()
    forecasts = None
    if models:
        forecasts = forecast_channels(prices, models, config.forecast_folds, config.seed,
                                      config.forecast_preset, config.forecast_csv)
    read = forecasts.frame[agent_columns(models)] if forecasts and config.forecast_input else None
    extra = [frame for frame in (text, read) if frame is not None]
    market = prepare_market(prices, MarketSpec(config.n_returns, config.train_fraction,
                                               config.validation_fraction),
                            extra=pd.concat(extra, axis=1) if extra else None)
    settings = config.settings()
    with runtime.torch_settings(config.threads), run_transaction(config.out, stage=STAGE) as staging:
        started = time.perf_counter()
        agents: list[AgentResult] = []
        jobs = [(name, config.seed + k) for name in config.algorithm_list() for k in range(config.seeds)]
        with tqdm(total=len(jobs) * config.timesteps, unit="step", desc=STAGE, dynamic_ncols=True) as bar:
            for algorithm, seed in jobs:
                set_seed(seed)
                agents.append(train_agent(algorithm, seed, market, settings, progress=bar))
        chosen = choose_agent(agents)

        # The baselines, on the same days.
        named = {"flat": policies.flat(market), "buy_and_hold": policies.buy_and_hold(market),
                 "sma_20_50": policies.sma_crossover(market)}
        supervised = policies.SupervisedPolicy.fit(market, config.action_mode, config.cost_bps, config.seed)
        named["supervised"] = supervised.positions(market, config.action_mode)
        test_start, test_stop = market.span("test")
        rate = policies.change_rate(chosen.positions, test_start, test_stop)
        named["random"] = policies.random_positions(market, rate, config.action_mode, config.seed)
        for model in models:  # the sign of each Stage 3/4 forecast, as trained and as its guard deploys it
            for guarded in (False, True):
                forecast = forecasts.frame[column_name(model, guarded)].to_numpy()
                named[sign_policy(model, guarded)] = policies.forecast_sign(market, forecast,
                                                                            config.action_mode)
        baselines = [*BASELINES, *(sign_policy(model, guarded) for model in models
                                   for guarded in (False, True))]
        verdict = guard(market, chosen.positions, named["buy_and_hold"], config)
        named["as_trained"] = chosen.positions
        named["guarded"] = chosen.positions if verdict["kept"] else named["buy_and_hold"]
        for agent in agents:
            named[agent.name] = agent.positions

        spans = {split: market.span(split) for split in SPLITS}
        table = score_policies(market.open_, market.close, named, spans, config.cost_bps, seed=config.seed,
                               reps=config.bootstrap_reps)
        trials = every_trial(agents, supervised)
        _, chosen_test = score_span(market.open_, market.close, chosen.positions, spans["test"],
                                    config.cost_bps)
        trial_sharpes = np.array([trial["select_sharpe"] for trial in trials]) / math.sqrt(TRADING_DAYS)
        deflated = deflated_sharpe_ratio(np.expm1(chosen_test), trial_sharpes)  # daily Sharpes
        importance = decision_importance(chosen.model, market, "test", settings, config.seed)

        metrics = {
            "stage": STAGE, "cost_bps": config.cost_bps, "fill": market.fill, "fill_rule": FILLS[market.fill],
            "action_mode": config.action_mode,
            "data": {"source": config.source_name(),
                     "rows": market.n_days, "first_decision": str(market.dates[market.first_day].date()),
                     "features": market.feature_names,
                     "text_channel": text_info,
                     "forecast_channel": forecasts.info if forecasts else "off (--forecast-models)"},
            "splits": {name: {"first_decision": str(market.dates[a].date()),
                              "last_decision": str(market.dates[b - 1].date()), "days": b - a}
                       for name, (a, b) in market.borders.items()},
            "chosen": {"agent": chosen.name, "select_sharpe": chosen.select_sharpe,
                       "best_step": chosen.best_step},
            "guard": verdict,
            "policies": {name: table[name] for name in (*baselines, "as_trained", "guarded")},
            "agents": {agent.name: {"select_sharpe": agent.select_sharpe, "best_step": agent.best_step,
                                    "steps_per_second": agent.steps_per_second, **table[agent.name]}
                       for agent in agents},
            "agent_summary": agent_summary(agents, table),
            "supervised": {"C": supervised.c, "band": supervised.band},
            "deflated_sharpe": {**deflated, "of": "as_trained on test",
                                "trials": "every agent checkpoint evaluated on select and every "
                                          "supervised (C, band)"},
            "importance": importance,
            "sharpe_note": SHARPE_NOTE,
            "seconds": round(time.perf_counter() - started, 1),
            "steps_per_second": float(np.mean([agent.steps_per_second for agent in agents])),
            "peak_rss_mib": runtime.peak_rss_mb(), "cpu": runtime.cpu_model(),
        }
        write_outputs(staging, config, market, named, agents, chosen, metrics, trials)
        if forecasts is not None:
            save_channel(forecasts, staging / "forecasts.csv")
    print_summary(metrics, config.out)
    return metrics


def write_outputs(staging: Path, config: AgentConfig, market: Market, named: dict[str, np.ndarray],
                  agents: list[AgentResult], chosen: AgentResult, metrics: dict[str, Any],
                  trials: list[dict[str, Any]]) -> None:
    import torch

    from AgentLLM import plots
    from common.runs import atomic_path

    write_json(staging / "config.json", config)
    write_json(staging / "metrics.json", metrics)
    with atomic_path(staging / "positions.csv") as tmp:
        positions_frame(market, named).to_csv(tmp, index=False)
    with atomic_path(staging / "trials.csv") as tmp:
        pd.DataFrame(trials).to_csv(tmp, index=False)
    with atomic_path(staging / "agent.pt") as tmp:  # tensors only: torch.load(weights_only=True) reads it
        torch.save({"agent": chosen.name, "policy": chosen.model.policy.state_dict()}, tmp)

    start, stop = market.span("test")
    days = market.dates[start + 1:stop + 1]
    log_navs = {name: np.cumsum(score_span(market.open_, market.close, named[name], (start, stop),
                                           config.cost_bps)[1])
                for name in metrics["policies"]}
    plots.plot_equity(days, log_navs, staging / "equity.png",
                      title=f"test split, {config.cost_bps:g} bps per side: net asset value")
    shown = {"positions.png": ("guarded", "the deployed (guarded) policy on the test split")}
    if not metrics["guard"]["kept"]:  # the deployed policy is buy-and-hold: show the agent's days too
        shown["positions_as_trained.png"] = ("as_trained", f"{chosen.name} as trained (not deployed)")
    for file_name, (policy, title) in shown.items():
        held = np.concatenate([[0.0], np.nan_to_num(named[policy][start:stop])])  # held from each day on
        plots.plot_positions(market.dates[start:stop + 1], market.close[start:stop + 1], held,
                             staging / file_name, title=title)
    plots.plot_training({agent.name: agent.curve for agent in agents}, staging / "training.png",
                        title="training: episode reward and Sharpe on the select half")
    plots.plot_importance(metrics["importance"], staging / "importance.png",
                          title=f"what moves {chosen.name}'s decisions (test split)")


def print_summary(metrics: dict[str, Any], out: str) -> None:
    print(f"\n{STAGE}: test split, {metrics['cost_bps']:g} bps per side, fills {metrics['fill']}")
    width = max(len(name) for name in metrics["policies"]) + 2
    print(f"{'policy':<{width}}{'Sharpe':>8}{'95% interval':>18}{'total return':>14}{'max DD':>9}"
          f"{'turnover':>10}")
    for name, splits in metrics["policies"].items():
        test = splits["test"]
        interval = "[{low:+.2f}, {high:+.2f}]".format(**test["sharpe_interval"])
        print(f"{name:<{width}}{test['sharpe']:>8.2f}{interval:>18}"
              f"{test['total_return']:>14.1%}{test['max_drawdown']:>9.1%}{test['turnover']:>10.1f}")
    for algorithm, row in metrics["agent_summary"].items():
        print(f"{algorithm}: test Sharpe median {row['test_sharpe_median']:+.2f} over {row['seeds']} seeds "
              f"[{row['test_sharpe_min']:+.2f}, {row['test_sharpe_max']:+.2f}], "
              f"{row['share_beating_buy_and_hold']:.0%} beat buy-and-hold")
    guard_verdict = metrics["guard"]
    print(f"chosen on select: {metrics['chosen']['agent']}; guard "
          f"{'keeps it' if guard_verdict['kept'] else 'falls back to buy-and-hold'} "
          f"(p = {guard_verdict['p_value']:.3f}); deflated Sharpe {metrics['deflated_sharpe']['dsr']:.2f} "
          f"over {metrics['deflated_sharpe']['n_trials']} trials")
    print(metrics["sharpe_note"])
    print(f"done in {metrics['seconds']} s ({metrics['steps_per_second']:.0f} steps/s per agent), "
          f"peak memory {metrics['peak_rss_mib']:.0f} MiB; results in {out}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run(parse_config(AgentConfig, argv, description=__doc__))


if __name__ == "__main__":
    run_cli(main)
