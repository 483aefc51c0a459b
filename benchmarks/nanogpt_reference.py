r"""nanoGPT's baby GPT at a wall-clock budget, scored by TinyLLM's estimators (a measurement, not a test).

    git clone https://github.com/karpathy/nanoGPT /tmp/nanoGPT      # outside this repository
    .venv/bin/python benchmarks/nanogpt_reference.py --nanogpt /tmp/nanoGPT \
        --data ../shared/benchmarks/tinyshakespeare.txt --minutes 5

nanoGPT counts iterations, not seconds, and decays its learning rate over `--lr_decay_iters`. So
this script (1) writes the text into nanoGPT's format with TinyLLM's split (the last 10 % validates,
as in both projects), (2) times `--calibrate` iterations of its README's CPU command, (3) runs that
command with `max_iters = lr_decay_iters` = the iterations that fill `--minutes` at the calibrated
speed, and (4) scores the final checkpoint on the whole validation text with TinyLLM's two
estimators: independent 65-character blocks (`val_loss_ctx64`, the one nanoGPT's own estimate
samples from) and overlapping windows (`val_loss`, "carried"), the same code that scores TinyLLM.
nanoGPT's own logged estimates (20 random batches) are kept beside them. The result goes to
outputs/bench/nanogpt_reference_<minutes>min.json.

nanoGPT runs in a subprocess as its README runs it: without this project's process settings
(common/runtime.py's OpenMP waits) unless --project-settings gives them. Its training time is the sum
of its logged iteration times (its two evaluations, at the first and last iteration, included). A
calibration can misjudge the speed of the long run: `--iterations N` sets the count directly.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common import runtime
from common.lm.evaluation import evaluate_carried, evaluate_fixed_context
from common.lm.harness import load_corpus
from common.paths import output_dir
from common.runs import write_json
from TinyLLM.model import read_in_windows

# nanoGPT README's CPU command ("baby GPT"), less its iteration counts, which this script sets.
README_COMMAND = ["--device=cpu", "--compile=False", "--eval_iters=20", "--log_interval=1", "--block_size=64",
                  "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128", "--dropout=0.0"]
DATASET = "tinyllm_reference"  # a folder of its own under nanoGPT's data/: its shakespeare_char stays as is


def prepare(nanogpt: Path, text: str) -> tuple[Path, torch.Tensor]:
    """Write train.bin / val.bin / meta.pkl as nanoGPT's shakespeare_char/prepare.py does, split as
    TinyLLM splits; returns the folder and the validation ids (nanoGPT's character numbering)."""
    folder = nanogpt / "data" / DATASET
    folder.mkdir(parents=True, exist_ok=True)
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    split = int(len(text) * 0.9)
    pieces = {name: np.array([stoi[ch] for ch in piece], dtype=np.uint16)
              for name, piece in (("train", text[:split]), ("val", text[split:]))}
    for name, ids in pieces.items():
        ids.tofile(folder / f"{name}.bin")
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": stoi}, f)
    return folder, torch.from_numpy(pieces["val"].astype(np.int64))


def train_nanogpt(nanogpt: Path, iterations: int, out: Path, extra: list[str], environment: dict) -> dict:
    """Run nanoGPT's train.py for `iterations` (its schedule decays over them); parse its log."""
    command = [sys.executable, "train.py", "config/train_shakespeare_char.py", *README_COMMAND,
               f"--dataset={DATASET}", f"--max_iters={iterations}", f"--lr_decay_iters={iterations}",
               f"--eval_interval={iterations}", "--always_save_checkpoint=True", f"--out_dir={out}", *extra]
    started = time.perf_counter()
    log = subprocess.run(command, cwd=nanogpt, capture_output=True, text=True, env=environment)
    wall = time.perf_counter() - started
    if log.returncode:
        raise RuntimeError(f"nanoGPT failed ({' '.join(command)}):\n{log.stderr[-3000:]}")
    times = [float(t) / 1000 for t in re.findall(r"time ([\d.]+)ms", log.stdout)]
    estimates = re.findall(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)", log.stdout)
    return {"command": " ".join(command[1:]), "iterations": len(times), "train_seconds": round(sum(times), 1),
            "median_iteration_ms": round(1000 * statistics.median(times[5:] or times), 2),
            "wall_seconds": round(wall, 1),
            "own_estimates": [{"iter": int(i), "train_loss": float(a), "val_loss": float(b)}
                              for i, a, b in estimates]}


class Adapter(nn.Module):
    """nanoGPT's GPT behind TinyLLM's call, `model(ids, state) -> (logits, state)`, reading a text longer
    than its block in overlapping windows with TinyLLM's CharTransformer's own reader."""

    def __init__(self, gpt: nn.Module, context: int):
        super().__init__()
        self.gpt, self.context = gpt, context

    def read(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.contiguous()
        logits, _ = self.gpt(ids, ids)  # with targets nanoGPT returns every position's logits
        return logits

    def forward(self, ids: torch.Tensor, state: torch.Tensor | None = None):
        return read_in_windows(self.read, ids, state, self.context)


def score(nanogpt: Path, out: Path, val_ids: torch.Tensor) -> dict:
    sys.path.insert(0, str(nanogpt))
    from model import GPT, GPTConfig  # nanoGPT's model.py

    checkpoint = torch.load(out / "ckpt.pt", map_location="cpu", weights_only=False)
    gpt = GPT(GPTConfig(**checkpoint["model_args"]))
    gpt.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()})
    model = Adapter(gpt, checkpoint["model_args"]["block_size"]).eval()
    return {"val_loss": evaluate_carried(model, val_ids, streams=1),
            "val_loss_ctx64": evaluate_fixed_context(model, val_ids, context=64),
            "params": sum(p.numel() for p in gpt.parameters()), "checkpoint_iter": checkpoint["iter_num"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nanogpt", required=True, type=Path, help="a checkout of karpathy/nanoGPT")
    parser.add_argument("--data", default="shakespeare")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--calibrate", type=int, default=200, help="iterations timed to size the run")
    parser.add_argument("--iterations", type=int, default=0,
                        help="run this many iterations instead (e.g. what an earlier run's speed fits in "
                        "the budget)")
    parser.add_argument("--project-settings", action="store_true",
                        help="run nanoGPT with common/runtime.py's environment (as TinyLLM runs)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more nanoGPT flags")
    args = parser.parse_args()
    if not (args.nanogpt / "train.py").exists():
        sys.exit(f"error: {args.nanogpt} holds no nanoGPT train.py: clone https://github.com/karpathy/nanoGPT")
    text = load_corpus(args.data)
    _, val_ids = prepare(args.nanogpt, text)
    out = output_dir("bench", f"nanogpt_{args.minutes:g}min").resolve()
    out.mkdir(parents=True, exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if k not in runtime.FRAMEWORK_ENVIRONMENT}
    if args.project_settings:
        environment.update(runtime.FRAMEWORK_ENVIRONMENT)
    before = os.getloadavg()
    calibration, iterations = None, args.iterations
    if not iterations:
        calibration = train_nanogpt(args.nanogpt, args.calibrate, out / "calibration", args.extra,
                                    environment)
        iterations = int(args.minutes * 60 / (calibration["median_iteration_ms"] / 1000))
        print(f"calibration: {calibration['median_iteration_ms']} ms per iteration -> {iterations} "
              "iterations")
    run = train_nanogpt(args.nanogpt, iterations, out, args.extra, environment)
    scores = score(args.nanogpt, out, val_ids)
    result = {"minutes": args.minutes, "data": args.data, "calibration": calibration, "run": run, **scores,
              "tokens_per_second": round(run["iterations"] * 12 * 64 / run["train_seconds"]),
              "project_settings": args.project_settings, "load_average_before": before,
              "load_average_after": os.getloadavg(),
              "torch": torch.__version__, "cpus": os.cpu_count()}
    write_json(output_dir("bench", f"nanogpt_reference_{args.minutes:g}min.json"), result)
    print(f"nanoGPT {run['iterations']} iterations in {run['train_seconds']} s "
          f"({result['tokens_per_second']:,} tokens/s): val_loss {scores['val_loss']:.4f} (overlapping "
          "windows), "
          f"{scores['val_loss_ctx64']:.4f} (64-character blocks)")


if __name__ == "__main__":
    main()
