"""Long-range memory on series: can the LSTM (Stage 3) and the Transformer (Stage 4) use what
happened k trading days ago, for k up to a trading year? Two families of synthetic series
(common/forecast/synthetic.py), each with a known best forecast:

    lag:     r_t = phi · r_{t-k} + e_t                               (phi 0.5, noise 1 % a day)
    marker:  r_t = 3 · noise · [day t-k was a marker day] + e_t      (5 % of days; volume x8 that day)

The marker family is the harder one: the signal is a rare volume spike exactly k days back, which no
average over the window shows and an AR on returns cannot see at all.

For each family, lag k and seed: one series, its windows with lookback = max(60, k + 10), and on
exactly those windows
- each network at *equal epochs* (the budget both stages default to), and at *equal wall clock*:
  the training seconds of the faster network; each slower one is retrained with as many epochs as
  fitted in those seconds at its measured pace (its cosine schedule fitted to them) and stopped at them;
- AR(k), OLS on the last k returns (train), and the stages' AR(p ≤ 10) and ridge baselines;
- the oracle (the true coefficient and the true marker days): the physical limit.
Every forecast is scored as skill captured = (1 - RMSE/naive) / (1 - oracle RMSE/naive) on the test
split, as trained and guarded (the harness's Diebold-Mariano guard), and on the validation split's
"guard" half, on which the Transformer's long-window options were chosen; never on test.

    python benchmarks/bench_long_range.py                  # both families, k = 1 .. 250 (~75 min, 2 cores)
    python benchmarks/bench_long_range.py --families lag --lags 20 250 --seeds 0
    python benchmarks/bench_long_range.py --models transformer transformer-patch10 transformer-skip \\
        --budgets epochs --lags 60 250 --seeds 0 1   # compare Transformer options: read the validation skill
    python benchmarks/bench_long_range.py --quick          # seconds: tiny models, k = 1: checks the plumbing

Writes outputs/bench/long_range/: results.json (every run), results.md (the tables in CodeLLM/README.md),
skill_vs_lag.png and where_they_look.png (each network's saliency / attention per day, true lag marked).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_lag import mean_std, rmse_vs_naive  # the sibling benchmark's pieces

from CodeLLM.stages import forecast_stage
from common.forecast.baselines import ar_predict, fit_ar_order, fit_baselines
from common.forecast.synthetic import (
    lag_return_series,
    marker_return_series,
    oracle_forecast,
    oracle_log_returns,
    skill_captured,
)
from common.forecast.windows import ForecastData, prepare_forecast_data
from common.paths import output_dir
from common.runs import read_json, write_json, write_text

LAGS = (1, 5, 20, 60, 120, 250)
FAMILIES = ("lag", "marker")
SPLITS = {"validation": "guard", "test": "test"}  # reported name -> the harness's split
# Each network: (stage, options over the stage's defaults). The Transformer variants are CodeLLM's
# long-window options; "transformer-long" is the one chosen on validation (CodeLLM/README.md).
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "lstm": ("lstm", {}),
    "transformer": ("transformer", {}),
    "transformer-fused": ("transformer", {"attention": "fused"}),
    "transformer-patch5": ("transformer", {"attention": "fused", "patch_len": 5}),
    "transformer-patch10": ("transformer", {"attention": "fused", "patch_len": 10}),
    "transformer-skip": ("transformer", {"attention": "fused", "linear_skip": True}),
    "transformer-patch10-skip": ("transformer", {"attention": "fused", "patch_len": 10, "linear_skip": True}),
    "transformer-long": ("transformer", {"attention": "fused", "patch_len": 5}),
}
QUICK_MODELS = {"lstm": {"units": 8}, "transformer": {"d_model": 8, "heads": 2, "ff_dim": 16}}


def stage_of(name: str) -> Any:
    """The harness's Stage of a network."""
    return forecast_stage(MODELS[name][0])


