"""Stage 1 — TinyLLM: a character-level language model, trained on a laptop CPU.

    python TinyLLM/train.py                                # plain tanh RNN on the embedded Shakespeare
    python TinyLLM/train.py --cell lstm --max-minutes 5    # the gated cell: same budget, lower loss
    python TinyLLM/train.py --data my_text.txt             # any UTF-8 text
    python TinyLLM/train.py --preset tiny                  # a few seconds: checks that everything runs
    python TinyLLM/train.py --preset best-5min --data FILE # the best LSTM for 5 minutes (TinyLLM/README)
    python TinyLLM/train.py --preset transformer-5min --data FILE   # the best Transformer for 5 minutes
    python TinyLLM/sample.py --prompt "ROMEO:"             # generate from the trained model

The run folder (`--out`, default outputs/TinyLLM) receives config.json (every option, resolved),
metrics.json (validation loss beside unigram / bigram / Kneser-Ney n-gram baselines), history.json,
loss.png, samples.txt, checkpoint.pt (the best model), resume.pt (to continue with --resume) and
tokenizer.json. Ctrl-C stops training early; the best model so far is still evaluated and saved.

Every option and the text are checked before --out is touched. A run writes into a staging folder
beside --out (`.TinyLLM.partial`) and only a finished run replaces --out, so a failed or killed run
leaves the previous one intact; `--resume` continues the staging folder of a killed run, or a copy of
the finished run in --out, and refuses when there is neither or a model/data option differs.
The loop, checkpoints, resume and sampling are common/lm/harness.py's; this file is the recipe.
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from common.config import finite, option, parse_config, require, require_at_least, run_cli
from common.lm.evaluation import evaluate_carried, evaluate_fixed_context
from common.lm.harness import Run, append_final_sample, baseline_ids, open_run, train_model, training_metrics
from common.lm.loop import LMConfig, mixed_precision, resolve_precision
from common.lm.ngram import BigramModel, KneserNeyModel, UnigramModel, choose_kneser_ney_order
from common.lm.plots import plot_losses
from common.lm.tokenizers import CharTokenizer
from common.metrics import bits_per_char
from common.paths import output_dir
from common.runs import write_json
from TinyLLM.model import CELLS, CharRNN, CharTransformer

STAGE = "TinyLLM"  # stored in every checkpoint, so another stage's checkpoint is recognised as such
FIXED_CONTEXT = 64  # the context of the nanoGPT-style validation score val_loss_ctx64


@dataclass
class TrainConfig(LMConfig):
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": dict(hidden_size=32, embedding_dim=16, batch_size=4, seq_len=16, max_steps=6, max_minutes=0.0,
                     eval_every=3, eval_streams=2, sample_every=3, sample_length=20, warmup_steps=2,
                     max_chars=30_000, ngram_orders="2-3",
                     threads=1),  # a tiny model splits badly across threads: one is fastest
        # The best configuration TinyLLM/README.md reports for about 5 minutes on 2 CPU cores: one LSTM
        # layer of 512, periodic samples off so the whole budget trains. Its figures are on tinyshakespeare
        # (give it with --data).
        "best-5min": dict(cell="lstm", num_layers=1, hidden_size=512, max_minutes=5.0, sample_every=0),
        # The character Transformer chosen on validation for 5 minutes on 2 CPU cores
        # (benchmarks/tinyllm_recipes.py, TinyLLM/README): nanoGPT's baby-GPT width with 2 layers instead
        # of 4 (twice the steps), 32 windows of 64 characters a step (larger products run nearer the
        # CPU's peak) at twice nanoGPT's rate.
        "transformer-5min": dict(cell="transformer", embedding_dim=128, hidden_size=512, num_layers=2,
                                 heads=4, seq_len=64, batch_size=32, learning_rate=2e-3, dropout=0.0,
                                 max_minutes=5.0, sample_every=0),
    }
    out: str = option(str(output_dir("TinyLLM")), "run folder for checkpoints, metrics and plots")
    # model
    cell: str = option("rnn", "rnn = the plain tanh RNN (the lesson); gru / lstm = gated cells; "
                       "transformer = causal self-attention over the last --seq-len characters",
                       choices=CELLS, shaping=True)
    embedding_dim: int = option(64, "characters are few (~80): a small embedding is plenty", shaping=True)
    hidden_size: int = option(512, "the memory: at equal time 512 beat 256 clearly, and 1024 gained too "
                              "little for its cost (TinyLLM/README)", shaping=True)
    num_layers: int = option(2, "two layers beat one at equal time (TinyLLM/README)", shaping=True)
    dropout: float = option(0.0, "a few minutes of training never overfits 1 MB of text")
    # transformer only: width = --embedding-dim, MLP width = --hidden-size, context = --seq-len
    heads: int = option(4, "transformer: attention heads, each free to look at other characters",
                        shaping=True)
    positions: str = option("learned", "transformer: learned position vectors, or fixed sinusoidal codes",
                            choices=("learned", "sinusoidal"), shaping=True)
    # the loop's options, with this stage's defaults
    batch_size: int = option(64, "parallel streams of text: enough work per step for a multi-core CPU",
                             shaping=True)
    seq_len: int = option(128, "TBPTT length: gradients flow back 128 characters (the state carries further)",
                          shaping=True)
    max_minutes: float = option(3.75, "training budget (the training clock: periodic evaluations and samples "
                                "not counted); a run's wall clock adds them and the final evaluation")
    eval_streams: int = option(16, "periodic validation reads the text as 16 parallel pieces (fast); the "
                               "final one reads it whole")
    # baselines
    ngram_orders: str = option("3-8", "Kneser-Ney orders tried, the best chosen on held-out training text")

    def validate(self) -> None:
        """Refuse a bad option before any work."""
        super().validate()
        require_at_least(self, 1, "embedding_dim", "hidden_size", "num_layers", "heads")
        if self.cell == "transformer":
            require(self, self.embedding_dim % self.heads == 0, "embedding_dim",
                    f"divisible by --heads {self.heads} (the transformer's width is split among its heads)")
        require(self, 0 <= finite(self.dropout) < 1, "dropout", "in [0, 1)")
        orders = self.ngram_order_range()
        require(self, len(orders) > 0 and orders.start >= 2, "ngram_orders",
                "a range such as 3-8 (orders of 2 or more)")

    def ngram_order_range(self) -> range:
        low, _, high = self.ngram_orders.partition("-")
        try:
            return range(int(low), int(high or low) + 1)
        except ValueError:
            return range(0)


def build_model(config: TrainConfig, vocab_size: int) -> CharRNN | CharTransformer:
    if config.cell == "transformer":
        return CharTransformer(vocab_size, config.embedding_dim, config.hidden_size, config.num_layers,
                               config.heads, config.seq_len, config.dropout, config.positions)
    return CharRNN(vocab_size, config.embedding_dim, config.hidden_size, config.num_layers, config.cell,
                   config.dropout)


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
    return run(parse_config(TrainConfig, argv, description=__doc__))


def run(config: TrainConfig) -> dict:
    """Train and evaluate as `config` says; returns metrics.json's content."""
    config.validate()
    # min_val_tokens: the 64-character-context score needs one whole block of validation text
    opened = open_run(STAGE, config, CharTokenizer.fit, min_val_tokens=FIXED_CONTEXT + 1,
                      build=lambda vocab_size: build_model(config, vocab_size))
    with runtime.torch_settings(config.threads), opened as lm_run:
        return train_and_report(config, lm_run, Path(config.data).name)


