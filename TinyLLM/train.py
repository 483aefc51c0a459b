"""Stage 1 — TinyLLM: a character-level recurrent language model, trained on a laptop CPU.

    python TinyLLM/train.py                                # plain tanh RNN on the embedded Shakespeare, ~4 min
    python TinyLLM/train.py --cell lstm --max-minutes 5    # the gated cell: same budget, lower loss
    python TinyLLM/train.py --data my_text.txt             # any UTF-8 text
    python TinyLLM/train.py --dry-run                      # a few seconds: checks that everything runs
    python TinyLLM/sample.py --prompt "ROMEO:"             # generate from the trained model

The run folder (`--out`, default outputs/TinyLLM) receives config.json, metrics.json (validation
loss beside unigram / bigram / Kneser-Ney n-gram baselines), history.json, loss.png, samples.txt,
checkpoint.pt (the best model), resume.pt (to continue with --resume) and tokenizer.json.
Ctrl-C stops training early; the best model so far is still evaluated and saved.

Every option and the text are checked before --out is touched. A run writes into a staging folder
beside --out (`.TinyLLM.partial`) and only a finished run replaces --out, so a failed or killed run
leaves the previous one intact; `--resume` continues the staging folder of a killed run, or a copy of
the finished run in --out, and refuses when there is neither or a model/data option differs.
"""
# ruff: noqa: E402

from __future__ import annotations

import os

# Let idle OpenMP threads sleep instead of spin. On a shared 2-core machine a spinning thread takes the
# core its partner needs, and we measured steps up to 10x slower under load without it.
# (OpenMP reads this when PyTorch loads, hence before `import torch`.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.config import option, parse_config, run_cli
from common.metrics import bits_per_char
from common.ngram import BigramModel, KneserNeyModel, UnigramModel, choose_kneser_ney_order
from common.paths import output_dir
from common.plotting import plot_losses
from common.runs import run_transaction, write_json
from common.tokenizers import CharTokenizer
from common.torch_utils import load_checkpoint, pick_device
from TinyLLM.model import CELLS, CharRNN, count_parameters
from TinyLLM.sample import generate
from TinyLLM.training import (
    RESUME_FILE,
    append_text,
    check_token_counts,
    evaluate_carried,
    evaluate_fixed_context,
    load_resume,
    make_optimizer,
    mixed_precision,
    resolve_precision,
    restore_run,
    setup_torch,
    split_text,
    train,
    validate_options,
)

STAGE = "TinyLLM"  # stored in every checkpoint, so another stage's checkpoint is recognised as such
# Options that shape the model or the data it reads: a resumed run must keep them (the others, such as
# the budget or the learning rate, may change).
RESUME_SHAPING = ("data", "val_fraction", "dry_run", "cell", "embedding_dim", "hidden_size", "num_layers",
                  "batch_size", "seq_len")
FIXED_CONTEXT = 64  # the context of the nanoGPT-style validation score val_loss_ctx64