def make_series(family: str, lag: int, seed: int, days: int, noise: float) -> tuple[Any, np.ndarray]:
    """(prices, oracle log returns aligned with their rows) of one series of the family."""
    if family == "lag":
        prices = lag_return_series(days, lag, phi=0.5, noise=noise, seed=seed)
        return prices, oracle_log_returns(prices, lag, 0.5)
    prices, markers = marker_return_series(days, lag, phi=0.0, noise=noise, seed=seed, marker_prob=0.05)
    return prices, oracle_log_returns(prices, lag, 0.0, markers=markers, noise=noise)


def lag_mass(profile: np.ndarray, lag: int) -> float:
    """Share of a (lookback,) profile on the planted day (k - 1 days before the last known close) and
    its two neighbours: where the mass should land. A uniform profile gives 3 / lookback."""
    day = len(profile) - lag  # index of the return r_{t+1-k}
    return float(np.sum(profile[max(day - 1, 0):day + 2]))


def train_and_score(
    name: str, config: Any, data: ForecastData, baselines: Any, profiles: bool
) -> dict[str, Any]:
    """Train one network with the harness's `fit` and score it as trained and guarded."""
    from common.forecast.harness import all_forecasts, fit
    from common.seed import set_seed

    stage = stage_of(name)
    set_seed(config.seed)
    forecaster = stage.make(config, data)
    result = fit(forecaster, data, config, verbose=False)
    row: dict[str, Any] = {"load_average": os.getloadavg()[0], "epochs": config.epochs,
                           "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
                           "train_seconds": result.train_seconds,
                           "seconds_per_epoch": float(np.mean(result.history["seconds"]))}
    for reported, split in SPLITS.items():
        forecasts, guards, _ = all_forecasts(forecaster, data, config, split, baselines)
        row[reported] = {kind: rmse_vs_naive(data, split, forecasts[kind][:, 0])
                         for kind in ("as_trained", "guarded")}
    row["kept"] = guards["model"]["kept"]
    row["guard_pvalue"] = guards["model"]["dm_pvalue_validation"]
    if profiles:
        row["profiles"] = {label: np.round(values, 6).tolist()
                           for label, values in forecaster.lag_profiles(data.splits["test"].inputs).items()}
    return row


def score_baselines(
    data: ForecastData, prices: Any, oracle: np.ndarray, lag: int, config: Any
) -> dict[str, Any]:
    """Oracle, AR(k), AR(p ≤ 10) and ridge, RMSE / naive per split, with the guard's verdict on each."""
    from common.forecast.harness import guard_decision

    baselines = fit_baselines(data, config.ma_window)
    ar_k = fit_ar_order(data, lag)
    scores: dict[str, Any] = {"oracle": {}, "ar_k": {}, "ar": {}, "linear": {}}
    kept = {"ar_k": guard_decision(data, ar_predict(data, "guard", lag, ar_k), config.guard_alpha)["kept"]}
    on_guard = baselines.forecasts("guard")
    for name in ("ar", "linear"):
        kept[name] = guard_decision(data, on_guard[name], config.guard_alpha)["kept"]
    for reported, split in SPLITS.items():
        forecasts = baselines.forecasts(split)
        forecasts["ar_k"] = ar_predict(data, split, lag, ar_k)
        scores["oracle"][reported] = rmse_vs_naive(data, split, oracle_forecast(data, prices, oracle, split))
        for name in ("ar_k", "ar", "linear"):
            ratio = rmse_vs_naive(data, split, forecasts[name][:, 0])
            scores[name][reported] = {"as_trained": ratio, "guarded": ratio if kept[name] else 1.0}
    scores["ar_order"] = baselines.info["ar"]["order"]
    return {"scores": scores, "fitted": baselines}


def configs_for(args: argparse.Namespace, name: str, lookback: int, seed: int, epochs: int) -> Any:
    stage = stage_of(name)
    options = dict(MODELS[name][1])
    if args.quick:
        options.update(QUICK_MODELS[MODELS[name][0]], warmup_epochs=0, patience=0)
    config = stage.config_cls(lookback=lookback, seed=seed, epochs=epochs, out=str(args.out), **options)
    config.validate()
    return config


