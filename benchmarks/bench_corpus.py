"""Does training memory grow with the corpus? TinyLLM on a prepared 1 MB corpus and on a prepared
corpus of >= 200 MB, one minute each, in fresh processes: peak resident memory and tokens/s.

    python benchmarks/bench_corpus.py                  # builds outputs/bench/corpus/ (~200 MB of text)
    python benchmarks/bench_corpus.py --copies 400     # a larger corpus

The large corpus is the embedded Shakespeare repeated `--copies` times, each copy headed by its number
(the characters are the same, the text is not one file held in memory anywhere). Both runs score the
same number of validation tokens (`--eval-tokens`), so they differ only in the size of the corpus they
stream from. Target: peak memory within 1.5x and tokens/s within 10 % of the 1 MB run.
Results: outputs/bench/corpus.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from common.lm import corpus
from common.paths import DATA_DIR, REPO_ROOT, output_dir
from common.runs import write_json


def build_text(path: Path, copies: int) -> int:
    """`copies` numbered copies of the embedded corpus in one file, written piece by piece."""
    text = (DATA_DIR / "shakespeare.txt").read_text(encoding="utf-8")
    with open(path, "w", encoding="utf-8") as handle:
        for number in range(copies):
            handle.write(f"COPY {number}:\n{text}\n")
    return path.stat().st_size


def train(folder: Path, out: Path, minutes: float, eval_tokens: int) -> dict:
    """TinyLLM's one-layer LSTM on the prepared `folder`, in a fresh process; its metrics."""
    flags = ["--data", str(folder), "--out", str(out), "--cell", "lstm", "--num-layers", "1",
             "--max-minutes", str(minutes), "--sample-every", "0", "--eval-tokens", str(eval_tokens)]
    result = subprocess.run([sys.executable, str(REPO_ROOT / "TinyLLM" / "train.py"), *flags], text=True,
                            capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    if result.returncode != 0:
        raise RuntimeError(f"training on {folder} failed:\n{result.stderr[-3000:]}")
    return json.loads((out / "metrics.json").read_text())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=200, help="copies of the 1 MB corpus in the large one")
    parser.add_argument("--minutes", type=float, default=1.0, help="training budget of each run")
    parser.add_argument("--eval-tokens", type=int, default=100_000,
                        help="validation tokens scored by each run")
    args = parser.parse_args(argv)
    folder = output_dir("bench", "corpus")
    folder.mkdir(parents=True, exist_ok=True)
    big_text = folder / "big.txt"
    size = build_text(big_text, args.copies)
    started = time.perf_counter()
    corpus.main(["--data", str(big_text), "--out", str(folder / "big")])
    prepare_seconds = time.perf_counter() - started
    corpus.main(["--data", str(DATA_DIR / "shakespeare.txt"), "--out", str(folder / "small")])
    runs = {name: train(folder / name, folder / f"run_{name}", args.minutes, args.eval_tokens)
            for name in ("small", "big")}
    keys = ("peak_rss_mb", "tokens_per_second", "steps", "val_loss", "train_seconds")
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                   f"load average {os.getloadavg()[0]:.1f} at the end",
        "big_corpus_bytes": size, "prepare_seconds": round(prepare_seconds, 1),
        "runs": {name: {key: metrics[key] for key in keys} for name, metrics in runs.items()},
        "memory_ratio": runs["big"]["peak_rss_mb"] / runs["small"]["peak_rss_mb"],
        "speed_ratio": runs["big"]["tokens_per_second"] / runs["small"]["tokens_per_second"],
    }
    big_text.unlink()  # the prepared folder is what training reads; the text was only its source
    write_json(output_dir("bench", "corpus.json"), result)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
