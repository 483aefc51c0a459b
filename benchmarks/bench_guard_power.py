"""How often does the Stage 3-4 guard keep a network that has learned something? Its power curve.

The guard keeps a network only if a one-sided Diebold-Mariano test on validation windows nothing was
chosen on says it beats naive at 5 % (common/forecast/harness.py). With the default
`--select-on validation-half` it tests on half of validation; `--select-on train-tail` chooses the
epoch on the training split's last 15 % instead, so the guard tests on all of validation.

    .venv/bin/python benchmarks/bench_guard_power.py                 # simulated curves (~1 min)
    .venv/bin/python benchmarks/bench_guard_power.py --networks      # + both stages on lag series
    .venv/bin/python benchmarks/bench_guard_power.py --networks --seeds 0 1 2 --phis 0.5 --lags 20

1. **Simulated** (fast, many draws): on a lag-k series r_t = phi·r_{t-k} + noise, a forecast with a
   known share s of the oracle's skill, f = c·oracle + independent noise (c = 0.9, the noise sized
   so that skill captured = s), is judged by the guard's own test on as many windows as each cut
   gives it. Skill 0 is the guard's size (a forecast exactly as good as naive), skill 1 the oracle.
   The forecast's errors are the simulation's choice: a network's errors are not this simple, so
   the networks below check the curve.
2. **Networks** (`--networks`): MemoryLLM's LSTM and CodeLLM's Transformer, their defaults, on
   3,000-day lag series, once with each cut: the test skill captured and the guard's verdict.

Writes outputs/bench/guard_power/results.json, results.md and power.png.
"""
# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP / TensorFlow read their settings as they load

import argparse
import time
from typing import Any

import numpy as np
from bench_lag import oracle_ratio  # the sibling benchmark's oracle on the same windows

from common.forecast.stats import diebold_mariano
from common.forecast.synthetic import lag_return_series, skill_captured
from common.forecast.windows import SELECT_ON, prepare_forecast_data
from common.paths import output_dir
from common.runs import write_json, write_text

ALPHA = 0.05  # the guard's level (the stages' --guard-alpha default)
SHRINK = 0.9  # the simulated forecast's weight on the oracle: a network rarely says the full move


def guard_windows(days: int, lookback: int = 60) -> dict[str, int]:
    """How many windows the guard tests on, for each --select-on, on a series of `days` days."""
    prices = lag_return_series(n_days=days, lag=1, phi=0.0, seed=0)
    return {cut: len(prepare_forecast_data(prices, lookback=lookback, select_on=cut).splits["guard"].anchors)
            for cut in SELECT_ON}


def simulate(phi: float, noise: float, lag: int, skill: float, windows: int, draws: int,
             rng: np.random.Generator) -> float:
    """Share of `draws` in which the guard keeps a forecast capturing `skill` of the oracle's skill,
    tested on `windows` days of a lag-`lag` series (returns, one day ahead)."""
    burn = 10 * lag + 100  # the AR recursion forgets its zero start
    oracle_var = phi**2 * noise**2 / (1 - phi**2)  # variance of phi·r_{t-k}
    naive_rmse, oracle_rmse = np.sqrt(noise**2 + oracle_var), noise
    target_rmse = naive_rmse - skill * (naive_rmse - oracle_rmse)
    extra = max(target_rmse**2 - noise**2 - (1 - SHRINK) ** 2 * oracle_var, 0.0)  # the forecast's own noise
    kept = 0
    for _ in range(draws):
        shocks = rng.normal(0.0, noise, windows + burn)
        returns = shocks.copy()
        for t in range(lag, len(returns)):
            returns[t] += phi * returns[t - lag]
        oracle = np.zeros_like(returns)
        oracle[lag:] = phi * returns[:-lag]
        returns, oracle = returns[burn:], oracle[burn:]
        forecast = SHRINK * oracle + rng.normal(0.0, np.sqrt(extra), windows)
        _, p_value = diebold_mariano(returns**2, (returns - forecast) ** 2, 1)
        kept += p_value is not None and p_value < ALPHA
    return kept / draws