def wall_clock_config(config: Any, seconds: float, seconds_per_epoch: float) -> Any:
    """The same network given `seconds`: as many epochs as fit at its pace (at least one), the warm-up
    scaled with them, and a hard stop at the budget."""
    epochs = max(1, int(seconds / seconds_per_epoch))
    warmup = min(config.warmup_epochs, round(config.warmup_epochs * epochs / config.epochs))
    return dataclasses.replace(config, epochs=epochs, warmup_epochs=warmup, max_seconds=seconds)


def run_series(args: argparse.Namespace, family: str, lag: int, seed: int) -> dict[str, Any]:
    lookback = max(args.min_lookback, lag + 10)
    epochs = args.long_epochs if (args.long_epochs and lag >= 120) else args.epochs
    prices, oracle = make_series(family, lag, seed, args.days, args.noise)
    data = prepare_forecast_data(prices, lookback=lookback, horizon=1)
    configs = {name: configs_for(args, name, lookback, seed, epochs) for name in args.models}
    baselines = score_baselines(data, prices, oracle, lag, next(iter(configs.values())))
    row: dict[str, Any] = {"family": family, "lag": lag, "seed": seed, "lookback": lookback,
                           "days": args.days,
                           **baselines["scores"], "runs": {"epochs": {}, "wall_clock": {}}}
    for name, config in configs.items():
        row["runs"]["epochs"][name] = train_and_score(name, config, data, baselines["fitted"], profiles=True)
        report(row, "epochs", name)
    if "wall_clock" in args.budgets and len(configs) > 1:
        # The budget is the faster network's time; it is reused as is, the slower ones are retrained.
        epoch_runs = row["runs"]["epochs"]
        fastest = min(epoch_runs, key=lambda name: epoch_runs[name]["train_seconds"])
        budget = epoch_runs[fastest]["train_seconds"]
        row["wall_clock_seconds"], row["wall_clock_set_by"] = budget, fastest
        for name, config in configs.items():
            if name == fastest:
                row["runs"]["wall_clock"][name] = {**epoch_runs[name], "reused": True}
                row["runs"]["wall_clock"][name].pop("profiles", None)
                continue
            config = wall_clock_config(config, budget, epoch_runs[name]["seconds_per_epoch"])
            row["runs"]["wall_clock"][name] = train_and_score(name, config, data, baselines["fitted"],
                                                              profiles=False)
            report(row, "wall_clock", name)
    return row


def skill_of(row: dict[str, Any], ratio: float, split: str = "test") -> float:
    return skill_captured(ratio, row["oracle"][split])


def report(row: dict[str, Any], budget: str, name: str) -> None:
    run = row["runs"][budget][name]
    print(f"{row['family']} k={row['lag']} seed={row['seed']} {name} ({budget}, "
          f"{run['epochs_run']}/{run['epochs']} epochs, {run['train_seconds']:.0f} s): "
          f"skill as trained {skill_of(row, run['test']['as_trained']):.3f}, "
          f"guarded {skill_of(row, run['test']['guarded']):.3f}, validation "
          f"{skill_of(row, run['validation']['as_trained'], 'validation'):.3f}; AR(k) "
          f"{skill_of(row, row['ar_k']['test']['as_trained']):.3f}", flush=True)


