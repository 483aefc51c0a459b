"""Volatility and direction on GOOG: both networks over several seeds, beside each target's baselines,
and three constants that show what a volatility forecast's edge is made of. The volatility and
direction tables in MemoryLLM/README.md ("Targets that can be forecast") and CodeLLM/README.md
("Volatility and direction on GOOG") are this benchmark's results.md.

    python benchmarks/bench_targets.py                       # both networks, both targets, seeds 42 43 44
    python benchmarks/bench_targets.py --targets volatility --models lstm --seeds 42
    python benchmarks/bench_targets.py --preset tiny         # seconds: tiny networks, checks the plumbing

Each run is a stage's `run(config)` (CodeLLM/stages.py) at its default settings with `--target` and
`--seed`, exactly as `python MemoryLLM/train.py --target volatility --seed 43` runs it, into
OUT/runs/<model>-<target>-seed<seed>/: twelve runs by default (their times: MemoryLLM/README.md).

What it reports, per target:
- each network as trained and as guarded, on the first seed (the README's "seed 42" columns) and as
  mean ± std over the seeds (std with ddof = 1), with the guard's verdicts and validation p-values;
- the target's baselines (the same in every run: nothing in them depends on the seed);
- volatility only: the realised volatility's mean over the training, validation and test windows,
  HAR-RV's coefficients, and three constants scored on the test windows beside HAR-RV — the training
  windows' mean and median and the validation windows' mean. A constant knows a level and nothing
  about next week; a network that scores like one has learned the level.

Writes OUT/results.json (every run's metrics, the baselines, the constants, mean ± std) and
OUT/results.md (the tables), OUT = outputs/bench/targets unless --out says otherwise.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from common.paths import output_dir
from common.runs import write_json, write_text

MODELS = ("lstm", "transformer")
LABELS = {"lstm": "LSTM", "transformer": "Transformer"}
TARGETS = ("volatility", "direction")
# What a README table reads of each forecast: (metric key, header, digits).
COLUMNS = {
    "volatility": (("rmse", "RMSE", 4), ("rmse_vs_har", "RMSE / HAR", 4), ("qlike", "QLIKE", 4),
                   ("dm_pvalue", "DM p vs HAR (SE)", 3), ("dm_qlike_pvalue", "DM p vs HAR (QLIKE)", 3),
                   ("mean_forecast", "mean forecast", 3)),
    "direction": (("log_loss", "log-loss", 4), ("brier", "Brier", 4), ("accuracy", "accuracy", 3),
                  ("dm_pvalue", "DM p vs base rate", 2), ("mean_probability", "mean P(up)", 3)),
}
# The metrics averaged over seeds (the README's "seeds 42–44" columns).
SEED_METRICS = {"volatility": ("rmse_vs_har", "qlike"), "direction": ("log_loss", "accuracy")}
# --preset tiny: the stages' tiny networks on a short series (lookback 30 still lets HAR-RV see its month).
PRESETS = {"tiny": {"start": "2011-01-01", "lookback": 30}}


def stage_config(model: str, target: str, seed: int, out: Path, preset: str, data_options: dict) -> Any:
    """The stage's own config: its defaults (or its preset), then target, seed, folder and data options."""
    from CodeLLM.stages import stage_runner
    from common.config import preset_config

    config_cls = stage_runner(model)[0]
    return preset_config(config_cls, preset, target=target, seed=seed, out=str(out), **data_options)


def run_one(model: str, config: Any) -> dict[str, Any]:
    """One stage run through its `run(config)`; the numbers the tables read, plus the whole metrics."""
    from CodeLLM.stages import stage_runner

    run = stage_runner(model)[1]
    started = time.perf_counter()
    metrics = run(config, verbose=False)
    return {"model": model, "target": config.target, "seed": config.seed, "run": config.out,
            "wall_seconds": round(time.perf_counter() - started, 1),
            "train_seconds": metrics["train_seconds"], "epochs_run": metrics["epochs_run"],
            "best_epoch": metrics["best_epoch"], "kept": metrics["guard"]["kept"],
            "guard_pvalue": metrics["guard"]["dm_pvalue_validation"],
            "as_trained": metrics["forecasts"]["as_trained"], "guarded": metrics["forecasts"]["guarded"],
            "baselines": metrics["baselines"], "baseline_settings": metrics["baseline_settings"],
            "scored": metrics["scored"]}


