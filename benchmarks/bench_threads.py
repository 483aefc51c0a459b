r"""How long PyTorch's idle OpenMP threads spin, alone and beside a second job (a measurement, not a test).

    .venv/bin/python benchmarks/bench_threads.py                 # -> outputs/bench/threads.json
    .venv/bin/python benchmarks/bench_threads.py --cell lstm --steps 40

Each measurement runs TinyLLM/train.py in a fresh process for `--steps` steps of a small model (by
default nanoGPT's baby GPT shape, whose steps are hundreds of small parallel regions) and reads the
tokens/s of its metrics.json. The spin is libgomp's GOMP_SPINCOUNT (PyTorch's OpenMP on Linux), which
overrides OMP_WAIT_POLICY: 0 is a passive wait, 1,000 this project's setting (common/runtime.py) and
300,000 libgomp's default when no policy is set. "alone" runs one job on a quiet machine; "paired" runs
two identical jobs at once, as when a benchmark shares the cores with tests or another stage.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tinyllm_recipes import RECIPES  # the sibling benchmark's recipes

from common.paths import REPO_ROOT, output_dir
from common.runs import write_json

SPINS = (0, 1_000, 300_000)
MODELS = {
    "transformer": RECIPES["t-nanogpt"],  # nanoGPT's baby GPT, its batch and rate
    "lstm": ["--preset", "best-5min"],
}


def tokens_per_second(cell: str, steps: int, spin: int, data: str, folder: Path) -> float:
    environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": str(spin)}
    command = [sys.executable, str(REPO_ROOT / "TinyLLM" / "train.py"), *MODELS[cell], "--data", data,
               "--max-chars", "300000", "--max-steps", str(steps), "--max-minutes", "0", "--eval-every",
               "100000", "--sample-every", "0", "--ngram-orders", "2", "--out", str(folder)]
    subprocess.run(command, env=environment, check=True, capture_output=True)
    return json.loads((folder / "metrics.json").read_text())["tokens_per_second"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cell", choices=sorted(MODELS), default="transformer")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2, help="every setting is measured this many times")
    parser.add_argument("--data", default="shakespeare")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):
            for spin in SPINS:
                for mode, jobs in (("alone", 1), ("paired", 2)):
                    folders = [Path(scratch) / f"{spin}_{mode}_{job}" for job in range(jobs)]
                    with ThreadPoolExecutor(jobs) as pool:  # the paired jobs start together
                        speeds = list(pool.map(tokens_per_second, [args.cell] * jobs, [args.steps] * jobs,
                                               [spin] * jobs, [args.data] * jobs, folders))
                    rows.append({"round": round_, "spin": spin, "mode": mode, "tokens_per_second": speeds,
                                 "load_average": os.getloadavg()})
                    speeds_text = ", ".join(f"{s:,.0f}" for s in speeds)
                    print(f"spin {spin:>7,} {mode:>6}: {speeds_text} tokens/s")
    result = {"cell": args.cell, "steps": args.steps, "cpus": os.cpu_count(), "rows": rows}
    write_json(output_dir("bench", f"threads_{args.cell}.json"), result)
    return result


if __name__ == "__main__":
    main()
