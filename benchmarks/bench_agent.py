"""Does the Stage 6 agent find a signal that is there, and none where there is none? AgentLLM's
default recipe (PPO, A2C and DQN over seeds, checkpoints and algorithm chosen on validation, the guard)
on synthetic series whose daily log return depends on the return k days back:

    r_t = phi * r_{t-k} + e_t,    e_t ~ N(0, noise²)      (common/forecast/synthetic.py)

In these series the Open is the previous close, so a position decided at the close of day t and filled
at the next open earns exactly day t+1's close-to-close return, r_{t+1} = phi * r_{t+1-k} + e_{t+1}:
the first part is known at the close of day t. The agent sees it too (its observation holds the last
10 returns: ret_{k-1} is r_{t+1-k} for k <= 10).

The oracle knows the rule: it predicts the held day's return as phi * r_{t+1-k} and goes long (short)
when the prediction is above (below) a no-trade band, flat inside it. The band is chosen on the
validation split's "select" half from a grid, like the supervised baseline's: at a cost, a band wider
than what a trade costs skips trades the edge cannot pay for. It is scored by AgentLLM.scoring on the
same Market, spans, fills and costs as the agents, so every Sharpe ratio below is on the same days.

For each series and cost: buy-and-hold, the supervised policy, the agent as trained (chosen on
validation) and guarded, each algorithm's median test Sharpe over its seeds, and the share of the
oracle's test Sharpe each captures. A random walk (phi = 0) is run too: there is nothing to find, so
the guard should fall back to buy-and-hold and the agents' test Sharpe should sit near minus the cost
their trading pays ("cost drag", in Sharpe units: yearly cost / yearly volatility).

    python benchmarks/bench_agent.py          # k 1, 5 x phi 0.15, 0.3 + 2 random walks, at 0 and 10 bps
    python benchmarks/bench_agent.py --quick  # 1 seed per algorithm, 5,000 steps, one series per family
    python benchmarks/bench_agent.py --lags 1 --phis 0.3 --costs 10 --random-walk-seeds ""
    python benchmarks/bench_agent.py --reuse  # continue an interrupted grid: finished run folders are kept

Writes outputs/bench_agent/: results.json (every number, the command, the CPU, seconds), results.md
(the tables), series/ (the CSVs), runs/ (each AgentLLM run folder) and logs/ (each run's output).
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import contextlib
import math
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from tqdm import tqdm

from AgentLLM.market import Market, MarketSpec, prepare_market
from AgentLLM.scoring import score_span
from common.config import build_parser, option, preset_config, require, require_at_least, run_cli
from common.forecast.prices import load_prices
from common.forecast.synthetic import lag_return_series, oracle_log_returns
from common.forecast.windows import TRADING_DAYS
from common.paths import output_dir
from common.runs import read_json, write_json, write_text

BANDS = "0,0.0005,0.001,0.002,0.004"  # |predicted log return| to trade on; 10 bps a side = 0.001
TARGET_SHARE = 0.5  # the target: as trained gets >= 50 % of the oracle's Sharpe ...
TARGET_ORACLE_SHARPE = 1.5  # ... on the series where the oracle's test Sharpe is at least this ...
TARGET_COST_BPS = 10.0  # ... at this cost per side
# A share of the oracle's Sharpe is shown only where the oracle's test Sharpe is at least this: on ~440
# test days one Sharpe ratio has a standard error near 0.75, and a ratio to a near-zero Sharpe is noise.
MIN_ORACLE_SHARPE = 1.0
POLICIES = ("buy_and_hold", "supervised", "as_trained", "guarded", "random", "sma_20_50")


@dataclass
class BenchAgentConfig:
    # quick: checks the plumbing and the tables in about two minutes, not the agent
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": dict(agent_seeds=1, timesteps=5_000, lags="1", phis="0.3", random_walk_seeds="0"),
    }
    lags: str = option("1,5", "comma-separated lags k of the planted signal (k <= 10: inside the "
                              "agent's 10 returns)")
    phis: str = option("0.15,0.3", "comma-separated strengths phi of the planted signal")
    costs: str = option("0,10", "comma-separated costs per side in basis points; every series runs at each")
    series_seeds: str = option("0", "comma-separated seeds of the planted series")
    random_walk_seeds: str = option("0,1", "comma-separated seeds of the phi = 0 series (\"\": none)")
    days: int = option(3000, "business days per series: about 440 test days")
    noise: float = option(0.01, "daily noise of the series (0.01 = 1 % a day)")
    bands: str = option(BANDS, "the oracle's no-trade bands (|predicted log return|), one chosen on select")
    algorithms: str = option("ppo,a2c,dqn", "AgentLLM's --algorithms")
    agent_seeds: int = option(3, "AgentLLM's --seeds: agents per algorithm")
    timesteps: int = option(20_000, "AgentLLM's --timesteps: environment steps per agent")
    workers: int = option(2, "series run at once, one process each with one PyTorch thread: one per core")
    reuse: bool = option(False, "keep a finished run folder whose settings and prices match instead of "
                                "training again: continues an interrupted grid")
    out: str = option(str(output_dir("bench_agent")), "results, series, run folders and logs")
    preset: str = option("", "named settings resolved first (quick: two minutes, checks the plumbing)")

    def lag_list(self) -> list[int]:
        return _numbers(self, "lags", int)

    def phi_list(self) -> list[float]:
        return _numbers(self, "phis", float)

    def cost_list(self) -> list[float]:
        return _numbers(self, "costs", float)

    def band_list(self) -> list[float]:
        return _numbers(self, "bands", float)

    def validate(self) -> None:
        require_at_least(self, 1, "agent_seeds", "workers", "days")
        require_at_least(self, 64, "timesteps")
        require(self, all(lag >= 1 for lag in self.lag_list()), "lags", "lags of at least 1 day")
        require(self, all(0 < abs(phi) < 1 for phi in self.phi_list()), "phis",
                "non-zero with |phi| < 1 (phi = 0 is the random walk: --random-walk-seeds)")
        require(self, all(0 <= cost < 1e4 for cost in self.cost_list()), "costs", "in [0, 10000) bps")
        require(self, all(band >= 0 for band in self.band_list()), "bands", "0 or more")
        require(self, math.isfinite(self.noise) and self.noise > 0, "noise", "positive")
        _numbers(self, "series_seeds", int)
        _numbers(self, "random_walk_seeds", int, allow_empty=True)


def _numbers(config: BenchAgentConfig, name: str, kind: type, allow_empty: bool = False) -> list[Any]:
    """The comma-separated numbers of option `name`, or a ValueError naming the flag."""
    text = getattr(config, name)
    try:
        values = [kind(item) for item in str(text).split(",") if item.strip()]
    except ValueError:
        values = None
    if values is None or not (values or allow_empty) or not all(math.isfinite(v) for v in values):
        example = "1,5" if kind is int else "0.15,0.3"
        require(config, False, name, f"comma-separated {kind.__name__}s such as {example}")
    return values


# ---------------------------------------------------------------------------------------------- oracle

def oracle_positions(market: Market, prediction: np.ndarray, band: float) -> np.ndarray:
    """(n_days,) sign(prediction) where |prediction| > band, else flat, on the decision days (NaN
    elsewhere, like every policy of AgentLLM/policies.py). `prediction[t]` is the log return predicted
    at close t for the day the position is held, t+1."""
    first, stop = market.decision_days
    predicted = np.nan_to_num(prediction[first:stop])
    positions = np.full(market.n_days, np.nan)
    positions[first:stop] = np.where(np.abs(predicted) > band, np.sign(predicted), 0.0)
    return positions


def choose_band(market: Market, prediction: np.ndarray, cost_bps: float, bands: list[float]
                ) -> tuple[float, list[dict[str, float]]]:
    """(band, trials): the band whose positions have the best Sharpe on "select" (the narrowest on a
    tie), and every band's select Sharpe."""
    trials = []
    for band in bands:
        positions = oracle_positions(market, prediction, band)
        performance, _ = score_span(market.open_, market.close, positions, market.span("select"), cost_bps)
        trials.append({"band": band, "select_sharpe": performance["sharpe"]})
    best = max(trials, key=lambda trial: trial["select_sharpe"])  # max keeps the first of equals
    return best["band"], trials