def mean_std(values: list[float]) -> dict[str, Any]:
    """{"values", "mean", "std"}: std with ddof = 1 (0 for a single value)."""
    array = np.asarray(values, dtype=np.float64)
    return {"values": [float(value) for value in array], "mean": float(array.mean()),
            "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0}


def summarize(runs: list[dict[str, Any]], target: str) -> dict[str, Any]:
    """Mean ± std over seeds of one network's runs on one target, and the guard's verdicts."""
    summary: dict[str, Any] = {"seeds": [run["seed"] for run in runs],
                               "kept": sum(run["kept"] for run in runs), "runs": len(runs),
                               "guard_pvalues": [run["guard_pvalue"] for run in runs]}
    for forecast in ("as_trained", "guarded"):
        summary[forecast] = {key: mean_std([run[forecast][key] for run in runs])
                             for key in SEED_METRICS[target]}
    return summary


def volatility_levels(config: Any) -> dict[str, Any]:
    """Realised volatility per split, HAR-RV's fit, and three constants scored beside HAR-RV on the
    test windows of a stage's volatility `config` (no network: the windows and baselines alone, built
    as the stage builds them)."""
    from common.forecast.inputs import load_forecast_data
    from common.forecast.target_baselines import fit_target_baselines
    from common.forecast.target_report import target_metrics

    data, _ = load_forecast_data(config, target="volatility", volatility_days=config.volatility_days)
    baselines = fit_target_baselines(data)
    actual = data.actual_targets("test")
    har = baselines.forecasts("test")["har"]
    train = data.actual_targets("train")
    constants = {"training mean": float(np.mean(train)), "training median": float(np.median(train)),
                 "validation mean": float(np.mean(data.actual_targets("validation")))}
    scored = {}
    for name, level in constants.items():
        constant = np.full(len(actual), level)
        metrics = target_metrics("volatility", actual, constant, har, data.target_days)
        scored[name] = {"level": level, **metrics}
    return {"realised_mean": {split: float(np.mean(data.actual_targets(split)))
                              for split in ("train", "validation", "test")},
            "har_mean_forecast": float(np.mean(har)),
            "har_coefficients": baselines.info["har"]["coefficients"], "constants": scored}


def cell(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}".replace("-", "−")


def spread(entry: dict[str, Any], digits: int) -> str:
    text = cell(entry["mean"], digits)
    return text if len(entry["values"]) == 1 else f"{text} ± {entry['std']:.{digits}f}"


def target_table(target: str, result: dict[str, Any]) -> str:
    """Markdown: each network on the first seed and over the seeds, then the baselines."""
    columns = COLUMNS[target]
    seeds = result["seeds"]
    seed_label = f"seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    names = {"rmse_vs_har": "RMSE / HAR", "qlike": "QLIKE", "log_loss": "log-loss", "accuracy": "accuracy"}
    header = [f"{target} (seed {seeds[0]})", *(title for _, title, _ in columns),
              *(f"{names[key]}, {seed_label}" for key in SEED_METRICS[target]), "guard kept (validation p)"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 2) + "---|"]
    digits = {key: places for key, _, places in columns}
    for model, summary in result["models"].items():
        first = result["runs"][model][0]
        for forecast in ("as_trained", "guarded"):
            cells = [f"{LABELS[model]} {forecast.replace('_', ' ')}"]
            cells += [cell(first[forecast].get(key), places) for key, _, places in columns]
            cells += [spread(summary[forecast][key], digits[key]) for key in SEED_METRICS[target]]
            pvalues = ", ".join(f"{value:.2f}" for value in summary["guard_pvalues"])
            verdicts = f"{summary['kept']}/{summary['runs']} ({pvalues})"
            cells.append(verdicts if forecast == "as_trained" else "")
            lines.append("| " + " | ".join(cells) + " |")
    for name, values in result["baselines"].items():
        cells = [name, *(cell(values.get(key), places) for key, _, places in columns)]
        lines.append("| " + " | ".join(cells + [""] * (len(header) - len(cells))) + " |")
    return "\n".join(lines)