def summary(rows: list[dict[str, Any]], models: list[str], budgets: list[str]) -> dict[str, Any]:
    """Mean ± std over seeds of every skill, per family, budget, lag and network (and the baselines)."""
    table: dict[str, Any] = {}
    for family in sorted({r["family"] for r in rows}):
        for lag in sorted({r["lag"] for r in rows if r["family"] == family}):
            series = [r for r in rows if r["family"] == family and r["lag"] == lag]
            entry: dict[str, Any] = {"seeds": [r["seed"] for r in series], "lookback": series[0]["lookback"],
                                     "oracle_vs_naive": [r["oracle"]["test"] for r in series],
                                     "oracle_skill": [skill_of(r, r["oracle"]["test"]) for r in series]}
            for name in ("ar_k", "ar", "linear"):
                entry[name] = {kind: [skill_of(r, r[name]["test"][kind]) for r in series]
                               for kind in ("as_trained", "guarded")}
            for budget in budgets:
                for model in models:
                    runs = [(r, r["runs"][budget][model]) for r in series
                            if model in r["runs"].get(budget, {})]
                    if not runs:
                        continue
                    entry[f"{model}@{budget}"] = {
                        "as_trained": [skill_of(r, run["test"]["as_trained"]) for r, run in runs],
                        "guarded": [skill_of(r, run["test"]["guarded"]) for r, run in runs],
                        "validation": [skill_of(r, run["validation"]["as_trained"], "validation")
                                       for r, run in runs],
                        "kept": [run["kept"] for _, run in runs],
                        "train_seconds": [run["train_seconds"] for _, run in runs],
                        "epochs_run": [run["epochs_run"] for _, run in runs],
                        "lag_mass": {label: [lag_mass(np.asarray(p), lag) for p in
                                             [run["profiles"][label] for _, run in runs if "profiles" in run]]
                                     for label in runs[0][1].get("profiles", {})},
                    }
            table.setdefault(family, {})[str(lag)] = entry
    return table


