"""How much of LLMind's table is the training seed? Stage 5 trained once per seed, the split held fixed.

    .venv/bin/python benchmarks/bench_llmind.py                    # train seeds 0 1 2 (~30 min on 2 cores)
    .venv/bin/python benchmarks/bench_llmind.py --seeds 0 1 2 3 4  # more seeds
    .venv/bin/python benchmarks/bench_llmind.py --preset tiny      # seconds: checks the plumbing
    .venv/bin/python benchmarks/bench_llmind.py -- --trainable-layers 6   # other train.py options after --

Each seed is one `LLMind/train.py` run with `--train-seed` (initialisation, dropout and batch order of
every network) and the same `--seed` (split, bootstrap draws): so the spread below is training luck
alone, which the bootstrap intervals of one run (test sampling) do not contain. Every from-scratch
rival chooses its rate on validation in every seed, and validation picks the best of them per seed.
The learning curve (its subsets drawn --curve-repeats times) is run with the first seed only.

Writes outputs/bench/llmind_seeds/results.json (every seed's scores) and results.md (the table in
LLMind/README.md); each seed's run folder is under runs/.
"""
# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import argparse
from typing import Any

import numpy as np
from bench_lag import mean_std  # the sibling benchmark's "mean ± std"

from common.paths import output_dir
from common.runs import write_json, write_text

MODELS = ("majority", "tfidf_logreg", "frozen_logreg", "fine_tuned", "from_scratch", "small_scratch",
          "bag_scratch")
NAMES = {"majority": "majority class", "tfidf_logreg": "TF-IDF + LR", "frozen_logreg": "frozen MiniLM + LR",
         "fine_tuned": "fine-tuned MiniLM", "from_scratch": "same network from scratch (same compute)",
         "small_scratch": "small BERT from scratch", "bag_scratch": "bag of WordPieces from scratch",
         "best_from_scratch": "best from scratch (chosen on validation per seed)"}


TRAINING = ("train_seconds", "steps", "best_epoch")  # what a trained network's scores also say


def seed_row(metrics: dict[str, Any], seed: int) -> dict[str, Any]:
    """What the table reads from one run's metrics.json."""
    best = metrics["best_from_scratch"]["model"]
    row: dict[str, Any] = {"train_seed": seed, "best_from_scratch": best,
                           "seconds": metrics["run"]["seconds"]}
    for name in (*MODELS, "best_from_scratch"):
        source = best if name == "best_from_scratch" else name
        if source not in metrics:  # a rival switched off (--small-rates "")
            continue
        scores = metrics[source]
        row[name] = {"macro_f1": scores["macro_f1"], "accuracy": scores["accuracy"],
                     **{key: scores[key] for key in TRAINING if key in scores}}
    row["fine_tuned_minus_best_from_scratch"] = (row["fine_tuned"]["macro_f1"]
                                                 - row["best_from_scratch"]["macro_f1"])
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample std, min and max over seeds of each model's test macro-F1 and accuracy."""
    summary: dict[str, Any] = {}
    for name in (*MODELS, "best_from_scratch"):
        present = [row[name] for row in rows if name in row]
        if not present:
            continue
        summary[name] = {}
        for metric in ("macro_f1", "accuracy"):
            values = np.array([scores[metric] for scores in present])
            summary[name][metric] = {"mean": float(values.mean()),
                                     "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                                     "min": float(values.min()), "max": float(values.max())}
    margins = np.array([row["fine_tuned_minus_best_from_scratch"] for row in rows])
    summary["fine_tuned_minus_best_from_scratch"] = {
        "mean": float(margins.mean()), "std": float(margins.std(ddof=1)) if len(margins) > 1 else 0.0,
        "min": float(margins.min()), "max": float(margins.max())}
    return summary


def table(rows: list[dict[str, Any]]) -> str:
    seeds = [row["train_seed"] for row in rows]
    header = ["model", *(f"seed {seed}" for seed in seeds), "macro-F1, mean ± std", "accuracy, mean ± std"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in (*MODELS, "best_from_scratch"):
        if not all(name in row for row in rows):
            continue
        f1 = [row[name]["macro_f1"] for row in rows]
        cells = [NAMES[name], *(f"{value:.3f}" for value in f1), mean_std(f1, digits=3),
                 mean_std([row[name]["accuracy"] for row in rows], digits=3)]
        lines.append("| " + " | ".join(cells) + " |")
    margins = [row["fine_tuned_minus_best_from_scratch"] for row in rows]
    lines.append("| " + " | ".join(["fine-tuned − best from scratch", *(f"{m:+.3f}" for m in margins),
                                    mean_std(margins, digits=3), ""]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--split-seed", type=int, default=0, help="train.py's --seed, the same for every run")
    parser.add_argument("--preset", default="", help="train.py's preset (tiny: seconds)")
    parser.add_argument("--out", default=str(output_dir("bench", "llmind_seeds")), help="results folder")
    parser.add_argument("train_options", nargs="*", help="more train.py options, after --")
    args = parser.parse_args(argv)
    if len(set(args.seeds)) < 2:
        parser.error("--seeds needs two or more different seeds to measure a spread")
    from common.config import parse_config
    from LLMind.config import TrainConfig
    from LLMind.train import run

    out = Path(args.out)
    rows = []
    for position, seed in enumerate(args.seeds):
        options = ["--seed", str(args.split_seed), "--train-seed", str(seed),
                   "--out", str(out / "runs" / f"train_seed{seed}"), *args.train_options]
        if args.preset:
            options += ["--preset", args.preset]
        if position > 0:  # the learning curve once: its own subsets carry its spread
            options += ["--curve-sizes", ""]
        print(f"== train seed {seed} ({position + 1} of {len(args.seeds)}) ==", flush=True)
        metrics = run(parse_config(TrainConfig, options))
        rows.append(seed_row(metrics, seed))
        if position == 0:
            curve = {"learning_curve": metrics["learning_curve"],
                     "learning_curve_draws": metrics.get("learning_curve_draws")}
        write_json(out / "results.json", {"settings": vars(args), "cpu": runtime.cpu_model(), "seeds": rows,
                                          "summary": summarise(rows) if len(rows) > 1 else None, **curve})
    markdown = table(rows)
    write_text(out / "results.md",
               f"LLMind test scores over training seeds {args.seeds} (split seed {args.split_seed}); the "
               f"best from-scratch rival is chosen on validation in each seed. CPU: {runtime.cpu_model()}."
               f"\n\n{markdown}\n")
    print("\n" + markdown)
    return {"seeds": rows, "summary": summarise(rows)}


if __name__ == "__main__":
    main()