def train_and_report(config: TrainConfig, lm_run: Run, data_name: str) -> dict:
    """Train into the run folder, evaluate the best checkpoint beside the n-gram baselines and write
    every result file."""
    tokenizer, train_ids, val_ids, device = lm_run.tokenizer, lm_run.train_ids, lm_run.val_ids, lm_run.device
    print(f"{len(train_ids):,} training and {len(val_ids):,} validation characters, "
          f"vocabulary {tokenizer.vocab_size}")
    baselines = ngram_baselines(*baseline_ids(lm_run), tokenizer.vocab_size, config.ngram_order_range())
    print("baselines (nats/char):", {name: round(b["val_loss"], 4) for name, b in baselines.items()})

    model = build_model(config, tokenizer.vocab_size).to(device)
    progress, sample = train_model(STAGE, config, model, lm_run, prompt="\n")
    if not lm_run.world.is_main:
        return {}  # under torchrun, rank 0 evaluates and writes the results
    # Final evaluation of the best checkpoint: the whole validation text read as one stream.
    precision = resolve_precision(config.precision, device)
    started = time.perf_counter()
    with mixed_precision(precision, device):  # entered after loading: autocast caches cast weights
        val_loss = evaluate_carried(model, val_ids, streams=1)
        val_loss_ctx64 = evaluate_fixed_context(model, val_ids, context=FIXED_CONTEXT)
        final_sample = sample(500, "ROMEO:")
    metrics = {
        "stage": STAGE, "cell": config.cell,
        "val_loss": val_loss, "val_bpc": bits_per_char(val_loss), "val_loss_ctx64": val_loss_ctx64,
        **training_metrics(progress, model, lm_run),
        "eval_seconds": round(time.perf_counter() - started, 1), "precision": precision,
        "baselines": baselines,
    }
    write_json(lm_run.out / "metrics.json", metrics)
    write_json(lm_run.out / "history.json", progress.history)
    if progress.history:
        ngram = baselines["ngram"]
        plot_losses(progress.history, lm_run.out / "loss.png", f"TinyLLM ({config.cell}) on {data_name}",
                    baselines={f"{ngram['order']}-gram Kneser-Ney": ngram["val_loss"],
                               "bigram": baselines["bigram"]["val_loss"]})
    append_final_sample(lm_run, final_sample)
    print(f"validation: {val_loss:.4f} nats/char ({metrics['val_bpc']:.3f} bpc) carried state, "
          f"{val_loss_ctx64:.4f} with a 64-character context; "
          f"best n-gram (order {baselines['ngram']['order']}): {baselines['ngram']['val_loss']:.4f}")
    print(f"results in {config.out}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