def run_networks(args: argparse.Namespace, out: Path, results: dict[str, Any]) -> list[dict[str, Any]]:
    """Both stages, defaults, on 3,000-day lag series, with each --select-on; results.json is rewritten
    after every run, so an interrupted benchmark keeps what it measured."""
    from CodeLLM.stages import stage_runner

    rows = []
    for phi, noise in zip(args.phis, args.noises, strict=True):
        if args.network_phis and phi not in args.network_phis:
            continue
        for lag in args.lags:
            for seed in args.seeds:
                prices = lag_return_series(n_days=args.days, lag=lag, phi=phi, noise=noise, seed=seed)
                csv = out / "series" / f"lag{lag}_phi{phi}_seed{seed}.csv"
                csv.parent.mkdir(parents=True, exist_ok=True)
                prices.to_csv(csv, index_label="Date")
                oracle = oracle_ratio(prices, lag, phi, lookback=60)  # the stages' test windows
                for model in args.models:
                    config_cls, run = stage_runner(model)
                    for cut in SELECT_ON:
                        started = time.perf_counter()
                        folder = out / "runs" / f"{model}_{cut}_lag{lag}_phi{phi}_seed{seed}"
                        metrics = run(config_cls(csv=str(csv), out=str(folder), seed=seed, select_on=cut),
                                      verbose=False)
                        ratio = metrics["forecasts"]["as_trained"]["rmse_vs_naive"]
                        row = {"model": model, "select_on": cut, "lag": lag, "phi": phi, "noise": noise,
                               "seed": seed, "oracle_ratio": oracle, "rmse_vs_naive": ratio,
                               "skill": skill_captured(ratio, oracle), "kept": metrics["guard"]["kept"],
                               "guard_pvalue": metrics["guard"]["dm_pvalue_validation"],
                               "guard_windows": metrics["guard"]["windows"],
                               "best_epoch": metrics["best_epoch"],
                               "seconds": round(time.perf_counter() - started, 1)}
                        rows.append(row)
                        write_json(out / "results.json", {**results, "networks": rows})
                        print(f"{model} {cut} k={lag} phi={phi} seed={seed}: skill {row['skill']:.2f}, kept "
                              f"{row['kept']} (p {row['guard_pvalue']:.3f}, {row['guard_windows']} windows), "
                              f"{row['seconds']:.0f} s", flush=True)
    return rows


def plot(curves: list[dict[str, Any]], networks: list[dict[str, Any]], path: Path) -> None:
    from matplotlib.figure import Figure

    strengths = sorted({(c["phi"], c["noise"]) for c in curves}, reverse=True)
    fig = Figure(figsize=(5.5 * len(strengths), 4.2))
    axes = np.atleast_1d(fig.subplots(1, len(strengths)))
    styles = {"validation-half": ("tab:blue", "guard on half of validation"),
              "train-tail": ("tab:orange", "guard on all of validation")}
    for axis, (phi, noise) in zip(axes, strengths, strict=True):
        for cut, (colour, label) in styles.items():
            points = [c for c in curves if (c["phi"], c["noise"], c["select_on"]) == (phi, noise, cut)]
            axis.plot([c["skill"] for c in points], [c["kept_share"] for c in points], marker="o",
                      color=colour, label=f"simulated, {label} ({points[0]['windows']} windows)")
            runs = [r for r in networks if (r["phi"], r["noise"], r["select_on"]) == (phi, noise, cut)]
            if runs:
                axis.scatter([r["skill"] for r in runs], [1.02 if r["kept"] else -0.02 for r in runs],
                             color=colour, marker="x", label=f"networks, {label} (kept = 1)")
        axis.axhline(ALPHA, color="grey", linestyle=":", label=f"level {ALPHA:.0%}")
        axis.axhline(0.9, color="black", linestyle="--", linewidth=0.8, label="target: 90 % kept")
        axis.axvline(0.75, color="black", linestyle="--", linewidth=0.8)
        axis.set_xlabel("share of the oracle's skill captured")
        axis.set_ylabel("share of runs the guard keeps")
        axis.set_title(f"lag series, phi {phi}, noise {noise:.0%} a day")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def table(curves: list[dict[str, Any]]) -> str:
    skills = sorted({c["skill"] for c in curves})
    lines = ["| series | guard windows | " + " | ".join(f"skill {s:g}" for s in skills) + " |",
             "|" + "---|" * (len(skills) + 2)]
    for phi, noise in sorted({(c["phi"], c["noise"]) for c in curves}, reverse=True):
        for cut in SELECT_ON:
            points = {c["skill"]: c for c in curves
                      if (c["phi"], c["noise"], c["select_on"]) == (phi, noise, cut)}
            first = next(iter(points.values()))
            lines.append(f"| phi {phi}, noise {noise} | {first['windows']} ({cut}) | "
                         + " | ".join(f"{points[s]['kept_share']:.0%}" for s in skills) + " |")
    return "\n".join(lines)


