"""Do the networks learn structure that is really there? Both stages, with their default recipes,
on synthetic series whose daily log return depends on the return k days back:

    r_t = phi * r_{t-k} + e_t,    e_t ~ N(0, noise²)      (common/forecast/synthetic.py)

so the best possible forecast (the oracle, phi * r_{t+1-k}) and its RMSE are known. For each lag
and seed: the LSTM (MemoryLLM) and the Transformer (CodeLLM) as trained and as guarded, the AR(p ≤ 10)
and ridge baselines, all on the same windows, as

    skill captured = (1 - RMSE / naive RMSE) / (1 - oracle RMSE / naive RMSE)

(1 = everything the oracle gets, 0 = naive, negative = worse than naive). A random walk (phi = 0)
is run too: there the guard must fall back to naive.

    # k = 1 5 20 50, seeds 100 101 102 (times: MemoryLLM/README)
    python benchmarks/bench_lag.py
    python benchmarks/bench_lag.py --lags 1 20 --seeds 0 --models lstm
    python benchmarks/bench_lag.py --phi 0.3 --noise 0.02 # other series of the same family

Writes outputs/bench/lag/results.json and results.md (the table in the stage READMEs).
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":  # OpenMP (passive waits) and TensorFlow read these as they load: before the stages
    runtime.prepare_environment()

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from CodeLLM.stages import stage_runner
from common.config import preset_config
from common.forecast.synthetic import lag_return_series, oracle_forecast, oracle_log_returns, skill_captured
from common.forecast.windows import ForecastData, prepare_forecast_data
from common.paths import output_dir
from common.runs import write_json, write_text

FORECASTS = ("as_trained", "guarded", "ar", "linear")


def rmse_vs_naive(data: ForecastData, split: str, forecast: np.ndarray) -> float:
    """RMSE of a (windows,) next-close forecast on `split` / the naive forecast's RMSE."""
    actual, naive = data.actual_prices(split)[:, 0], data.anchor_close(split)
    return float(np.sqrt(np.mean((actual - forecast) ** 2)) / np.sqrt(np.mean((actual - naive) ** 2)))


def oracle_ratio(prices: Any, lag: int, phi: float, lookback: int) -> float:
    """Test RMSE of the oracle forecast / naive RMSE, on exactly the stages' test windows."""
    data = prepare_forecast_data(prices, lookback=lookback, horizon=1)
    oracle = oracle_forecast(data, prices, oracle_log_returns(prices, lag, phi), "test")
    return rmse_vs_naive(data, "test", oracle)


def run_one(model: str, csv: Path, out: Path, seed: int, lookback: int, preset: str = "") -> dict[str, Any]:
    config_cls, run = stage_runner(model)
    started = time.perf_counter()
    config = preset_config(config_cls, preset, csv=str(csv), out=str(out), seed=seed, lookback=lookback)
    metrics = run(config, verbose=False)
    return {"wall_seconds": time.perf_counter() - started, "train_seconds": metrics["train_seconds"],
            "best_epoch": metrics["best_epoch"], "epochs_run": metrics["epochs_run"],
            "kept": metrics["guard"]["kept"], "guard_pvalue": metrics["guard"]["dm_pvalue_validation"],
            **{name: metrics["forecasts"][name]["rmse_vs_naive"] for name in FORECASTS}}


def plot_where_they_look(out: Path, models: list[str], lag: int, seed: int) -> None:
    """lag{k}_where_they_look.png: each as-trained network's saliency / attention per day of the
    window, with the planted lag marked (from the runs' lag_profiles.json)."""
    from common.forecast.plots import plot_lag_profiles
    from common.runs import read_json

    profiles = {}
    for model in models:
        profiles.update(read_json(out / "runs" / f"{model}_lag{lag}_seed{seed}" / "lag_profiles.json"))
    plot_lag_profiles(profiles, out / f"lag{lag}_where_they_look.png", true_lag=lag,
                      title=f"lag-{lag} series (seed {seed}): where each as-trained network looks, "
                            "test windows")


def mean_std(values: list[float], digits: int = 2) -> str:
    values = np.asarray(values, dtype=np.float64)
    mean = f"{values.mean():.{digits}f}"
    return f"{mean} ± {values.std(ddof=1):.{digits}f}" if len(values) > 1 else mean