@dataclass
class TrainConfig:
    # data
    data: str = option("shakespeare", "'shakespeare' (embedded, ~1 MB) or the path of any UTF-8 text file")
    val_fraction: float = option(0.1, "the last tenth of the text is validation, as nanoGPT and char-rnn do")
    out: str = option(str(output_dir("TinyLLM")), "run folder for checkpoints, metrics and plots")
    # model
    cell: str = option("rnn", "rnn = the plain tanh RNN (the lesson); gru / lstm = gated cells", choices=CELLS)
    embedding_dim: int = option(64, "characters are few (~80): a small embedding is plenty")
    hidden_size: int = option(512, "the memory: in 4 minutes 512 beat 256 clearly; 1024 gained 0.01 nats at 1.5x the cost")
    num_layers: int = option(2, "two layers: in 4 minutes 2 x 512 reached 1.71 nats/char, 1 x 512 only 1.76")
    dropout: float = option(0.0, "a few minutes of training never overfits 1 MB of text")
    # optimisation
    batch_size: int = option(64, "parallel streams of text; 64 keeps both CPU cores busy")
    seq_len: int = option(128, "TBPTT length: gradients flow back 128 characters (the state carries further)")
    learning_rate: float = option(3e-3, "peak AdamW rate; recurrent nets with clipping tolerate a high one")
    weight_decay: float = option(0.01, "light decay on weight matrices only")
    warmup_steps: int = option(50, "a short linear warm-up avoids early blow-ups")
    min_lr_ratio: float = option(0.05, "the cosine schedule ends at 0.05 x the peak rate")
    grad_clip: float = option(1.0, "clip the gradient norm: RNN gradients occasionally explode")
    max_minutes: float = option(3.75, "wall-clock training budget; with the final evaluation (~30 s) the run stays under 5 min")
    max_steps: int = option(0, "stop after this many steps (0: only the time budget)")
    # bookkeeping
    eval_every: int = option(200, "steps between validation passes (and best-checkpoint saves)")
    eval_streams: int = option(16, "periodic validation reads the text as 16 parallel pieces (fast); the final one reads it whole")
    sample_every: int = option(500, "steps between printed samples (0: never)")
    sample_length: int = option(200, "characters per periodic sample")
    threads: int = option(0, "PyTorch CPU threads (0: one per core)")
    seed: int = option(1337, "same seed, same data order and initial weights")
    device: str = option("auto", "auto, cpu, cuda or mps")
    precision: str = option("auto", "auto: bfloat16 matrix products where the hardware has them (2-3x faster here), else float32",
                            choices=("auto", "bf16", "fp32"))
    resume: bool = option(False, "continue the run in --out from resume.pt (same schedule and budget)")
    dry_run: bool = option(False, "tiny model, 30 kB of text, 6 steps, 1 thread: checks the pipeline in seconds")

    def validate(self) -> None:
        """Refuse a bad option before any work (see `validate_options`)."""
        validate_options(self)


def dry_run_config(config: TrainConfig) -> TrainConfig:
    return dataclasses.replace(
        config, hidden_size=32, embedding_dim=16, batch_size=4, seq_len=16, max_steps=6, max_minutes=0.0,
        eval_every=3, eval_streams=2, sample_every=3, sample_length=20, warmup_steps=2, threads=1,
    )


def ngram_baselines(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int, orders: range) -> dict:
    """Unigram, bigram and the best-order Kneser-Ney (order chosen on a held-out slice of *training* text)."""
    order = choose_kneser_ney_order(train_ids, vocab_size, orders=orders)
    baselines = {
        "unigram": {"val_loss": UnigramModel().fit(train_ids, vocab_size).mean_nll(val_ids)},
        "bigram": {"val_loss": BigramModel(add_k=0.1).fit(train_ids, vocab_size).mean_nll(val_ids)},
        "ngram": {"order": order, "smoothing": "interpolated Kneser-Ney",
                  "val_loss": KneserNeyModel(order).fit(train_ids, vocab_size).mean_nll(val_ids)},
    }
    for entry in baselines.values():
        entry["val_bpc"] = bits_per_char(entry["val_loss"])
    return baselines


def main(argv: list[str] | None = None) -> dict:
    config = parse_config(TrainConfig, argv, description=__doc__)
    config.validate()
    if config.dry_run:
        config = dry_run_config(config)
    setup_torch(config.threads, config.seed)
    device = pick_device(config.device)
    # Data: the last val_fraction of the text is validation; the vocabulary comes from training text only.
    # A fresh run checks text and sizes here, before --out is touched; a resumed run uses its saved
    # tokenizer, checked as soon as the run is locked.
    train_text, val_text = split_text(config)
    tokens = None
    if not config.resume:
        tokens = encode(config, CharTokenizer.fit(train_text), train_text, val_text)
    with run_transaction(config.out, resume=config.resume, resume_file=RESUME_FILE) as staging:
        if tokens is None:  # resuming: the run's own tokenizer, once the options are checked against the run
            load_resume(staging, config, STAGE, RESUME_SHAPING)
            tokens = encode(config, CharTokenizer.load(staging / "tokenizer.json"), train_text, val_text)
        return train_and_report(config, device, staging, Path(config.data).name, tokens)


def encode(
    config: TrainConfig, tokenizer: CharTokenizer, train_text: str, val_text: str
) -> tuple[CharTokenizer, torch.Tensor, torch.Tensor]:
    """(tokenizer, training ids, validation ids), refusing texts too short for the training shape."""
    train_ids = torch.tensor(tokenizer.encode(train_text), dtype=torch.long)
    val_ids = torch.tensor(tokenizer.encode(val_text), dtype=torch.long)
    check_token_counts(config, len(train_ids), len(val_ids), FIXED_CONTEXT + 1)
    return tokenizer, train_ids, val_ids