def score_oracle(market: Market, prices: pd.DataFrame, lag: int, phi: float, cost_bps: float,
                 bands: list[float]) -> dict[str, Any]:
    """The oracle on `market` (prepared from `prices`): its band and its performance on every span."""
    prediction = oracle_log_returns(prices, lag, phi)  # (n_days,) phi * r_{t+1-k}, from rows <= t
    band, trials = choose_band(market, prediction, cost_bps, bands)
    positions = oracle_positions(market, prediction, band)
    scores = {span: score_span(market.open_, market.close, positions, market.span(span), cost_bps)[0]
              for span in ("train", "select", "guard", "test")}
    # How much the band chosen on ~220 select days leaves on the table: the best band on test itself
    # (hindsight, never used for a choice).
    on_test = {band: score_span(market.open_, market.close, oracle_positions(market, prediction, band),
                                market.span("test"), cost_bps)[0]["sharpe"] for band in bands}
    best_on_test = max(on_test, key=on_test.get)
    return {"band": band, "band_trials": trials, **scores,
            "hindsight": {"band": best_on_test, "test_sharpe": on_test[best_on_test]}}


# ------------------------------------------------------------------------------------ one series, one run

def cost_drag_sharpe(row: dict[str, float]) -> float:
    """The Sharpe ratio a policy's costs take away: yearly cost paid / yearly volatility."""
    if row["volatility"] <= 0:
        return 0.0
    return row["costs_paid"] / row["n_days"] * TRADING_DAYS / row["volatility"]


