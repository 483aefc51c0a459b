"""Stage 6's multi-modal ablation: what each channel adds to the agent, on series whose answer is known.

    python benchmarks/ablation_agent.py                 # 4 series, 10 AgentLLM runs, two at a time
    python benchmarks/ablation_agent.py --quick         # the plumbing and the table in a few minutes

Every series is run with the same recipe (AgentLLM's defaults) and each set of inputs:

    prices        the price features only
    + forecast    and Stage 4's next-day forecast, refitted walk-forward (AgentLLM/forecast.py)
    + text        and Stage 5's reading of the day's sentence (only where a series has text)
    + both        all three

The series, none of which any setting was chosen on:
- GOOG, the embedded prices (no dated text offline: its text rows say "unavailable");
- a planted lag, r_{t+1} = 0.3 r_{t-4} + e (benchmarks/bench_agent.py's k = 5, phi = 0.3 series);
- a random walk (seed 1: bench_agent.py measured seed 0): nothing to find with any input;
- a planted text signal, r_{t+1} = beta * noise * s_t + e with s_t the human label of the day's sentence
  (benchmarks/text_signal.py, beta 0.8), read by Stage 5 fine-tuned on the train half of its sentence pool
  (text_signal.py --reader pool; --reader llmind-run: the saved NYT run instead).

The forecast channel of a series is computed once and read by its "+ forecast" and "+ both" runs
(--forecast-csv). Each run also scores the sign of the forecast (as trained and guarded) as a baseline.
Writes outputs/bench/ablation_agent/: results.json, results.md, series/, runs/, logs/.
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import contextlib
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tqdm import tqdm

from common.config import build_parser, option, preset_config, run_cli
from common.forecast.prices import load_prices
from common.forecast.synthetic import lag_return_series
from common.paths import output_dir
from common.runs import read_json, write_json, write_text

INPUTS = {"prices": (False, False), "+ forecast": (True, False), "+ text": (False, True),
          "+ both": (True, True)}  # (forecast channel, text channel)
SHOWN = ("buy_and_hold", "supervised", "sign_transformer", "sign_transformer_guarded", "as_trained",
         "guarded")


@dataclass
class AblationConfig:
    # quick: one PPO seed, few steps, a tiny forecaster: checks the plumbing and the table
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "quick": dict(algorithms="ppo", seeds=1, timesteps=2_000, forecast_preset="tiny", days=1200,
                      forecast_folds=2, reader="llmind-run"),
    }
    days: int = option(3000, "business days of the lag and random-walk series (2,500 for the text series)")
    text_beta: float = option(0.8, "strength of the text signal (0.8: where text_signal.py's agents capture "
                                   "about half of the oracle's Sharpe; at 0.3 they learn little of it)")
    reader: str = option("pool", "what reads the text series: pool = Stage 5 fine-tuned on the train half of "
                                 "its sentences (text_signal.py --reader pool, 4 minutes the first time); "
                                 "llmind-run = the saved LLMind run (NYT editorials, another kind of text)",
                         choices=["pool", "llmind-run"])
    algorithms: str = option("ppo,a2c,dqn", "AgentLLM's --algorithms")
    seeds: int = option(3, "AgentLLM's --seeds")
    timesteps: int = option(20_000, "AgentLLM's --timesteps")
    forecast_folds: int = option(4, "AgentLLM's --forecast-folds")
    forecast_preset: str = option("", "AgentLLM's --forecast-preset (tiny for --quick)")
    cost_bps: float = option(10.0, "cost per side in basis points")
    only: str = option("", "comma-separated series to (re)run: GOOG, lag5_phi0.3, random_walk_seed1, "
                           "text_beta0.8 (\"\": all); the other series' rows are kept from results.json")
    workers: int = option(2, "runs at once, one process each with one PyTorch thread: one per core")
    out: str = option(str(output_dir("bench", "ablation_agent")), "results, series, runs and logs")
    preset: str = option("", "named settings resolved first (quick: minutes, checks the plumbing)")


def write_series(config: AblationConfig) -> list[dict[str, Any]]:
    """The series as CSVs (GOOG is read by AgentLLM itself) with their oracle positions, if any."""
    from text_signal import (
        TRAIN_HALF,
        TextSignalConfig,
        check_reader_never_saw,
        text_signal_series,
        train_half_reader,
    )

    folder = Path(config.out) / "series"
    folder.mkdir(parents=True, exist_ok=True)
    series = [{"name": "GOOG", "csv": None, "text": False, "oracle": None}]
    for name, phi, seed in (("lag5_phi0.3", 0.3, 0), ("random_walk_seed1", 0.0, 1)):
        prices = lag_return_series(n_days=config.days, lag=5, phi=phi, seed=seed)
        csv = folder / f"{name}.csv"
        prices.to_csv(csv, index_label="Date")
        oracle = {"lag": 5, "phi": phi} if phi else None  # bench_agent.py's oracle, its band chosen on select
        series.append({"name": name, "csv": str(csv), "text": False, "oracle": oracle})
    frame = text_signal_series(n_days=round(config.days * 5 / 6), beta=config.text_beta, seed=0)
    csv = folder / f"text_beta{config.text_beta:g}.csv"
    frame.drop(columns="sentiment").to_csv(csv, index_label="Date")  # the agent never sees the label
    reader = str(output_dir("LLMind"))
    if config.reader == "pool":  # seed 0 splits the pool as it did for the series: no later day's sentence
        reader = train_half_reader(TextSignalConfig(series_seed=0, out=str(config.out)))
        check_reader_never_saw(frame, Path(reader).parent / TRAIN_HALF)
    series.append({"name": f"text_beta{config.text_beta:g}", "csv": str(csv), "text": True,
                   "oracle": {"positions": frame["sentiment"].to_numpy()},  # holds the label's sign
                   "reader": reader})
    return series


def forecast_job(config: AblationConfig, series: dict[str, Any]) -> str:
    """Stage 4's walk-forward channel of one series, written as forecasts.csv (runs in a worker)."""
    runtime.prepare_environment()
    from AgentLLM.forecast import forecast_channels, save_channel

    prices = load_prices("GOOG", csv=series["csv"])
    log = Path(config.out) / "logs" / f"{series['name']}_forecast.log"
    with open(log, "w", encoding="utf-8") as handle, contextlib.redirect_stdout(handle), \
            contextlib.redirect_stderr(handle):
        channel = forecast_channels(prices, ["transformer"], config.forecast_folds, 0, config.forecast_preset)
    path = Path(config.out) / "series" / f"{series['name']}_forecasts.csv"
    save_channel(channel, path)
    write_json(path.with_suffix(".json"), channel.info)
    return str(path)