def network_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: each network run's test skill captured and the guard's verdict, side by side per cut."""
    header = " | ".join(f"{cut}: skill, kept (p)" for cut in SELECT_ON)
    lines = [f"| model | lag | phi | seed | {header} |", "|" + "---|" * (4 + len(SELECT_ON))]
    keys = dict.fromkeys((r["model"], r["lag"], r["phi"], r["seed"]) for r in rows)
    for model, lag, phi, seed in keys:
        cells = []
        for cut in SELECT_ON:
            run = next((r for r in rows if (r["model"], r["lag"], r["phi"], r["seed"], r["select_on"])
                        == (model, lag, phi, seed, cut)), None)
            verdict = "" if run is None else "kept" if run["kept"] else "dropped"
            cells.append("–" if run is None else f"{run['skill']:.2f}, {verdict} ({run['guard_pvalue']:.3f})")
        lines.append(f"| {model} | {lag} | {phi} | {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_markdown(results: dict[str, Any], path: Path) -> None:
    settings = results["settings"]
    text = (f"Share of simulated forecasts the guard keeps ({settings['draws']} draws per point, lag "
            f"{settings['lags'][0]}, {settings['days']}-day series):\n\n{table(results['simulated'])}\n")
    if results["networks"]:
        text += (f"\nBoth stages' defaults on {settings['days']}-day lag series: test skill captured, and "
                 f"the guard's verdict (validation p-value):\n\n{network_table(results['networks'])}\n")
    write_text(path, text)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=3000, help="length of each series (business days)")
    parser.add_argument("--phis", type=float, nargs="+", default=[0.5, 0.3], help="lag strengths")
    parser.add_argument("--noises", type=float, nargs="+", default=[0.01, 0.02],
                        help="daily noise, one per strength")
    parser.add_argument("--lags", type=int, nargs="+", default=[20],
                        help="lags k of the networks' series (the simulation uses the first)")
    parser.add_argument("--skills", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
    parser.add_argument("--draws", type=int, default=400, help="simulated series per point")
    parser.add_argument("--networks", action="store_true", help="also train both stages on lag series")
    parser.add_argument("--models", nargs="+", default=["lstm", "transformer"],
                        choices=["lstm", "transformer"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="series seeds (--networks)")
    parser.add_argument("--network-phis", type=float, nargs="+", default=None,
                        help="the strengths the networks run on (default: every --phis)")
    parser.add_argument("--out", default=str(output_dir("bench", "guard_power")))
    args = parser.parse_args(argv)
    if len(args.phis) != len(args.noises):
        parser.error("give one --noises value per --phis value")
    out = Path(args.out)
    windows = guard_windows(args.days)
    print(f"guard windows on {args.days} days: {windows}")
    rng = np.random.default_rng(0)
    curves = [{"phi": phi, "noise": noise, "lag": args.lags[0], "select_on": cut, "windows": count,
               "skill": skill,
               "kept_share": simulate(phi, noise, args.lags[0], skill, count, args.draws, rng)}
              for phi, noise in zip(args.phis, args.noises, strict=True)
              for cut, count in windows.items() for skill in args.skills]
    markdown = table(curves)
    print(markdown)
    results: dict[str, Any] = {"settings": vars(args), "cpu": runtime.cpu_model(), "guard_windows": windows,
                               "simulated": curves, "networks": []}
    write_json(out / "results.json", results)
    if args.networks:
        results["networks"] = run_networks(args, out, results)
        write_json(out / "results.json", results)
    plot(curves, results["networks"], out / "power.png")
    write_markdown(results, out / "results.md")
    return results


if __name__ == "__main__":
    main()