def share(sharpe: float, oracle_sharpe: float) -> float:
    """The share of the oracle's Sharpe a policy gets; NaN where the oracle has too little to share."""
    return sharpe / oracle_sharpe if oracle_sharpe >= MIN_ORACLE_SHARPE else math.nan


def summarise(job: dict[str, Any], metrics: dict[str, Any], oracle: dict[str, Any]) -> dict[str, Any]:
    """The numbers of one run that the tables read, beside the job that made them."""
    test = {name: metrics["policies"][name]["test"] for name in POLICIES}
    agents = {name: {"algorithm": name.split()[0], "select_sharpe": agent["select_sharpe"],
                     "best_step": agent["best_step"], "test_sharpe": agent["test"]["sharpe"],
                     "test_turnover": agent["test"]["turnover"],
                     "test_cost_drag_sharpe": cost_drag_sharpe(agent["test"])}
              for name, agent in metrics["agents"].items()}
    algorithms = metrics["agent_summary"]
    best_algorithm = max(algorithms, key=lambda name: algorithms[name]["test_sharpe_median"])
    oracle_sharpe = oracle["test"]["sharpe"]
    agent_sharpes = [agent["test_sharpe"] for agent in agents.values()]
    drags = [agent["test_cost_drag_sharpe"] for agent in agents.values()]
    return {
        **job,
        "oracle": oracle,
        "test_sharpe": {name: row["sharpe"] for name, row in test.items()},
        "test_turnover": {name: row["turnover"] for name, row in test.items()},
        "chosen_agent": metrics["chosen"]["agent"],
        "guard": {"kept": metrics["guard"]["kept"], "p_value": metrics["guard"]["p_value"]},
        "algorithms": algorithms,
        "agents": agents,
        "best_algorithm_on_test": best_algorithm,  # hindsight: an upper bound on choosing well
        "agents_median_test_sharpe": float(np.median(agent_sharpes)),
        "agents_median_cost_drag_sharpe": float(np.median(drags)),
        "agents_median_gross_sharpe": float(np.median(np.add(agent_sharpes, drags))),
        "share_of_oracle": {
            "as_trained": share(test["as_trained"]["sharpe"], oracle_sharpe),
            "best_algorithm_median": share(algorithms[best_algorithm]["test_sharpe_median"], oracle_sharpe),
            "supervised": share(test["supervised"]["sharpe"], oracle_sharpe),
        },
        "supervised_choice": metrics["supervised"],
        "deflated_sharpe": metrics["deflated_sharpe"]["dsr"],
        "run_seconds": metrics["seconds"],
        "cpu": metrics["cpu"],
    }