def levels_table(levels: dict[str, Any]) -> str:
    realised = levels["realised_mean"]
    coefficients = ", ".join(f"{name} {value:.3f}" for name, value in levels["har_coefficients"].items())
    lines = [f"Realised volatility, mean over the windows: train {realised['train']:.3f}, validation "
             f"{realised['validation']:.3f}, test {realised['test']:.3f}. HAR-RV forecasts "
             f"{levels['har_mean_forecast']:.3f} on average on test; its coefficients (annualised "
             f"variances): {coefficients}.", "",
             "| constant | level | RMSE / HAR | QLIKE | DM p vs HAR (SE) | DM p vs HAR (QLIKE) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, values in levels["constants"].items():
        lines.append(f"| {name} | {values['level']:.3f} | {cell(values['rmse_vs_har'], 3)} | "
                     f"{cell(values['qlike'], 3)} | {cell(values['dm_pvalue'], 3)} | "
                     f"{cell(values['dm_qlike_pvalue'], 3)} |")
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    preset = f" (preset {results['preset']})" if results["preset"] else ""
    parts = [f"GOOG, each stage's defaults{preset}; seeds {results['seeds']}; mean ± std (ddof = 1) over the "
             f"seeds. Machine: {results['conditions']}."]
    for target, result in results["targets"].items():
        scored = result["scored"]
        parts.append(f"## {target.capitalize()} (test {scored['first']} .. {scored['last']}, "
                     f"{scored['windows']} windows)\n\n{target_table(target, result)}")
        if "levels" in result:
            parts.append(levels_table(result["levels"]))
    return "\n\n".join(parts) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS, help="targets to run")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="networks to run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44],
                        help="training seeds; the first is the README's single-seed column")
    parser.add_argument("--preset", default="", choices=list(PRESETS),
                        help="tiny: the stages' tiny networks on GOOG from 2011 with lookback 30 (seconds)")
    parser.add_argument("--out", default=str(output_dir("bench", "targets")),
                        help="where runs and results go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = Path(args.out)
    data_options = dict(PRESETS.get(args.preset, {}))
    conditions = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
                  f"{os.getloadavg()[0]:.1f} at start")
    print(f"machine: {conditions}")
    results: dict[str, Any] = {"conditions": conditions, "preset": args.preset, "seeds": args.seeds,
                               "settings": vars(args), "targets": {}}
    for target in args.targets:
        runs = {}
        for model in args.models:
            runs[model] = []
            for seed in args.seeds:
                config = stage_config(model, target, seed, out / "runs" / f"{model}-{target}-seed{seed}",
                                      args.preset, data_options)
                row = run_one(model, config)
                runs[model].append(row)
                main_metric = SEED_METRICS[target][0]
                verdict = "kept" if row["kept"] else "fell back"
                print(f"{target} {model} seed {seed}: {main_metric} {row['as_trained'][main_metric]:.4f} as "
                      f"trained, guard {verdict} (p {row['guard_pvalue']:.2f}); {row['train_seconds']:.0f} s",
                      flush=True)
        every_run = [row for rows in runs.values() for row in rows]
        result: dict[str, Any] = {
            "seeds": args.seeds, "scored": every_run[0]["scored"],
            "baselines": every_run[0]["baselines"], "baseline_settings": every_run[0]["baseline_settings"],
            # nothing in a baseline depends on the seed or the network: a difference is a bug
            "baselines_identical": all(row["baselines"] == every_run[0]["baselines"] for row in every_run),
            "models": {model: summarize(rows, target) for model, rows in runs.items()},
            "runs": runs,
        }
        if target == "volatility":
            result["levels"] = volatility_levels(config)  # the last run's windows: every run's
        results["targets"][target] = result
        write_json(out / "results.json", results)
    text = markdown(results)
    write_text(out / "results.md", text)
    print("\n" + text)
    return results


if __name__ == "__main__":
    from common import runtime

    runtime.prepare_environment()  # OpenMP and TensorFlow read it as they load: before any stage import
    main()
