r"""Which character model learns most in a CPU budget? A small, logged sweep (measurements, not tests).

    .venv/bin/python benchmarks/tinyllm_recipes.py --data ../shared/benchmarks/tinyshakespeare.txt \
        --minutes 5 --only t-nanogpt t-b32 t-b64
    .venv/bin/python benchmarks/tinyllm_recipes.py --summarise     # the log as a table, best first

Each recipe is a set of TinyLLM/train.py flags, trained for `--minutes` of the training clock with
periodic samples off, and scored as train.py scores every run: on the validation text (the last 10 %,
as in nanoGPT), carried state and 64-character blocks. The n-gram baselines are fitted at one order
(6, what train.py chose on tinyshakespeare) to save a minute a run. Every run appends a line to
benchmarks/tinyllm_recipes_runs.jsonl (the recipe, its flags, the losses, steps, tokens/s, the load
average before and after): the presets in TinyLLM/train.py are chosen from that log, on validation,
and their reported figures are re-measured on other seeds (bench_tinyllm.py).

Run on a quiet machine, one run at a time: a time-budgeted run on a busy CPU takes fewer steps.
"""

# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import argparse
import json
import os
import time
from pathlib import Path

from common.paths import output_dir
from TinyLLM import train

LOG = Path(__file__).resolve().parent / "tinyllm_recipes_runs.jsonl"

# nanoGPT's baby GPT shape: 4 layers x 4 heads x 128, MLP 512, context 64, no dropout.
BABY = ["--cell", "transformer", "--embedding-dim", "128", "--hidden-size", "512", "--num-layers", "4",
        "--heads", "4", "--seq-len", "64", "--dropout", "0"]
RECIPES: dict[str, list[str]] = {
    # issue 22's side-by-side: nanoGPT's shape, batch and rate under this project's loop and schedule
    "t-nanogpt": [*BABY, "--batch-size", "12", "--learning-rate", "1e-3"],
    # more characters per step: larger matrix products run the CPU nearer its peak, and a larger batch
    # takes a higher rate
    "t-b32": [*BABY, "--batch-size", "32", "--learning-rate", "2e-3"],
    "t-b64": [*BABY, "--batch-size", "64", "--learning-rate", "3e-3"],
    # nanoGPT's batches: windows at random places instead of the next chunk of 32 fixed streams
    "t-b32-random": [*BABY, "--batch-size", "32", "--learning-rate", "2e-3", "--batches", "random"],
    # nanoGPT's AdamW: a shorter memory of squared gradients (beta2 0.99 instead of 0.999)
    "t-b32-beta99": [*BABY, "--batch-size", "32", "--learning-rate", "2e-3", "--beta2", "0.99"],
    "t-b32-ctx128": [*BABY, "--batch-size", "32", "--learning-rate", "2e-3", "--seq-len", "128"],
    "t-b32-w192": [*BABY, "--batch-size", "32", "--learning-rate", "2e-3", "--embedding-dim", "192",
                   "--hidden-size", "768", "--heads", "6"],
    "t-b32-l2": [*BABY, "--batch-size", "32", "--learning-rate", "2e-3", "--num-layers", "2"],
    "t-b32-l6": [*BABY, "--batch-size", "32", "--learning-rate", "2e-3", "--num-layers", "6"],
    # 10 minutes: 17 passes over tinyshakespeare, and the 2-layer recipe overfits (TinyLLM/README)
    "t-b32-l2-drop0.1": [*BABY, "--batch-size", "32", "--learning-rate", "2e-3", "--num-layers", "2",
                         "--dropout", "0.1"],
    # the LSTM of the best-5min preset, with a higher rate or more, shorter steps
    "lstm": ["--preset", "best-5min"],
    "lstm-lr5e-3": ["--preset", "best-5min", "--learning-rate", "5e-3"],
    "lstm-b32": ["--preset", "best-5min", "--batch-size", "32"],
}


def run_recipe(name: str, flags: list[str], data: str, minutes: float, seed: int) -> dict:
    out = output_dir("bench", "tinyllm_recipes", f"{name}_{minutes:g}min_seed{seed}")
    argv = [*flags, "--data", data, "--max-minutes", str(minutes), "--sample-every", "0",
            "--eval-every", "1000", "--ngram-orders", "6", "--seed", str(seed), "--out", str(out)]
    before = os.getloadavg()
    started = time.time()
    metrics = train.main(argv)
    entry = {"recipe": name, "flags": flags, "data": Path(data).name, "minutes": minutes, "seed": seed,
             "val_loss": round(metrics["val_loss"], 4), "val_loss_ctx64": round(metrics["val_loss_ctx64"], 4),
             "steps": metrics["steps"], "tokens_per_second": metrics["tokens_per_second"],
             "train_seconds": metrics["train_seconds"], "params": metrics["params"],
             "load_before": [round(x, 2) for x in before],
             "load_after": [round(x, 2) for x in os.getloadavg()],
             "wall_seconds": round(time.time() - started), "cpu": runtime.cpu_model(),
             "avx512": "avx512f" in Path("/proc/cpuinfo").read_text(),  # hosts of one name differ
             "cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%d %H:%M")}
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    print(f"{name}: {entry['val_loss']:.4f} carried, {entry['val_loss_ctx64']:.4f} 64-char blocks, "
          f"{entry['steps']} steps, {entry['tokens_per_second']:,} tokens/s")
    return entry


def summarise(path: Path = LOG) -> str:
    """The log as a markdown table per budget, best carried-state loss first."""
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = []
    for minutes in sorted({e["minutes"] for e in entries}):
        lines += [f"\n{minutes:g} minutes", "", "| recipe | seed | val loss (carried) | 64-char blocks | "
                  "steps | tokens/s | parameters | load before |", "|---|---|---|---|---|---|---|---|"]
        for e in sorted((e for e in entries if e["minutes"] == minutes), key=lambda e: e["val_loss"]):
            lines.append(f"| {e['recipe']} | {e['seed']} | {e['val_loss']:.4f} | {e['val_loss_ctx64']:.4f} | "
                         f"{e['steps']:,} | {e['tokens_per_second']:,} | {e['params']:,} | "
                         f"{e['load_before'][0]:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="shakespeare")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1337, help="the sweep's seed (train.py's default)")
    parser.add_argument("--only", nargs="+", choices=sorted(RECIPES), default=sorted(RECIPES))
    parser.add_argument("--summarise", action="store_true", help="print the log as tables and stop")
    args = parser.parse_args(argv)
    if args.summarise:
        print(summarise())
        return
    for name in args.only:
        run_recipe(name, RECIPES[name], args.data, args.minutes, args.seed)


if __name__ == "__main__":
    main()