def run_series(job: dict[str, Any]) -> dict[str, Any]:
    """Train AgentLLM on one series at one cost (its output goes to the job's log), score the oracle on
    the same market, and summarise both. Runs in a worker process."""
    runtime.prepare_environment()  # a spawned worker is an entry point too: before PyTorch loads
    from AgentLLM.train import AgentConfig, run  # after the environment is set

    config = preset_config(AgentConfig, "", csv=job["csv"], cost_bps=job["cost_bps"], out=job["run_dir"],
                           algorithms=job["algorithms"], seeds=job["agent_seeds"],
                           timesteps=job["timesteps"], threads=1)
    prices = load_prices(config.ticker, csv=config.csv, start=config.start, end=config.end)
    started = time.perf_counter()
    metrics = finished_run(config, prices) if job["reuse"] else None
    reused = metrics is not None
    if not reused:
        try:
            with open(job["log"], "w", encoding="utf-8") as log, contextlib.redirect_stdout(log), \
                    contextlib.redirect_stderr(log):
                metrics = run(config)
        except Exception as error:
            raise RuntimeError(f"{job['name']} at {job['cost_bps']:g} bps failed ({error}); see "
                               f"{job['log']}") from error
    market = prepare_market(prices, MarketSpec(config.n_returns, config.train_fraction,
                                               config.validation_fraction))
    oracle = score_oracle(market, prices, job["lag"], job["phi"], job["cost_bps"], job["bands"])
    row = summarise(job, metrics, oracle)
    row["reused"] = reused  # then seconds are the training run's own, from its metrics.json
    row["seconds"] = metrics["seconds"] if reused else time.perf_counter() - started
    return row


def finished_run(config: Any, prices: pd.DataFrame) -> dict[str, Any] | None:
    """metrics.json of a finished run in config.out made with the same settings on the same closes, or
    None (then the run is trained again)."""
    out = Path(config.out)
    if not (out / "metrics.json").exists() or not (out / "config.json").exists():
        return None
    saved = read_json(out / "config.json")
    if any(saved.get(name) != value for name, value in vars(config).items() if name != "preset"):
        return None
    saved_closes = pd.read_csv(out / "positions.csv")["close"].to_numpy()  # from the first decision on
    closes = prices["Close"].to_numpy()
    if len(saved_closes) > len(closes):
        return None
    if not np.allclose(saved_closes, closes[len(closes) - len(saved_closes):], rtol=1e-12, atol=0):
        return None
    return read_json(out / "metrics.json")


def plan(config: BenchAgentConfig) -> list[dict[str, Any]]:
    """Every (series, cost) to run: the planted series first, then the random walks."""
    out = Path(config.out)
    series = [("planted", lag, phi, seed) for lag in config.lag_list() for phi in config.phi_list()
              for seed in _numbers(config, "series_seeds", int)]
    series += [("random_walk", 1, 0.0, seed)
               for seed in _numbers(config, "random_walk_seeds", int, allow_empty=True)]
    jobs = []
    for family, lag, phi, seed in series:
        name = f"lag{lag}_phi{phi:g}_seed{seed}" if family == "planted" else f"random_walk_seed{seed}"
        for cost in config.cost_list():
            run_name = f"{name}_cost{cost:g}bps"
            jobs.append({"name": name, "family": family, "lag": lag, "phi": phi, "series_seed": seed,
                         "cost_bps": cost, "csv": str(out / "series" / f"{name}.csv"),
                         "run_dir": str(out / "runs" / run_name),
                         "log": str(out / "logs" / f"{run_name}.log"),
                         "algorithms": config.algorithms, "agent_seeds": config.agent_seeds,
                         "timesteps": config.timesteps, "bands": config.band_list(), "reuse": config.reuse})
    return jobs


def write_series(jobs: list[dict[str, Any]], days: int, noise: float) -> None:
    """One CSV per series (shared by its costs), written before any worker reads it."""
    for job in {job["csv"]: job for job in jobs}.values():
        prices = lag_return_series(n_days=days, lag=job["lag"], phi=job["phi"], noise=noise,
                                   seed=job["series_seed"])
        Path(job["csv"]).parent.mkdir(parents=True, exist_ok=True)
        prices.to_csv(job["csv"], index_label="Date")
    for folder in ("runs", "logs"):
        Path(jobs[0]["run_dir"]).parent.parent.joinpath(folder).mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------------------------------------- tables

