r"""TinyLLM benchmarks (measurements, not tests): run them on a quiet machine, one at a time.

    # the target: --cell lstm on tinyshakespeare, <= 1.50 nats/char (carried state) within 5 minutes
    .venv/bin/python benchmarks/bench_tinyllm.py lstm --data ../shared/benchmarks/tinyshakespeare.txt \
        --minutes 5
    # the README's lesson: rnn vs gru vs lstm at equal wall-clock on the embedded corpus (train.py defaults)
    .venv/bin/python benchmarks/bench_tinyllm.py cells --minutes 3.75
    # the throughput reference: a plain nn.LSTM(512) script of the same size
    .venv/bin/python benchmarks/plain_lstm.py --data ../shared/benchmarks/tinyshakespeare.txt --minutes 5
    # the best documented configuration for M minutes -> outputs/benchmarks/tinyllm_best.json (another
    # --preset or --seed -> tinyllm_<preset>_seed<seed>.json)
    .venv/bin/python benchmarks/bench_tinyllm.py best --data ../shared/benchmarks/tinyshakespeare.txt \
        --minutes 5
    # long range: validation loss at each position 1..256 of a window read from scratch, for the LSTM
    # and the Transformer trained for the same wall-clock -> outputs/bench/tinyllm_position_loss.*
    .venv/bin/python benchmarks/bench_tinyllm.py position --data ../shared/benchmarks/tinyshakespeare.txt \
        --minutes 5

Each run writes outputs/benchmarks/tinyllm_<name>.json with the metrics and the conditions: the
load average and CPU pressure before and after (other jobs on a 2-core machine slow training down,
and a time-budgeted run then reaches a higher loss), the thread count and the PyTorch version;
each run's metrics.json holds its peak resident memory (`peak_rss_mb`).
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

import numpy as np
import torch
from matplotlib.figure import Figure

from common.config import config_from_dict
from common.figures import save_figure
from common.lm.evaluation import loss_by_position
from common.lm.harness import split_text
from common.paths import output_dir
from common.runs import read_json, write_json
from TinyLLM import sample, train

# The best configuration documented in TinyLLM/README.md ("Benchmark: tinyshakespeare"): chosen on
# the validation loss of the runs listed there, for a budget of about 5 minutes on 2 CPU cores. It is
# train.py's preset; the flags a benchmark adds (--max-minutes, --sample-every) take precedence over it.
BEST = ["--preset", "best-5min"]
# The models of the long-range measurement, at equal wall-clock: the best LSTM, the best Transformer
# (a context of 64 characters), and the same Transformer with a context (--seq-len) that covers the 256
# positions measured, at the same characters per step.
POSITION_MODELS = {
    "lstm": BEST,
    "transformer": ["--preset", "transformer-5min"],
    "transformer-ctx256": ["--preset", "transformer-5min", "--seq-len", "256", "--batch-size", "8"],
}
POSITION_CONTEXT = 256


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


def position_loss(data: str, minutes: float, extra: list[str]) -> dict:
    """Train each of POSITION_MODELS for `minutes`, then measure its validation loss at every position
    of 256-character windows read from scratch; write the curves and their plot."""
    base = ["--data", data, "--max-minutes", str(minutes), "--sample-every", "0"]
    result: dict = {"context": POSITION_CONTEXT, "data": data, "minutes": minutes, "models": {}}
    for name, flags in POSITION_MODELS.items():
        out = output_dir("benchmarks", f"tinyllm_position_{name}")
        record = run(f"position_{name}", [*base, *flags, "--out", str(out), *extra])
        model, tokenizer = sample.load_run(out, torch.device("cpu"))
        config = config_from_dict(train.TrainConfig, read_json(out / "config.json"))
        val_ids = torch.tensor(tokenizer.encode(split_text(config)[1]), dtype=torch.long)
        curve = loss_by_position(model, val_ids, context=POSITION_CONTEXT)
        result["models"][name] = {"loss_by_position": curve, "val_loss": record["metrics"]["val_loss"],
                                  "params": record["metrics"]["params"], **spans(curve)}
        print(f"{name}: " + ", ".join(f"{key} {value:.3f}" for key, value in spans(curve).items()))
    folder = output_dir("bench")
    write_json(folder / "tinyllm_position_loss.json", result)
    plot_position_loss(result, folder / "tinyllm_position_loss.png")
    return result


def spans(curve: list[float]) -> dict[str, float]:
    """Mean loss over positions 1-8, 9-32, 33-128 and 129-256: how much each model gains from text
    further back (a flat tail means it no longer uses it)."""
    edges = ((1, 8), (9, 32), (33, 128), (129, len(curve)))
    return {f"positions_{low}_{high}": float(np.mean(curve[low - 1 : high])) for low, high in edges}


def plot_position_loss(result: dict, path: Path) -> None:
    fig = Figure(figsize=(8, 4.5))
    axis = fig.subplots()
    # ~430 windows per position: the raw curve is noisy, so it is drawn faintly under its means over
    # bins that widen with the position (1, 2, 3-4, 5-8, ... 129-256).
    edges = [1, 2, 3, 5, 9, 17, 33, 65, 129, 257]
    for (name, entry), color in zip(result["models"].items(), ("tab:blue", "tab:orange", "tab:green"),
                                    strict=False):
        curve = np.asarray(entry["loss_by_position"])
        positions = np.arange(1, len(curve) + 1)
        axis.plot(positions, curve, color=color, alpha=0.25, lw=0.8)
        bins = [(low, min(high, len(curve) + 1)) for low, high in zip(edges, edges[1:], strict=False)
                if low <= len(curve)]
        centres = [np.sqrt(low * (high - 1)) for low, high in bins]
        means = [curve[low - 1 : high - 1].mean() for low, high in bins]
        axis.plot(centres, means, "o-", color=color, label=f"{name} ({entry['params']:,} parameters; "
                  f"whole-text loss {entry['val_loss']:.3f})")
    axis.set_xscale("log")
    axis.set_xlabel("position in a window read from scratch (characters of context + 1)")
    axis.set_ylabel("validation loss (nats/char)")
    axis.set_title(f"How far back each model reads: {Path(result['data']).name}, "
                   f"{result['minutes']:g} minutes of training each")
    axis.grid(alpha=0.3, which="both")
    axis.legend()
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=("lstm", "cells", "best", "position"))
    parser.add_argument("--data", default="shakespeare")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--preset", default="best-5min", choices=sorted(train.TrainConfig.PRESETS),
                        help="best: the train.py preset to run")
    parser.add_argument("--seed", type=int, default=1337, help="best: train.py's seed (another one gives a "
                        "preset's figure on a seed its choice never saw)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="more train.py flags, e.g. --extra --hidden-size 768")
    args = parser.parse_args()
    base = ["--data", args.data, "--max-minutes", str(args.minutes), "--sample-every", "0"]
    if args.which == "best":
        default = args.preset == "best-5min" and args.seed == 1337
        name = "best" if default else f"{args.preset}_seed{args.seed}"
        run(name, [*base, "--preset", args.preset, "--seed", str(args.seed), "--out",
                   str(output_dir("benchmarks", f"tinyllm_{name}_run")), *args.extra])
        return
    if args.which == "position":
        position_loss(args.data, args.minutes, args.extra)
        return
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