def markdown(table: dict[str, Any], models: list[str], budgets: list[str]) -> str:
    """One table per family and budget: skill captured (test), as trained / guarded, kept, seconds."""
    budget_names = {"epochs": "equal epochs", "wall_clock": "equal wall clock (the faster network's seconds)"}
    parts = []
    for family, lags in table.items():
        for budget in budgets:
            present = [m for m in models if any(f"{m}@{budget}" in entry for entry in lags.values())]
            if not present:
                continue
            header = ["k", "lookback", "oracle / naive"]
            for model in present:
                header += [f"{model} as trained", f"{model} guarded", "kept", "epochs", "train s"]
            header += ["AR(k)", "AR(k) guarded", "AR(p≤10)", "ridge"]
            lines = [f"**{family} family, {budget_names[budget]}** (skill captured on test, "
                     "mean ± std over seeds)",
                     "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for lag, entry in lags.items():
                cells = [lag, str(entry["lookback"]), mean_std(entry["oracle_vs_naive"], digits=3)]
                for model in present:
                    runs = entry.get(f"{model}@{budget}")
                    if runs is None:
                        cells += ["–"] * 5
                        continue
                    cells += [mean_std(runs["as_trained"]), mean_std(runs["guarded"]),
                              f"{sum(runs['kept'])}/{len(runs['kept'])}",
                              mean_std(runs["epochs_run"], digits=0),
                              mean_std(runs["train_seconds"], digits=0)]
                cells += [mean_std(entry["ar_k"]["as_trained"]), mean_std(entry["ar_k"]["guarded"]),
                          mean_std(entry["ar"]["as_trained"]), mean_std(entry["linear"]["as_trained"])]
                lines.append("| " + " | ".join(cells) + " |")
            parts.append("\n".join(lines))
    return "\n\n".join(parts)


def plot_skill_vs_lag(table: dict[str, Any], models: list[str], budgets: list[str], path: Path) -> None:
    """skill_vs_lag.png: one panel per family and budget; mean skill over seeds against k (log axis),
    each network as trained (solid) and guarded (dashed), AR(k) and ridge; the oracle is 1."""
    from matplotlib.figure import Figure

    families = list(table)
    fig = Figure(figsize=(6.5 * len(budgets), 4.2 * len(families)))
    axes = np.atleast_2d(fig.subplots(len(families), len(budgets), squeeze=False))
    colors = {model: f"C{index}" for index, model in enumerate(models)}
    for row, family in enumerate(families):
        lags = sorted(table[family], key=int)
        ks = [int(lag) for lag in lags]
        for column, budget in enumerate(budgets):
            axis = axes[row, column]
            for model in models:
                key = f"{model}@{budget}"
                present = [lag for lag in lags if key in table[family][lag]]
                if not present:
                    continue
                for kind, style in (("as_trained", "-"), ("guarded", "--")):
                    means = [np.mean(table[family][lag][key][kind]) for lag in present]
                    axis.plot([int(lag) for lag in present], means, ls=style, marker="o", color=colors[model],
                              label=f"{model} {kind.replace('_', ' ')}")
            for name, label, color in (("ar_k", "AR(k)", "black"), ("linear", "ridge", "gray")):
                axis.plot(ks, [np.mean(table[family][lag][name]["as_trained"]) for lag in lags], ls=":",
                          marker="s", color=color, label=label)
            axis.axhline(1.0, color="tab:green", lw=0.8, label="oracle")
            axis.axhline(0.0, color="black", lw=0.6)
            axis.set_xscale("log")
            axis.set_xticks(ks, [str(k) for k in ks])
            axis.set_xticks([], minor=True)  # only the lags themselves on the log axis
            low, high = axis.get_ylim()
            axis.set_ylim(max(-1.0, low), max(1.1, high))
            axis.set(title=f"{family} family, equal {budget.replace('_', ' ')}", xlabel="lag k (days)",
                     ylabel="skill captured (test)")
            axis.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    save(fig, path)


def plot_where_they_look(rows: list[dict[str, Any]], models: list[str], path: Path) -> None:
    """where_they_look.png: per family (rows) and lag (columns), each network's saliency / attention
    per day of the window (equal-epoch runs, mean over seeds), the planted day marked."""
    from matplotlib.figure import Figure

    families = sorted({r["family"] for r in rows})
    lags = sorted({r["lag"] for r in rows})
    fig = Figure(figsize=(max(3.6 * len(lags), 9), 3.2 * len(families)))
    axes = fig.subplots(len(families), len(lags), squeeze=False)
    for row, family in enumerate(families):
        for column, lag in enumerate(lags):
            axis = axes[row, column]
            series = [r for r in rows if r["family"] == family and r["lag"] == lag]
            if not series:
                axis.set_visible(False)
                continue
            for model in models:
                runs = [r["runs"]["epochs"][model] for r in series if model in r["runs"]["epochs"]]
                for label in runs[0].get("profiles", {}) if runs else []:
                    mean = np.mean([run["profiles"][label] for run in runs], axis=0)
                    axis.plot(np.arange(-len(mean) + 1, 1), mean, lw=1.0, label=label)
            lookback = series[0]["lookback"]
            axis.axhline(1 / lookback, color="gray", ls=":", lw=0.8)
            axis.axvline(-(lag - 1), color="tab:red", ls="--", lw=0.8, label="planted day")
            axis.set_title(f"{family}, k = {lag}", fontsize=9)
            axis.set_xlabel("day (0 = last known close)", fontsize=8)
            axis.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("share of the window")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=7)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save(fig, path)


