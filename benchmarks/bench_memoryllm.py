"""MemoryLLM benchmark: accuracy (test RMSE / naive RMSE) and wall time of the default recipe, on
GOOG with a few seeds and on synthetic-but-realistic price series the model has never seen.

    python benchmarks/bench_memoryllm.py                  # GOOG seed 42 + the synthetic series
    python benchmarks/bench_memoryllm.py --seeds 42 1 7   # several seeds on GOOG
    python benchmarks/bench_memoryllm.py --skip-synthetic

Every run is `python MemoryLLM/train.py` in a fresh process (imports included in the wall time),
as a user runs it. Targets: guarded ratio ≤ 1.005 on GOOG, ≤ 60 s wall; the as-trained ratio is shown too.

The synthetic series test robustness where we have no other ticker offline: a random walk cannot
be forecast, so there the LSTM must fall back to (about) the naive forecast; a series with real
short-term structure (returns that partly reverse or persist) shows the LSTM can learn when there
is something to learn. Results: outputs/bench/MemoryLLM/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from common.paths import REPO_ROOT, output_dir
from common.runs import write_json

TRAIN = REPO_ROOT / "MemoryLLM" / "train.py"


def synthetic_prices(kind: str, days: int = 2500, seed: int = 0) -> pd.DataFrame:
    """Daily OHLCV on business days. Log returns per kind:
    - random_walk: geometric Brownian motion, 8 %/yr drift, 25 %/yr volatility;
    - regimes: a Markov chain of calm (15 %/yr) and stressed (60 %/yr, negative drift) regimes;
    - garch: GARCH(1,1) volatility clustering with Student-t (5 dof) shocks;
    - boom_bust: a strong rally (test prices above the training range) then a 60 % crash;
    - mean_reverting / momentum: returns with lag-1 autocorrelation -0.15 / +0.15 (weak, learnable);
    - strong_reversal: lag-1 autocorrelation -0.35 (a clear signal: any model should find it);
    - no_volume: a random walk whose CSV has no Volume column.
    """
    rng = np.random.default_rng(seed)
    daily = 1 / 252
    if kind in ("random_walk", "no_volume"):
        returns = (0.08 - 0.5 * 0.25**2) * daily + 0.25 * np.sqrt(daily) * rng.standard_normal(days)
    elif kind == "regimes":
        stressed = np.zeros(days, dtype=bool)
        for day in range(1, days):  # stays in a regime ~100 days (calm) or ~40 days (stressed)
            stressed[day] = rng.random() < (0.975 if stressed[day - 1] else 0.01)
        vol = np.where(stressed, 0.60, 0.15)
        drift = np.where(stressed, -0.30, 0.12)
        returns = drift * daily + vol * np.sqrt(daily) * rng.standard_normal(days)
    elif kind == "garch":
        omega, alpha, beta = 2e-6, 0.08, 0.90
        variance, returns = omega / (1 - alpha - beta), np.empty(days)
        shocks = rng.standard_t(5, days) / np.sqrt(5 / 3)  # unit variance
        for day in range(days):
            returns[day] = 0.0003 + np.sqrt(variance) * shocks[day]
            variance = omega + alpha * (returns[day] - 0.0003) ** 2 + beta * variance
    elif kind == "boom_bust":
        drift = np.where(np.arange(days) < int(0.85 * days), 0.45, -2.0)
        returns = drift * daily + 0.30 * np.sqrt(daily) * rng.standard_normal(days)
    elif kind in ("mean_reverting", "momentum", "strong_reversal"):
        phi = {"mean_reverting": -0.15, "momentum": 0.15, "strong_reversal": -0.35}[kind]
        noise = 0.25 * np.sqrt(daily) * rng.standard_normal(days)
        returns = np.empty(days)
        returns[0] = noise[0]
        for day in range(1, days):
            returns[day] = phi * returns[day - 1] + noise[day]
    else:
        raise ValueError(f"unknown synthetic series {kind!r}")
    close = 50.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[50.0], close[:-1]]) * np.exp(0.003 * rng.standard_normal(days))
    spread = np.abs(returns) + 0.005 * np.abs(rng.standard_normal(days))
    frame = pd.DataFrame({
        "Open": open_,
        "High": np.maximum(open_, close) * np.exp(0.5 * spread),
        "Low": np.minimum(open_, close) * np.exp(-0.5 * spread),
        "Close": close,
        "Volume": np.round(1e6 * np.exp(0.3 * rng.standard_normal(days) + 20 * np.abs(returns))),
    }, index=pd.bdate_range("2005-01-03", periods=days, name="Date"))
    return frame.drop(columns="Volume") if kind == "no_volume" else frame


def summarize(metrics: dict, wall: float) -> dict:
    """The numbers a benchmark row shows, from a run's metrics.json (shared with bench_codellm.py)."""
    forecasts = metrics["forecasts"]
    return {
        "wall_seconds": wall,
        "as_trained_vs_naive": forecasts["as_trained"]["rmse_vs_naive"],
        "guarded_vs_naive": forecasts["guarded"]["rmse_vs_naive"],
        "guard_kept": metrics["guard"]["kept"],
        "guard_pvalue": metrics["guard"]["dm_pvalue_validation"],
        **{f"{name}_vs_naive": forecasts[name]["rmse_vs_naive"] for name in ("drift", "ar", "linear")},
        "best_epoch": metrics["best_epoch"],
        "epochs_run": metrics["epochs_run"],
        "train_seconds": metrics["train_seconds"],
        "forecasts": forecasts,
    }


