r"""The shared LM loop against a plain PyTorch loop, side by side: is common/lm/loop.py as fast as it can be?

    .venv/bin/python benchmarks/bench_lm_loop.py --data ../shared/benchmarks/tinyshakespeare.txt
    .venv/bin/python benchmarks/bench_lm_loop.py --seconds 30 --rounds 3 --models transformer
    .venv/bin/python benchmarks/bench_lm_loop.py --profile 20 --models transformer-5min lstm  # the time

For each model (issue 22's nanoGPT-sized Transformer and the one-layer LSTM of 512) and each round, the
same freshly seeded model trains twice for `--seconds` of training clock, in one process with the same
threads:

- the reference: the plainest loop, written here with no project code in its step — slice the next
  chunk of every stream, forward, cross-entropy, backward, clip, AdamW (PyTorch's default, or with
  `--fused-reference` the fused kernel the project uses), detach the state;
- the project: `common.lm.harness.train_model`, what `TinyLLM/train.py` runs, with its periodic
  evaluations, samples, checkpoints and progress bar at their defaults. Its tokens/s divide by its
  training clock (`Progress.seconds`), which leaves those evaluations and samples out, as the
  reference has none.

The two alternate (reference first in even rounds, project first in odd ones) so a change of load
on a shared machine falls on both; the ratio of each round is reported beside the median. Writes
outputs/bench/lm_loop/<timestamp>.json with the CPU model, threads and load average.
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tinyllm_recipes import RECIPES  # the sibling benchmark's recipes
from torch import nn

from common.config import parse_config
from common.lm.evaluation import batchify
from common.lm.harness import Run, split_text, train_model
from common.lm.loop import make_optimizer
from common.lm.tokenizers import CharTokenizer
from common.paths import output_dir
from common.runs import write_json
from TinyLLM.train import TrainConfig, build_model

# The two shapes of issue 22: nanoGPT's "baby GPT" CPU configuration, and the best documented LSTM.
MODELS = {
    "transformer": RECIPES["t-nanogpt"],
    "lstm": ["--cell", "lstm", "--num-layers", "1"],
    "transformer-5min": ["--preset", "transformer-5min"],  # the Transformer chosen for 5 minutes
}


def reference_loop(
    model: nn.Module, train_ids: torch.Tensor, config: TrainConfig, seconds: float, fused: bool
) -> dict:
    """Train `model` with the plainest TBPTT loop for `seconds`; tokens per second of its wall clock.
    `fused`: PyTorch's fused AdamW kernel, as the project uses, instead of its default."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay, fused=fused or None)
    streams = batchify(train_ids, config.batch_size)  # (batch, length)
    chunks = (streams.shape[1] - 1) // config.seq_len
    model.train()
    state, step, tokens = None, 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        start = (step % chunks) * config.seq_len
        if start == 0:
            state = None
        inputs = streams[:, start : start + config.seq_len]  # (batch, seq_len)
        targets = streams[:, start + 1 : start + 1 + config.seq_len]
        logits, state = model(inputs, state)  # (batch, seq_len, vocab)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        if isinstance(state, tuple):
            state = tuple(s.detach() for s in state)
        elif state is not None:
            state = state.detach()
        step += 1
        tokens += inputs.numel()
    elapsed = time.perf_counter() - started
    return {"steps": step, "seconds": round(elapsed, 2), "tokens_per_second": tokens / elapsed,
            "last_loss": loss.item()}


def profile_steps(model: nn.Module, train_ids: torch.Tensor, config: TrainConfig, steps: int) -> dict:
    """Where a training step's time goes: `steps` steps of the plain loop under torch.profiler, with the
    forward pass, backward pass and optimizer labelled; the operators that took the most time."""
    optimizer = make_optimizer(model, config.learning_rate, config.weight_decay)  # the project's (fused)
    streams = batchify(train_ids, config.batch_size)  # (batch, length)
    model.train()

    def step(index: int) -> None:
        start = index * config.seq_len
        inputs = streams[:, start : start + config.seq_len]  # (batch, seq_len)
        targets = streams[:, start + 1 : start + 1 + config.seq_len]
        with torch.profiler.record_function("1 forward + loss"):
            logits, _ = model(inputs)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        with torch.profiler.record_function("2 backward"):
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with torch.profiler.record_function("3 clip + AdamW"):
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()

    for index in range(3):  # warm-up: first calls allocate and pick kernels
        step(index)
    started = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for index in range(3, 3 + steps):
            step(index)
    wall = time.perf_counter() - started
    events = profiler.key_averages()
    phases = {e.key: round(e.cpu_time_total / 1000 / steps, 2) for e in events if e.key[0] in "123"}
    operators = sorted((e for e in events if e.key.startswith("aten::")),
                       key=lambda e: -e.self_cpu_time_total)
    return {"steps": steps, "ms_per_step_profiled": round(1000 * wall / steps, 2),
            "phases_ms_per_step": phases,
            "top_operators": [{"name": e.key, "calls_per_step": e.count // steps,
                               "self_ms_per_step": round(e.self_cpu_time_total / 1000 / steps, 2)}
                              for e in operators[:12]]}