def train_and_report(
    config: TrainConfig, device: torch.device, out: Path, data_name: str,
    tokens: tuple[CharTokenizer, torch.Tensor, torch.Tensor],
) -> dict:
    """Train into the staging folder `out` (continuing the run there with --resume), evaluate the best
    checkpoint beside the n-gram baselines and write every result file."""
    tokenizer, train_ids, val_ids = tokens
    tokenizer.save(out / "tokenizer.json")
    print(f"{len(train_ids):,} training and {len(val_ids):,} validation characters, vocabulary {tokenizer.vocab_size}")

    baselines = ngram_baselines(train_ids.numpy(), val_ids.numpy(), tokenizer.vocab_size,
                                orders=range(2, 4) if config.dry_run else range(3, 9))
    print("baselines (nats/char):", {name: round(b["val_loss"], 4) for name, b in baselines.items()})

    model = CharRNN(tokenizer.vocab_size, config.embedding_dim, config.hidden_size, config.num_layers,
                    config.cell, config.dropout).to(device)
    optimizer = make_optimizer(model, config.learning_rate, config.weight_decay)
    progress = None
    if config.resume:
        progress = restore_run(load_resume(out, config, STAGE, RESUME_SHAPING), model, optimizer, out / RESUME_FILE)
    write_json(out / "config.json", config)
    print(f"{config.cell} model with {count_parameters(model):,} parameters on {device}")

    generator = torch.Generator().manual_seed(config.seed)

    def sample(length: int = config.sample_length, prompt: str = "\n") -> str:
        return prompt + tokenizer.decode(generate(model, tokenizer.encode(prompt), length, 0.8, 40, generator, (0,)))

    precision = resolve_precision(config.precision, device)
    progress = train(model, optimizer, train_ids, val_ids, config, out,
                     {"stage": STAGE, "vocab_size": tokenizer.vocab_size}, sample, progress)
    # Final evaluation of the best checkpoint: the whole validation text read as one stream.
    model.load_state_dict(load_checkpoint(out / "checkpoint.pt", map_location=device, expected_stage=STAGE)["model"])
    started = time.perf_counter()
    with mixed_precision(precision, device):  # entered after loading: autocast caches cast weights
        val_loss = evaluate_carried(model, val_ids, streams=1)
        val_loss_ctx64 = evaluate_fixed_context(model, val_ids, context=FIXED_CONTEXT)
        final_sample = sample(500, "ROMEO:")
    metrics = {
        "stage": STAGE, "cell": config.cell, "params": count_parameters(model),
        "val_loss": val_loss, "val_bpc": bits_per_char(val_loss), "val_loss_ctx64": val_loss_ctx64,
        "train_seconds": round(progress.seconds, 1),
        "tokens_per_second": round(progress.tokens / max(progress.step_seconds, 1e-9)),
        "steps": progress.step, "tokens_seen": progress.tokens, "interrupted": progress.interrupted,
        "eval_seconds": round(time.perf_counter() - started, 1), "device": str(device),
        "threads": torch.get_num_threads(), "precision": precision,
        "baselines": baselines,
    }
    write_json(out / "metrics.json", metrics)
    write_json(out / "history.json", progress.history)
    if progress.history:
        plot_losses(progress.history, out / "loss.png", f"TinyLLM ({config.cell}) on {data_name}",
                    baselines={f"{baselines['ngram']['order']}-gram Kneser-Ney": baselines["ngram"]["val_loss"],
                               "bigram": baselines["bigram"]["val_loss"]})
    append_text(out / "samples.txt", f"=== final (best checkpoint), prompt 'ROMEO:' ===\n{final_sample}\n")
    print(f"validation: {val_loss:.4f} nats/char ({metrics['val_bpc']:.3f} bpc) carried state, "
          f"{val_loss_ctx64:.4f} with a 64-character context; "
          f"best n-gram (order {baselines['ngram']['order']}): {baselines['ngram']['val_loss']:.4f}")
    print(f"results in {config.out}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
