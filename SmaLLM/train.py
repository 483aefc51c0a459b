"""Stage 2 — SmaLLM: a word-level recurrent language model with learned word embeddings.

    python SmaLLM/train.py                              # LSTM on words of the embedded Shakespeare
    python SmaLLM/train.py --tokenizer bpe              # byte-level BPE: no unknown words at all
    python SmaLLM/train.py --min-freq 3 --no-tie-weights
    python SmaLLM/train.py --preset tiny                # a few seconds: checks that everything runs
    python SmaLLM/sample.py --prompt "ROMEO:"

Same loop as TinyLLM (common/lm/harness.py: TBPTT with a carried state, AdamW, cosine schedule,
time budget, Ctrl-C, --resume). The run folder receives config.json, metrics.json (validation
perplexity and bits per character beside a unigram and an interpolated Kneser-Ney trigram on the same
tokens), history.json, loss.png, samples.txt, neighbours.txt, embeddings.png, checkpoint.pt, resume.pt
and tokenizer.json. A run is a transaction: options and text are checked before --out is touched, and
only a finished run replaces --out (see common.runs.run_transaction).
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from common.config import finite, option, parse_config, require, require_at_least, run_cli
from common.lm.evaluation import evaluate_carried
from common.lm.harness import (
    Run,
    append_final_sample,
    baseline_ids,
    never_sample,
    open_run,
    train_model,
    training_metrics,
)
from common.lm.loop import LMConfig, mixed_precision, resolve_precision
from common.lm.ngram import KneserNeyModel, UnigramModel
from common.lm.plots import plot_losses
from common.lm.tokenizer_protocol import Tokenizer
from common.lm.tokenizers import BPETokenizer, WordTokenizer
from common.metrics import bits_per_char, perplexity
from common.paths import output_dir
from common.runs import write_json, write_text
from SmaLLM.embeddings import MIN_PLOT_TOKENS, nearest_neighbours, plot_embeddings
from SmaLLM.model import CELLS, WordRNN

STAGE = "SmaLLM"  # stored in every checkpoint, so another stage's checkpoint is recognised as such
PLOT_TOKENS = 150  # the most frequent tokens drawn in embeddings.png
PROBE_WORDS = ("king", "love", "death", "night", "good", "lord", "father", "heaven", "thou", "speak", "sword",
               "fair")


@dataclass
class TrainConfig(LMConfig):
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": dict(embedding_dim=16, hidden_size=16, batch_size=4, seq_len=8, max_steps=6, max_minutes=0.0,
                     eval_every=3, eval_streams=2, sample_every=3, sample_length=10, warmup_steps=2,
                     bpe_vocab_size=300, max_chars=30_000,
                     threads=1),  # a tiny model splits badly across threads: one is fastest
    }
    out: str = option(str(output_dir("SmaLLM")), "run folder for checkpoints, metrics and plots")
    tokenizer: str = option("word", "word: whole words, rare ones -> <unk>; bpe: byte-level BPE, nothing "
                            "unknown", choices=("word", "bpe"), shaping=True)
    min_freq: int = option(2, "word tokenizer: words seen fewer times become <unk> (halves the vocabulary)",
                           shaping=True)
    bpe_vocab_size: int = option(2000, "bpe tokenizer: 256 bytes + 1744 merges; frequent words become one "
                                 "token", shaping=True)
    # model
    cell: str = option("lstm", "the gated cell of Stage 1's lesson", choices=CELLS, shaping=True)
    embedding_dim: int = option(256, "word vectors need more room than characters", shaping=True)
    hidden_size: int = option(256, "equal to embedding_dim so tied weights need no projection", shaping=True)
    num_layers: int = option(1, "one layer trains more steps in the budget than two", shaping=True)
    dropout: float = option(0.4, "250k training words overfit fast: dropout on embeddings and outputs")
    tie_weights: bool = option(True, "one matrix reads and predicts words: fewer parameters, lower "
                               "perplexity", shaping=True)
    # the loop's options, with this stage's defaults
    batch_size: int = option(32, "parallel streams of text", shaping=True)
    seq_len: int = option(64, "TBPTT length in tokens: gradients flow back 64 words", shaping=True)
    eval_every: int = option(100, "steps between validation passes (and best-checkpoint saves)")
    eval_streams: int = option(4, "periodic validation reads the text as 4 parallel pieces; the final one "
                               "reads it whole")
    sample_every: int = option(300, "steps between printed samples (0: never)")
    sample_length: int = option(60, "tokens per periodic sample")

    def validate(self) -> None:
        """Refuse a bad option before any work."""
        super().validate()
        require_at_least(self, 1, "embedding_dim", "hidden_size", "num_layers", "min_freq")
        require(self, 0 <= finite(self.dropout) < 1, "dropout", "in [0, 1)")
        require(self, self.bpe_vocab_size > 256, "bpe_vocab_size",
                "more than the 256 byte tokens (e.g. 2000)")


def build_model(config: TrainConfig, vocab_size: int) -> WordRNN:
    return WordRNN(vocab_size, config.embedding_dim, config.hidden_size, config.num_layers, config.cell,
                   config.dropout, config.tie_weights)


def fit_tokenizer(config: TrainConfig, train_text: str) -> Tokenizer:
    if config.tokenizer == "bpe":
        return BPETokenizer.fit(train_text, vocab_size=config.bpe_vocab_size)
    return WordTokenizer.fit(train_text, min_freq=config.min_freq)


def scores(mean_nats: float, tokens_per_char: float) -> dict[str, float]:
    """Loss per token, perplexity per token, and bits per character of the original text."""
    return {"val_loss": mean_nats, "val_ppl": perplexity(mean_nats),
            "val_bpc": bits_per_char(mean_nats, tokens_per_char)}


def frequent_tokens(tokenizer: Tokenizer, train_ids: np.ndarray, count: int = PLOT_TOKENS) -> list[int]:
    """The `count` most frequent real tokens of the training text (never <unk>), most frequent first."""
    skip = never_sample(tokenizer)
    counts = np.bincount(train_ids, minlength=tokenizer.vocab_size)
    return [int(i) for i in np.argsort(-counts, kind="stable") if i not in skip and counts[i] > 0][:count]


def inspect_embeddings(
    model: WordRNN, tokenizer: Tokenizer, train_ids: np.ndarray, out: Path, title: str
) -> str:
    """Nearest neighbours of a few probe words (returned as text) and embeddings.png of the frequent ones
    (skipped, with a message, when the text has too few distinct tokens for a 2-D map)."""
    embeddings = model.embedding.weight.detach().cpu().numpy()  # (vocab, embedding_dim)
    skip = never_sample(tokenizer)
    lines = []
    for word in PROBE_WORDS:
        # With its leading space, as a word appears inside text: BPE keeps the space in the token, the
        # word tokenizer ignores it.
        ids = tokenizer.encode(" " + word)
        if len(ids) != 1 or ids[0] in skip:
            continue  # not a single known token in this vocabulary
        neighbours = nearest_neighbours(embeddings, ids[0], count=8, skip=skip)
        listed = ", ".join(f"{tokenizer.token_text(i)!r} {c:.2f}" for i, c in neighbours)
        lines.append(f"{word!r:>10}: {listed}")
    frequent = frequent_tokens(tokenizer, train_ids)
    if len(frequent) >= MIN_PLOT_TOKENS:
        labels = [tokenizer.token_text(i).replace("\n", "\\n") for i in frequent]
        plot_embeddings(embeddings, frequent, labels, out / "embeddings.png", title)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    return run(parse_config(TrainConfig, argv, description=__doc__))


def run(config: TrainConfig) -> dict:
    """Train and evaluate as `config` says; returns metrics.json's content."""
    config.validate()
    opened = open_run(STAGE, config, lambda text: fit_tokenizer(config, text),
                      build=lambda vocab_size: build_model(config, vocab_size))
    with runtime.torch_settings(config.threads), opened as lm_run:
        return train_and_report(config, lm_run)