def save(fig: Any, path: Path) -> None:
    from common.runs import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--lags", type=int, nargs="+", default=None,
                        help=f"lags k of the planted signal (default {' '.join(map(str, LAGS))}; --quick: 1)")
    parser.add_argument("--marker-lags", type=int, nargs="+", default=None,
                        help="lags of the marker family when they differ from --lags")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="series (and training) seeds")
    parser.add_argument("--long-seeds", type=int, nargs="+", default=None,
                        help="seeds for k >= 120, where a run costs most (default: --seeds)")
    parser.add_argument("--marker-seeds", type=int, nargs="+", default=None,
                        help="seeds of the marker family if other (k >= 120 still takes --long-seeds)")
    parser.add_argument("--models", nargs="+", default=["lstm", "transformer-long"], choices=list(MODELS))
    parser.add_argument("--budgets", nargs="+", default=["epochs", "wall_clock"],
                        choices=["epochs", "wall_clock"])
    parser.add_argument("--epochs", type=int, default=30,
                        help="the equal-epoch budget (both stages' default)")
    parser.add_argument("--long-epochs", type=int, default=0,
                        help="a smaller epoch budget for k >= 120 (0 = --epochs)")
    parser.add_argument("--days", type=int, default=2500, help="length of each series (business days)")
    parser.add_argument("--noise", type=float, default=0.01, help="daily noise (0.01 = 1 %% a day)")
    parser.add_argument("--min-lookback", type=int, default=60, help="lookback = max(this, k + 10)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0 = one per physical core)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny networks, 2 epochs, 400 days, k = 1, seed 0")
    parser.add_argument("--out", default=str(output_dir("bench", "long_range")), help="where results go")
    parser.add_argument("--redraw", action="store_true",
                        help="train nothing: rewrite results.md and the plots from --out's results.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.lags = args.lags or [1]
        args.seeds, args.days, args.epochs, args.min_lookback = args.seeds[:1], 400, 2, 20
    args.lags = args.lags or list(LAGS)
    for lag in args.lags + (args.marker_lags or []):
        if lag < 1:
            raise ValueError(f"--lags must be at least 1 day, got {lag}")
    args.out = Path(args.out)
    return args


def compared_budgets(budgets: list[str], models: list[str]) -> list[str]:
    """The budgets a run compares: equal wall clock needs two networks."""
    return [budget for budget in budgets if budget == "epochs" or len(models) > 1]


def seeds_for(args: argparse.Namespace, family: str, lag: int) -> list[int]:
    if args.long_seeds is not None and lag >= 120:
        return args.long_seeds
    return args.marker_seeds if (family == "marker" and args.marker_seeds is not None) else args.seeds


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import contextlib

    from common import runtime

    args = parse_args(argv)
    if args.redraw:
        return write_reports(read_json(args.out / "results.json"), args.out)
    conditions = (f"{runtime.cpu_model()}, {os.cpu_count()} cores, "
                  f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"machine: {conditions}", flush=True)
    plan = [(family, lag, seed) for family in args.families
            for lag in (args.marker_lags or args.lags if family == "marker" else args.lags)
            for seed in seeds_for(args, family, lag)]
    started = time.perf_counter()
    rows = []
    with contextlib.ExitStack() as settings:
        threads = settings.enter_context(runtime.torch_settings(args.threads))
        if any(MODELS[name][0] == "lstm" for name in args.models):
            settings.enter_context(runtime.tensorflow_settings(args.threads))
        for family, lag, seed in plan:
            rows.append(run_series(args, family, lag, seed))
            table = summary(rows, args.models, compared_budgets(args.budgets, args.models))
            results = {"conditions": conditions, "threads": threads,
                       "settings": {**vars(args), "out": str(args.out)},
                       "models": {name: MODELS[name][1] for name in args.models}, "summary": table,
                       "runs": rows,
                       "seconds": time.perf_counter() - started}
            write_json(args.out / "results.json", results)
    return write_reports(results, args.out)


def write_reports(results: dict[str, Any], out: Path) -> dict[str, Any]:
    """results.md, skill_vs_lag.png and where_they_look.png from a results.json's content."""
    models, rows = list(results["models"]), results["runs"]
    budgets = compared_budgets(results["settings"]["budgets"], models)
    table = summary(rows, models, budgets)
    text = markdown(table, models, budgets)
    write_text(out / "results.md", "Skill captured = (1 − RMSE/naive) / (1 − oracle RMSE/naive), test split. "
               f"Machine: {results['conditions']}; {results['threads']} threads; "
               f"{results['seconds'] / 60:.0f} min in all.\n\n{text}\n")
    plot_skill_vs_lag(table, models, budgets, out / "skill_vs_lag.png")
    plot_where_they_look(rows, models, out / "where_they_look.png")
    print("\n" + text)
    return results


if __name__ == "__main__":
    from common import runtime

    runtime.prepare_environment()  # OpenMP and TensorFlow read it as they load: before any stage import
    main()