def oracle_test_sharpe(series: dict[str, Any], cost_bps: float) -> float:
    """The test Sharpe of the policy that knows the planted rule, on the agent's days, fills and costs."""
    from bench_agent import BANDS, score_oracle

    from AgentLLM.market import MarketSpec, prepare_market
    from AgentLLM.policies import decision_mask
    from AgentLLM.scoring import score_span

    prices = load_prices("GOOG", csv=series["csv"])
    market = prepare_market(prices[["Open", "High", "Low", "Close", "Volume"]], MarketSpec())
    if "lag" in series["oracle"]:
        bands = [float(band) for band in BANDS.split(",")]
        return score_oracle(market, prices, series["oracle"]["lag"], series["oracle"]["phi"], cost_bps,
                            bands)["test"]["sharpe"]
    positions = np.where(decision_mask(market), series["oracle"]["positions"], np.nan)
    return score_span(market.open_, market.close, positions, market.span("test"), cost_bps)[0]["sharpe"]


def agent_job(config: AblationConfig, series: dict[str, Any], inputs: str) -> dict[str, Any]:
    """One AgentLLM run of one series with one set of inputs (runs in a worker)."""
    runtime.prepare_environment()
    from AgentLLM.train import AgentConfig, run

    with_forecast, with_text = INPUTS[inputs]
    name = f"{series['name']}_{inputs.replace('+ ', 'with_')}"
    agent_config = preset_config(
        AgentConfig, "", csv=series["csv"], text_column="text" if with_text else None,
        llmind_run=series.get("reader", str(output_dir("LLMind"))),
        forecast_models="transformer", forecast_csv=series["forecasts"], algorithms=config.algorithms,
        seeds=config.seeds, timesteps=config.timesteps, eval_every=min(2_000, config.timesteps),
        cost_bps=config.cost_bps, threads=1, out=str(Path(config.out) / "runs" / name),
        forecast_input=with_forecast)  # without it the forecasts still give the sign baselines
    log = Path(config.out) / "logs" / f"{name}.log"
    with open(log, "w", encoding="utf-8") as handle, contextlib.redirect_stdout(handle), \
            contextlib.redirect_stderr(handle):
        metrics = run(agent_config)
    oracle = None if series["oracle"] is None else oracle_test_sharpe(series, config.cost_bps)
    policies = metrics["policies"]
    return {"series": series["name"], "inputs": inputs, "features": metrics["data"]["features"],
            "test": {name: {"sharpe": policies[name]["test"]["sharpe"],
                            "interval": policies[name]["test"]["sharpe_interval"]}
                     for name in SHOWN if name in policies},
            "guard": {"kept": metrics["guard"]["kept"], "p_value": metrics["guard"]["p_value"]},
            "chosen": metrics["chosen"]["agent"], "agent_summary": metrics["agent_summary"],
            "oracle_test_sharpe": oracle,
            "text_channel": metrics["data"]["text_channel"], "seconds": metrics["seconds"]}


