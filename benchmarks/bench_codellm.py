"""CodeLLM benchmark: accuracy (test RMSE / naive RMSE) and wall time of the default Transformer
recipe, on GOOG and on synthetic price series it has never seen, plus the wall time of the whole
comparison and of the demo sequence.

    python benchmarks/bench_codellm.py                        # GOOG seed 42 + synthetic series + compare
    python benchmarks/bench_codellm.py --seeds 42 1 7 --skip-synthetic
    python benchmarks/bench_codellm.py --demo                 # also time show_data + both stages + compare

Every run is a fresh process (imports included in the wall time), as a user runs it. Targets
(issue 5): ratio ≤ 1.02 on any series (goal ≤ 1.00); `python CodeLLM/train.py` ≤ 90 s; the demo
(show_data, MemoryLLM, CodeLLM, compare) ≤ 5 minutes on 2 cores. The synthetic series come from
bench_memoryllm.py (random walk, regimes, GARCH, boom/bust, weak and strong autocorrelation, no
volume), so both stages are judged on the same unseen series. Results: outputs/bench/CodeLLM/results.json.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench_memoryllm import bench_parser, print_rows, run_series, summarize  # the sibling benchmark's pieces

from common.paths import REPO_ROOT, output_dir
from common.runs import write_json


def run(args: list[str]) -> float:
    """Run a command in a fresh process from the repository root; return its wall time in seconds."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def run_training(out: Path, extra: list[str]) -> dict:
    wall = run(["CodeLLM/train.py", "--out", str(out), *extra])
    return summarize(json.loads((out / "metrics.json").read_text()), wall)


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__, output_dir("bench", "CodeLLM"))
    parser.add_argument("--skip-compare", action="store_true", help="do not time CodeLLM/compare.py")
    parser.add_argument("--demo", action="store_true", help="time the demo sequence from scratch too")
    args = parser.parse_args(argv)
    out = Path(args.out)
    conditions = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
                  f"{os.getloadavg()[0]:.1f} at start (other jobs inflate the wall times)")
    print(f"machine: {conditions}")

    rows = run_series(run_training, args.seeds, not args.skip_synthetic, out)

    timings: dict[str, float] = {}
    if args.demo:
        demo = out / "demo"
        timings["show_data"] = run(["-m", "common.forecast.show_data", "--out", str(demo / "data")])
        timings["MemoryLLM"] = run(["MemoryLLM/train.py", "--out", str(demo / "MemoryLLM")])
        timings["CodeLLM"] = run(["CodeLLM/train.py", "--out", str(demo / "CodeLLM")])
    if not args.skip_compare:
        demo = out / "demo"
        # Without --demo the stages are trained inside compare.py, which then times them too.
        timings["compare"] = run(["CodeLLM/compare.py", "--memory-out", str(demo / "MemoryLLM"),
                                  "--code-out", str(demo / "CodeLLM"), "--out", str(demo / "comparison")])
    if timings:
        timings["total"] = sum(timings.values())

    print_rows(rows)
    for name, seconds in timings.items():
        print(f"{name:<18}{seconds:>8.1f} s wall")
    results = {"conditions": conditions, "runs": rows, "timings_seconds": timings}
    write_json(out / "results.json", results)
    return results


if __name__ == "__main__":
    main()
