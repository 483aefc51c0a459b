r"""TinyLLM benchmarks (measurements, not tests): run them on a quiet machine, one at a time.

    # the target: --cell lstm on tinyshakespeare, <= 1.50 nats/char (carried state) within 5 minutes
    .venv/bin/python benchmarks/bench_tinyllm.py lstm --data ../shared/benchmarks/tinyshakespeare.txt \
        --minutes 5
    # the README's lesson: rnn vs gru vs lstm at equal wall-clock on the embedded corpus (train.py defaults)
    .venv/bin/python benchmarks/bench_tinyllm.py cells --minutes 3.75
    # the throughput reference: a plain nn.LSTM(512) script of the same size
    .venv/bin/python benchmarks/plain_lstm.py --data ../shared/benchmarks/tinyshakespeare.txt --minutes 5

Each run writes outputs/benchmarks/tinyllm_<name>.json with the metrics and the conditions: the
load average and CPU pressure before and after (other jobs on a 2-core machine slow training down,
and a time-budgeted run then reaches a higher loss), the thread count and the PyTorch version.
"""

# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import argparse
import os
import platform
import sys
from pathlib import Path

import torch

from common.paths import output_dir
from common.runs import write_json
from TinyLLM import train


def conditions() -> dict:
    pressure = Path("/proc/pressure/cpu")
    return {
        "load_average": os.getloadavg(),
        "cpu_pressure": pressure.read_text().splitlines()[0] if pressure.exists() else None,
    }


def run(name: str, argv: list[str]) -> dict:
    before = conditions()
    metrics = train.main(argv)
    record = {
        "argv": argv, "metrics": metrics, "before": before, "after": conditions(),
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "python": sys.version.split()[0]},
    }
    write_json(output_dir("benchmarks", f"tinyllm_{name}.json"), record)
    print(f"{name}: val_loss {metrics['val_loss']:.4f} nats/char, {metrics['tokens_per_second']:,} tokens/s, "
          f"{metrics['steps']} steps in {metrics['train_seconds']} s; load before {before['load_average']}")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("lstm", "cells"))
    parser.add_argument("--data", default="shakespeare")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="more train.py flags, e.g. --extra --hidden-size 768")
    args = parser.parse_args()
    base = ["--data", args.data, "--max-minutes", str(args.minutes), "--sample-every", "0"]
    if args.which == "lstm":
        out = str(output_dir("benchmarks", "tinyllm_lstm"))
        # One layer of 512: the same size as the plain nn.LSTM(512) reference (benchmarks/plain_lstm.py).
        run("lstm", [*base, "--cell", "lstm", "--num-layers", "1", "--out", out, *args.extra])
        return
    for cell in ("rnn", "gru", "lstm"):
        out = str(output_dir("benchmarks", f"tinyllm_cells_{cell}"))
        run(f"cells_{cell}", [*base, "--cell", cell, "--out", out, *args.extra])


if __name__ == "__main__":
    main()