def table(results: list[dict[str, Any]], models: list[str]) -> str:
    """Markdown: one row per lag, mean ± std over seeds of the skill captured (RMSE / naive for phi = 0)."""
    header = ["lag k", "oracle / naive"]
    for model in models:
        header += [f"{model} as trained", f"{model} guarded", f"{model} kept", f"{model} train s"]
    header += ["AR(p≤10)", "ridge"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for lag in sorted({r["lag"] for r in results}, key=lambda k: (k == 0, k)):
        rows = [r for r in results if r["lag"] == lag]
        random_walk = rows[0]["phi"] == 0
        cells = [f"{lag} (random walk: RMSE / naive)" if random_walk else str(lag),
                 "1" if random_walk else mean_std([r["oracle"] for r in rows], digits=3)]

        def shown(row: dict, model: str, name: str, random_walk: bool = random_walk) -> float:
            ratio = row[model][name]
            return ratio if random_walk else skill_captured(ratio, row["oracle"])

        reference = models[0]
        for model in models:
            cells += [mean_std([shown(r, model, "as_trained") for r in rows]),
                      mean_std([shown(r, model, "guarded") for r in rows]),
                      f"{sum(r[model]['kept'] for r in rows)}/{len(rows)}",
                      mean_std([r[model]["train_seconds"] for r in rows], digits=0)]
        cells += [mean_std([shown(r, reference, name) for r in rows]) for name in ("ar", "linear")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lags", type=int, nargs="+", default=[1, 5, 20, 50],
                        help="lags k of the planted signal")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102],
                        help="series (and training) seeds; the default ones were never used to choose a "
                             "recipe (seeds 0-2 were: benchmarks/lag_recipes.md)")
    parser.add_argument("--models", nargs="+", default=["lstm", "transformer"],
                        choices=["lstm", "transformer"])
    parser.add_argument("--phi", type=float, default=0.5, help="strength of the lag-k dependence")
    parser.add_argument("--noise", type=float, default=0.01, help="daily noise (0.01 = 1 %% a day)")
    parser.add_argument("--days", type=int, default=2500, help="length of each series (business days)")
    parser.add_argument("--lookback", type=int, default=60, help="the stages' window (their default)")
    parser.add_argument("--no-random-walk", action="store_true", help="skip the phi = 0 series")
    parser.add_argument("--out", default=str(output_dir("bench", "lag")), help="where runs and results go")
    parser.add_argument("--preset", default="",
                        help="the stages' preset (tiny: seconds, checks the plumbing)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    conditions = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
                  f"{os.getloadavg()[0]:.1f} at start")
    print(f"machine: {conditions}")
    plan = [(lag, args.phi) for lag in args.lags] + ([] if args.no_random_walk else [(0, 0.0)])
    results = []
    for lag, phi in plan:
        for seed in args.seeds:
            prices = lag_return_series(n_days=args.days, lag=max(lag, 1), phi=phi, noise=args.noise,
                                       seed=seed)
            csv = out / "series" / f"lag{lag}_phi{phi}_seed{seed}.csv"
            csv.parent.mkdir(parents=True, exist_ok=True)
            prices.to_csv(csv, index_label="Date")
            row: dict[str, Any] = {"lag": lag, "phi": phi, "seed": seed,
                                   "oracle": oracle_ratio(prices, max(lag, 1), phi, args.lookback)}
            for model in args.models:
                run_dir = out / "runs" / f"{model}_lag{lag}_seed{seed}"
                row[model] = run_one(model, csv, run_dir, seed, args.lookback, args.preset)
                ratios = row[model]
                print(f"k={lag} phi={phi} seed={seed} {model}: as trained {ratios['as_trained']:.4f}, "
                      f"guarded {ratios['guarded']:.4f} (kept {ratios['kept']}), AR {ratios['ar']:.4f}, "
                      f"ridge {ratios['linear']:.4f}, oracle {row['oracle']:.4f}; "
                      f"{ratios['train_seconds']:.0f} s", flush=True)
            results.append(row)
            if seed == args.seeds[0] and lag > 0:
                plot_where_they_look(out, args.models, lag, seed)
            write_json(out / "results.json",
                       {"conditions": conditions, "settings": vars(args), "runs": results})
    markdown = table(results, args.models)
    write_text(out / "results.md",
               "Skill captured = (1 − RMSE/naive) / (1 − oracle RMSE/naive), test split, mean ± std "
               f"over seeds {args.seeds}; phi {args.phi}, noise {args.noise}, {args.days} days, lookback "
               f"{args.lookback}. Machine: {conditions}.\n\n{markdown}\n")
    print("\n" + markdown)
    return {"conditions": conditions, "runs": results}


if __name__ == "__main__":
    main()