def _f(value: float, digits: int = 2, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _pct(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.0%}"


def target_met(row: dict[str, Any]) -> bool | None:
    """The issue's target on one run: None where it does not apply (cost or oracle Sharpe)."""
    if row["family"] != "planted" or row["cost_bps"] != TARGET_COST_BPS \
            or row["oracle"]["test"]["sharpe"] < TARGET_ORACLE_SHARPE:
        return None
    return bool(row["share_of_oracle"]["as_trained"] >= TARGET_SHARE)


def algorithm_cells(row: dict[str, Any]) -> list[str]:
    """Each algorithm's median test Sharpe over its seeds, with the range."""
    return [f"{_f(summary['test_sharpe_median'])} [{_f(summary['test_sharpe_min'])}, "
            f"{_f(summary['test_sharpe_max'])}]" for summary in row["algorithms"].values()]


def planted_table(rows: list[dict[str, Any]]) -> str:
    algorithms = list(rows[0]["algorithms"])
    header = ["series", "cost bps", "oracle (band)", "buy & hold", "supervised", "as trained", "guarded",
              *[f"{name} median [min, max]" for name in algorithms],
              "share: as trained", "share: best algorithm (hindsight)", "share: supervised", "target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        sharpe, shares, met = row["test_sharpe"], row["share_of_oracle"], target_met(row)
        cells = [f"k={row['lag']} phi={row['phi']:g} s{row['series_seed']}", f"{row['cost_bps']:g}",
                 f"{_f(row['oracle']['test']['sharpe'])} ({row['oracle']['band']:g})",
                 _f(sharpe["buy_and_hold"]), _f(sharpe["supervised"]),
                 f"{_f(sharpe['as_trained'])} ({row['chosen_agent']})",
                 f"{_f(sharpe['guarded'])} ({'kept' if row['guard']['kept'] else 'fell back'})",
                 *algorithm_cells(row),
                 _pct(shares["as_trained"]),
                 f"{_pct(shares['best_algorithm_median'])} ({row['best_algorithm_on_test']})",
                 _pct(shares["supervised"]), {None: "n/a", True: "met", False: "missed"}[met]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def random_walk_table(rows: list[dict[str, Any]]) -> str:
    header = ["series", "cost bps", "guard (p)", "as trained", "guarded", "agents' median",
              "median cost drag", "median + drag", "buy & hold", "supervised", "random",
              *[f"{name} median [min, max]" for name in rows[0]["algorithms"]]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        sharpe = row["test_sharpe"]
        cells = [f"random walk s{row['series_seed']}", f"{row['cost_bps']:g}",
                 f"{'kept' if row['guard']['kept'] else 'fell back'} ({row['guard']['p_value']:.2f})",
                 f"{_f(sharpe['as_trained'])} ({row['chosen_agent']})", _f(sharpe["guarded"]),
                 _f(row["agents_median_test_sharpe"]), _f(0.0 - row["agents_median_cost_drag_sharpe"]),
                 _f(row["agents_median_gross_sharpe"]), _f(sharpe["buy_and_hold"]),
                 _f(sharpe["supervised"]), _f(sharpe["random"]), *algorithm_cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(rows: list[dict[str, Any]]) -> str:
    planted = [row for row in rows if row["family"] == "planted"]
    walks = [row for row in rows if row["family"] == "random_walk"]
    parts = []
    if planted:
        parts += ["Planted signal: test Sharpe ratios (annualised); the oracle's chosen band in brackets; "
                  "algorithms' median over seeds; share = a policy's Sharpe / the oracle's (where the "
                  f"oracle's >= {MIN_ORACLE_SHARPE:g}); best algorithm = the best test median (hindsight). "
                  "Target: as trained >= "
                  f"{TARGET_SHARE:.0%} of the oracle at {TARGET_COST_BPS:g} bps where the oracle's Sharpe "
                  f">= {TARGET_ORACLE_SHARPE}.", "", planted_table(planted), ""]
    if walks:
        parts += ["Random walk (phi = 0, nothing to find): test Sharpe ratios; cost drag = what the "
                  "agents' trading costs in Sharpe (yearly cost / yearly volatility, median over agents); "
                  "median + drag ~ 0 is an agent without skill.", "", random_walk_table(walks), ""]
    return "\n".join(parts)


def targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    verdicts = {f"{row['name']}_cost{row['cost_bps']:g}bps": target_met(row) for row in rows}
    applicable = {name: met for name, met in verdicts.items() if met is not None}
    walks = [row for row in rows if row["family"] == "random_walk"]
    return {
        "planted": {"rule": f"as_trained test Sharpe >= {TARGET_SHARE:.0%} of the oracle's where the "
                            f"oracle's >= {TARGET_ORACLE_SHARPE}, at {TARGET_COST_BPS:g} bps",
                    "runs": applicable, "met": all(applicable.values()) if applicable else None},
        "random_walk": {"rule": "the guard falls back to buy-and-hold",
                        "fell_back": {f"{row['name']}_cost{row['cost_bps']:g}bps": not row["guard"]["kept"]
                                      for row in walks},
                        "met": all(not row["guard"]["kept"] for row in walks) if walks else None},
    }


# ------------------------------------------------------------------------------------------------ main

def parse_bench_config(argv: list[str] | None) -> BenchAgentConfig:
    parser = build_parser(BenchAgentConfig, description=__doc__)
    parser.add_argument("--quick", dest="preset", action="store_const", const="quick",
                        help="short for --preset quick: 1 seed per algorithm, 5,000 steps, one series "
                             "per family")
    given = vars(parser.parse_args(argv))
    return preset_config(BenchAgentConfig, given.pop("preset", ""), **given)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    command = "python benchmarks/bench_agent.py " + " ".join(sys.argv[1:] if argv is None else argv)
    config = parse_bench_config(argv)
    config.validate()
    out = Path(config.out)
    jobs = plan(config)
    if not jobs:
        raise ValueError("nothing to run: give --lags and --phis, or --random-walk-seeds")
    write_series(jobs, config.days, config.noise)
    print(f"{len(jobs)} runs on {runtime.cpu_model()}, {min(config.workers, len(jobs))} at a time; "
          f"logs in {out / 'logs'}", flush=True)

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []

    def record(row: dict[str, Any], bar: tqdm) -> None:
        rows.append(row)
        rows.sort(key=lambda done: [job["run_dir"] for job in jobs].index(done["run_dir"]))
        sharpe = row["test_sharpe"]
        bar.write(f"{row['name']} at {row['cost_bps']:g} bps: oracle {row['oracle']['test']['sharpe']:+.2f}, "
                  f"as trained {sharpe['as_trained']:+.2f} ({row['chosen_agent']}), guarded "
                  f"{sharpe['guarded']:+.2f}, supervised {sharpe['supervised']:+.2f}, buy & hold "
                  f"{sharpe['buy_and_hold']:+.2f}; {row['seconds']:.0f} s")
        bar.update(1)
        write_json(out / "results.json", {"command": command, "cpu": runtime.cpu_model(), "settings": config,
                                          "seconds": time.perf_counter() - started, "finished": False,
                                          "runs": rows})

    with tqdm(total=len(jobs), desc="bench_agent", unit="run", dynamic_ncols=True) as bar:
        if config.workers == 1 or len(jobs) == 1:
            for job in jobs:
                record(run_series(job), bar)
        else:
            # spawn, not fork: each worker is a fresh interpreter that sets the environment before PyTorch
            with ProcessPoolExecutor(max_workers=min(config.workers, len(jobs)),
                                     mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(run_series, job) for job in jobs]
                for future in as_completed(futures):
                    record(future.result(), bar)

    seconds = time.perf_counter() - started
    markdown = report(rows)
    reused = sum(row["reused"] for row in rows)
    run_seconds = sum(row["seconds"] for row in rows)
    timing = (f"{seconds / 60:.1f} minutes, {min(config.workers, len(rows))} at a time" if not reused else
              f"{reused} of {len(rows)} runs reused from earlier invocations (--reuse); the runs' own "
              f"seconds add up to {run_seconds / 60:.1f} minutes")
    results = {"command": command, "cpu": runtime.cpu_model(), "settings": config, "seconds": seconds,
               "run_seconds_total": run_seconds, "reused_runs": reused, "finished": True,
               "targets": targets(rows), "runs": rows, "table": markdown}
    write_json(out / "results.json", results)
    write_text(out / "results.md", f"`{command}`: {runtime.cpu_model()}, {timing}.\n\n{markdown}")
    print("\n" + markdown)
    print(f"targets: {targets(rows)}")
    print(f"done in {seconds / 60:.1f} minutes ({timing}); results in {out}")
    return results


if __name__ == "__main__":
    run_cli(main)