def train_and_report(config: TrainConfig, lm_run: Run) -> dict:
    """Train into the run folder, evaluate the best checkpoint beside the n-gram baselines, inspect the
    embeddings and write every result file."""
    tokenizer, train_ids, val_ids, device = lm_run.tokenizer, lm_run.train_ids, lm_run.val_ids, lm_run.device
    # Bits per character of the original validation text make different tokenizers comparable.
    tokens_per_char = len(val_ids) / lm_run.val_chars
    unknown_rate = 0.0 if tokenizer.unk_id is None else float((val_ids == tokenizer.unk_id).float().mean())
    print(f"{config.tokenizer} tokenizer: vocabulary {tokenizer.vocab_size:,}, {len(train_ids):,} training "
          f"and {len(val_ids):,} validation tokens ({1 / tokens_per_char:.2f} characters per token, "
          f"{unknown_rate:.1%} of validation tokens unknown)")
    vocab, (train_np, val_np) = tokenizer.vocab_size, baseline_ids(lm_run)
    distinct = len(frequent_tokens(tokenizer, train_np))
    if distinct < MIN_PLOT_TOKENS:
        print(f"the training text has {distinct} distinct token(s) besides <unk>; embeddings.png needs "
              f"{MIN_PLOT_TOKENS} and will be skipped")
    baselines = {
        name: scores(baseline.fit(train_np, vocab).mean_nll(val_np), tokens_per_char)
        for name, baseline in (("unigram", UnigramModel()), ("kneser_ney_trigram", KneserNeyModel(3)))
    }
    print("baselines (perplexity):", {name: round(b["val_ppl"], 1) for name, b in baselines.items()})

    model = build_model(config, vocab).to(device)
    progress, sample = train_model(STAGE, config, model, lm_run, prompt="ROMEO:")
    if not lm_run.world.is_main:
        return {}  # under torchrun, rank 0 evaluates and writes the results
    precision = resolve_precision(config.precision, device)
    with mixed_precision(precision, device):  # entered after loading: autocast caches cast weights
        result = scores(evaluate_carried(model, val_ids, streams=1), tokens_per_char)
        final_sample = sample(200)
    metrics = {
        "stage": STAGE, "tokenizer": config.tokenizer, "vocab_size": vocab, **result,
        **training_metrics(progress, model, lm_run), "val_unknown_rate": unknown_rate,
        "val_tokens_per_char": tokens_per_char, "precision": precision, "baselines": baselines,
    }
    write_json(lm_run.out / "metrics.json", metrics)
    write_json(lm_run.out / "history.json", progress.history)
    if progress.history:
        plot_losses(progress.history, lm_run.out / "loss.png", f"SmaLLM ({config.cell}, {config.tokenizer} "
                    "tokens)", "nats/token",
                    baselines={"Kneser-Ney trigram": baselines["kneser_ney_trigram"]["val_loss"]})
    neighbours = inspect_embeddings(model, tokenizer, train_np, lm_run.out,
                                    f"SmaLLM {config.tokenizer} embeddings (PCA)")
    write_text(lm_run.out / "neighbours.txt",
               f"nearest neighbours by cosine similarity of the input embeddings\n{neighbours}\n")
    print("nearest neighbours (cosine):\n" + neighbours)
    append_final_sample(lm_run, final_sample)
    trigram = baselines["kneser_ney_trigram"]
    print(f"validation perplexity {result['val_ppl']:.1f} ({result['val_bpc']:.3f} bits/char); "
          f"Kneser-Ney trigram {trigram['val_ppl']:.1f} ({trigram['val_bpc']:.3f} bits/char)")
    print(f"results in {config.out}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