def project_loop(config: TrainConfig, tokenizer: CharTokenizer, ids: tuple[torch.Tensor, torch.Tensor],
                 val_chars: int) -> dict:
    """Train with the project's harness (train_model: loop, evaluations, samples, checkpoints) for the
    config's budget in a scratch folder; tokens per second of its training clock."""
    with tempfile.TemporaryDirectory() as folder:
        run = Run(Path(folder), torch.device("cpu"), tokenizer, ids[0], ids[1], val_chars)
        model = build_model(config, tokenizer.vocab_size)
        started = time.perf_counter()
        progress, _ = train_model("TinyLLM", config, model, run, prompt="\n")
        wall = time.perf_counter() - started
    return {"steps": progress.step, "seconds": round(progress.seconds, 2), "wall_seconds": round(wall, 2),
            "evaluations": len(progress.history),
            "tokens_per_second": progress.tokens / progress.seconds,
            "last_loss": progress.history[-1]["train_loss"] if progress.history else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="shakespeare", help="'shakespeare' (embedded) or a text file")
    parser.add_argument("--seconds", type=float, default=45.0, help="training clock of each measurement")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each loop per model")
    parser.add_argument("--models", nargs="+", default=["transformer", "lstm"], choices=list(MODELS))
    parser.add_argument("--profile", type=int, default=0, metavar="STEPS",
                        help="profile STEPS steps of each model (forward, backward, optimizer, top "
                        "operators) instead of timing the loops")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch threads (0: one per physical core)")
    parser.add_argument("--fused-reference", action="store_true",
                        help="the reference uses the fused AdamW too: the ratio is then the loop's own cost")
    args = parser.parse_args()
    results: dict = {
        "command": "benchmarks/bench_lm_loop.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in
                                                           vars(args).items()),
        "reference_optimizer": "AdamW, fused" if args.fused_reference else "AdamW, PyTorch's default",
        "cpu": runtime.cpu_model(), "torch": torch.__version__, "load_before": os.getloadavg(), "models": {},
    }
    with runtime.torch_settings(args.threads) as threads:
        results["threads"] = threads
        for name in args.models:
            config = parse_config(TrainConfig, ["--data", args.data, *MODELS[name], "--out", "unused",
                                                "--max-minutes", str(args.seconds / 60)])
            config.validate()
            texts = split_text(config)
            tokenizer = CharTokenizer.fit(texts[0])
            ids = tuple(torch.tensor(tokenizer.encode(text), dtype=torch.long) for text in texts)
            if args.profile:
                torch.manual_seed(config.seed)
                model = build_model(config, tokenizer.vocab_size)
                results["models"][name] = profile = profile_steps(model, ids[0], config, args.profile)
                print(f"{name}: {profile['ms_per_step_profiled']} ms a step; {profile['phases_ms_per_step']}")
                for row in profile["top_operators"]:
                    print(f"  {row['name']:<40} {row['self_ms_per_step']:>8.2f} ms  x{row['calls_per_step']}")
                continue
            rows = []
            for round_index in range(args.rounds):
                measured = {}
                order = ("reference", "project") if round_index % 2 == 0 else ("project", "reference")
                for which in order:
                    torch.manual_seed(config.seed)
                    if which == "reference":
                        measured[which] = reference_loop(build_model(config, tokenizer.vocab_size), ids[0],
                                                         config, args.seconds, args.fused_reference)
                    else:
                        measured[which] = project_loop(config, tokenizer, ids, len(texts[1]))
                measured["ratio"] = (measured["project"]["tokens_per_second"]
                                     / measured["reference"]["tokens_per_second"])
                measured["load"] = os.getloadavg()
                rows.append(measured)
                print(f"{name} round {round_index}: reference "
                      f"{measured['reference']['tokens_per_second']:,.0f} tokens/s, project "
                      f"{measured['project']['tokens_per_second']:,.0f} tokens/s, ratio "
                      f"{measured['ratio']:.3f} (load {measured['load'][0]:.2f})", flush=True)
            results["models"][name] = {
                "flags": MODELS[name], "rounds": rows,
                "median_ratio": statistics.median(row["ratio"] for row in rows),
                "median_reference": statistics.median(row["reference"]["tokens_per_second"] for row in rows),
                "median_project": statistics.median(row["project"]["tokens_per_second"] for row in rows),
            }
    results["load_after"] = os.getloadavg()
    stamp = time.strftime("%Y%m%d-%H%M%S") + ("-profile" if args.profile else "")
    path = output_dir("bench", "lm_loop", stamp + ".json")
    write_json(path, results)
    for name, entry in results["models"].items():
        if args.profile:
            continue
        print(f"{name}: median reference {entry['median_reference']:,.0f}, project "
              f"{entry['median_project']:,.0f} tokens/s, median ratio {entry['median_ratio']:.3f}")
    print(f"{results['cpu']}, {results['threads']} threads; written to {path}")


if __name__ == "__main__":
    main()