def table(rows: list[dict[str, Any]]) -> str:
    def cell(row: dict[str, Any], name: str) -> str:
        if name not in row["test"]:
            return "—"
        test = row["test"][name]
        return f"{test['sharpe']:+.2f} [{test['interval']['low']:+.2f}, {test['interval']['high']:+.2f}]"

    lines = ["| series | inputs | oracle | buy-and-hold | supervised | forecast sign (as trained / "
             "guarded) | as trained [95 %] | guarded | PPO / A2C / DQN medians |", "|" + "---|" * 9]
    for row in rows:
        oracle = "—" if row["oracle_test_sharpe"] is None else f"{row['oracle_test_sharpe']:+.2f}"
        signs = " / ".join(f"{row['test'][name]['sharpe']:+.2f}"
                           for name in ("sign_transformer", "sign_transformer_guarded"))
        medians = " / ".join(f"{summary['test_sharpe_median']:+.2f}"
                             for summary in row["agent_summary"].values())
        verdict = "kept" if row["guard"]["kept"] else "fell back"
        guarded = f"{row['test']['guarded']['sharpe']:+.2f} ({verdict})"
        lines.append(f"| {row['series']} | {row['inputs']} | {oracle} | {cell(row, 'buy_and_hold')} | "
                     f"{row['test']['supervised']['sharpe']:+.2f} | {signs} | {cell(row, 'as_trained')} | "
                     f"{guarded} | {medians} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    command = "python benchmarks/ablation_agent.py " + " ".join(sys.argv[1:] if argv is None else argv)
    parser = build_parser(AblationConfig, description=__doc__)
    parser.add_argument("--quick", dest="preset", action="store_const", const="quick",
                        help="short for --preset quick")
    given = vars(parser.parse_args(argv))
    config = preset_config(AblationConfig, given.pop("preset", ""), **given)
    out = Path(config.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    series = write_series(config)
    kept: list[dict[str, Any]] = []
    if config.only:
        chosen = [name.strip() for name in config.only.split(",") if name.strip()]
        unknown = [name for name in chosen if name not in [item["name"] for item in series]]
        if unknown:
            raise ValueError(f"--only: unknown series {unknown}; use {[item['name'] for item in series]}")
        earlier = read_json(out / "results.json") if (out / "results.json").is_file() else {"rows": []}
        kept = [row for row in earlier["rows"] if row["series"] not in chosen]
        command = f"{earlier.get('command', '')}; then {command}" if kept else command
        series = [item for item in series if item["name"] in chosen]
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # each worker sets its environment before PyTorch loads
    with ProcessPoolExecutor(max_workers=config.workers, mp_context=context) as pool:
        print(f"forecast channels of {len(series)} series, {config.workers} at a time; logs in "
              f"{out / 'logs'}")
        for item, path in zip(series, pool.map(forecast_job, [config] * len(series), series)):
            item["forecasts"] = path
        jobs = [(item, inputs) for item in series for inputs in INPUTS
                if item["text"] or inputs in ("prices", "+ forecast")]
        futures = [pool.submit(agent_job, config, item, inputs) for item, inputs in jobs]
        rows = []
        for future in tqdm(futures, desc="ablation", unit="run", dynamic_ncols=True):
            rows.append(future.result())
            write_json(out / "results.json", {"command": command, "finished": False, "rows": kept + rows})
    order = [row["series"] for row in kept] + [item["name"] for item in series]
    rows = sorted(kept + rows, key=lambda row: (order.index(row["series"]),
                                                list(INPUTS).index(row["inputs"])))
    markdown = table(rows)
    results = {"command": command, "cpu": runtime.cpu_model(), "settings": config, "finished": True,
               "seconds": round(time.perf_counter() - started, 1), "rows": rows, "table": markdown}
    write_json(out / "results.json", results)
    timing = f"{runtime.cpu_model()}, {results['seconds'] / 60:.0f} minutes, {config.workers} at a time"
    write_text(out / "results.md", f"`{command}`: {timing}.\n\n{markdown}")
    print("\n" + markdown)
    return results


if __name__ == "__main__":
    run_cli(main)