def print_rows(rows: dict[str, dict]) -> None:
    print(f"\n{'series':<18}{'trained':>9}{'guarded':>9}{'kept':>6}{'guard p':>9}{'drift':>8}{'AR':>8}"
          f"{'ridge':>8}{'best ep.':>9}{'train s':>9}{'wall s':>8}   (RMSE / naive)")
    for name, row in rows.items():
        print(f"{name:<18}{row['as_trained_vs_naive']:>9.4f}{row['guarded_vs_naive']:>9.4f}{row['guard_kept']!s:>6}"
              f"{row['guard_pvalue']:>9.3f}{row['drift_vs_naive']:>8.4f}{row['ar_vs_naive']:>8.4f}"
              f"{row['linear_vs_naive']:>8.4f}{row['best_epoch']:>5}/{row['epochs_run']:<3}"
              f"{row['train_seconds']:>9.1f}{row['wall_seconds']:>8.1f}")


def run_training(out: Path, extra: list[str]) -> dict:
    """Run train.py in a fresh process; return its numbers plus the wall time in seconds."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(TRAIN), "--out", str(out), *extra], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"train.py {' '.join(extra)} failed:\n{result.stderr[-3000:]}")
    return summarize(json.loads((out / "metrics.json").read_text()), wall)


SYNTHETIC = ("random_walk", "regimes", "garch", "boom_bust", "mean_reverting", "momentum", "strong_reversal",
             "no_volume")


def bench_parser(description: str | None, out: Path) -> argparse.ArgumentParser:
    """The options both stage benchmarks share (bench_codellm.py adds its own)."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="seeds for the GOOG runs")
    parser.add_argument("--skip-synthetic", action="store_true", help="only the GOOG runs")
    parser.add_argument("--out", default=str(out), help="where runs and results go")
    return parser


def run_series(
    train: Callable[[Path, list[str]], dict], seeds: list[int], synthetic: bool, out: Path
) -> dict:
    """`train(run_folder, flags)` on GOOG for each seed, then on each synthetic series (the same series
    for both stages); one row of numbers per run."""
    rows: dict[str, dict] = {}
    for seed in seeds:
        name = f"GOOG seed {seed}"
        rows[name] = train(out / f"goog_seed{seed}", ["--seed", str(seed)])
        print(f"{name}: {rows[name]['guarded_vs_naive']:.4f} guarded in {rows[name]['wall_seconds']:.1f} s",
              flush=True)
    for number, kind in enumerate(SYNTHETIC if synthetic else ()):
        csv = out / "synthetic" / f"{kind}.csv"
        csv.parent.mkdir(parents=True, exist_ok=True)
        synthetic_prices(kind, seed=100 + number).to_csv(csv)
        rows[kind] = train(out / kind, ["--csv", str(csv)])
        print(f"{kind}: {rows[kind]['as_trained_vs_naive']:.4f} as trained, "
              f"{rows[kind]['guarded_vs_naive']:.4f} guarded", flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict:
    args = bench_parser(__doc__, output_dir("bench", "MemoryLLM")).parse_args(argv)
    out = Path(args.out)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} (other jobs inflate the wall times)")
    rows = run_series(run_training, args.seeds, not args.skip_synthetic, out)
    print_rows(rows)
    write_json(out / "results.json", rows)
    return rows


if __name__ == "__main__":
    main()
