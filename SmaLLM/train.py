"""Stage 2 — SmaLLM: a word-level recurrent language model with learned word embeddings.

    python SmaLLM/train.py                              # LSTM on words of the embedded Shakespeare, ~4 min
    python SmaLLM/train.py --tokenizer bpe              # byte-level BPE: no unknown words at all
    python SmaLLM/train.py --min-freq 3 --no-tie-weights
    python SmaLLM/train.py --dry-run                    # a few seconds: checks that everything runs
    python SmaLLM/sample.py --prompt "ROMEO:"

Same conventions as TinyLLM (TBPTT with a carried state, AdamW, cosine schedule, time budget, Ctrl-C,
--resume). The run folder receives config.json, metrics.json (validation perplexity and bits per
character beside a unigram and an interpolated Kneser-Ney trigram on the same tokens), history.json,
loss.png, samples.txt, neighbours.txt, embeddings.png, checkpoint.pt, resume.pt and tokenizer.json.
Like TinyLLM, a run is a transaction: options and text are checked before --out is touched, and
only a finished run replaces --out (see TinyLLM/train.py and common.runs.run_transaction).
"""
# ruff: noqa: E402

from __future__ import annotations

import os

# Let idle OpenMP threads sleep instead of spin. On a shared 2-core machine a spinning thread takes the
# core its partner needs, and we measured steps up to 10x slower under load without it.
# (OpenMP reads this when PyTorch loads, hence before `import torch`.)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from common.config import option, parse_config, run_cli
from common.metrics import bits_per_char, perplexity
from common.ngram import KneserNeyModel, UnigramModel
from common.paths import output_dir
from common.plotting import plot_losses
from common.runs import run_transaction, write_json, write_text
from common.tokenizers import BPETokenizer, WordTokenizer
from common.torch_utils import load_checkpoint, pick_device
from SmaLLM.embeddings import MIN_PLOT_TOKENS, nearest_neighbours, plot_embeddings
from SmaLLM.model import CELLS, WordRNN
from SmaLLM.sample import Tokenizer, continue_text, load_tokenizer, never_sample, token_text
from TinyLLM.model import count_parameters
from TinyLLM.sample import generate
from TinyLLM.training import (
    RESUME_FILE,
    append_text,
    check_token_counts,
    evaluate_carried,
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

STAGE = "SmaLLM"  # stored in every checkpoint, so another stage's checkpoint is recognised as such
# Options that shape the model, the tokens or the data it reads: a resumed run must keep them.
RESUME_SHAPING = ("data", "val_fraction", "dry_run", "tokenizer", "min_freq", "bpe_vocab_size", "cell",
                  "embedding_dim", "hidden_size", "num_layers", "tie_weights", "batch_size", "seq_len")
PLOT_TOKENS = 150  # the most frequent tokens drawn in embeddings.png
PROBE_WORDS = ("king", "love", "death", "night", "good", "lord", "father", "heaven", "thou", "speak", "sword", "fair")


@dataclass
class TrainConfig:
    # data
    data: str = option("shakespeare", "'shakespeare' (embedded, ~1 MB) or the path of any UTF-8 text file")
    val_fraction: float = option(0.1, "the last tenth of the text is validation, as in TinyLLM")
    out: str = option(str(output_dir("SmaLLM")), "run folder for checkpoints, metrics and plots")
    tokenizer: str = option("word", "word: whole words, rare ones -> <unk>; bpe: byte-level BPE, nothing unknown",
                            choices=("word", "bpe"))
    min_freq: int = option(2, "word tokenizer: words seen fewer times become <unk> (halves the vocabulary)")
    bpe_vocab_size: int = option(2000, "bpe tokenizer: 256 bytes + 1744 merges; frequent words become one token")
    # model
    cell: str = option("lstm", "the gated cell of Stage 1's lesson", choices=CELLS)
    embedding_dim: int = option(256, "word vectors need more room than characters")
    hidden_size: int = option(256, "equal to embedding_dim so tied weights need no projection")
    num_layers: int = option(1, "one layer trains more steps in the budget than two")
    dropout: float = option(0.4, "250k training words overfit fast: dropout on embeddings and outputs")
    tie_weights: bool = option(True, "one matrix reads and predicts words: fewer parameters, lower perplexity")
    # optimisation
    batch_size: int = option(32, "parallel streams of text")
    seq_len: int = option(64, "TBPTT length in tokens: gradients flow back 64 words")
    learning_rate: float = option(3e-3, "peak AdamW rate")
    weight_decay: float = option(0.01, "light decay on weight matrices only")
    warmup_steps: int = option(50, "a short linear warm-up avoids early blow-ups")
    min_lr_ratio: float = option(0.05, "the cosine schedule ends at 0.05 x the peak rate")
    grad_clip: float = option(1.0, "clip the gradient norm: RNN gradients occasionally explode")
    max_minutes: float = option(4.0, "wall-clock training budget; with evaluation the run stays under 5 min")
    max_steps: int = option(0, "stop after this many steps (0: only the time budget)")
    # bookkeeping
    eval_every: int = option(100, "steps between validation passes (and best-checkpoint saves)")
    eval_streams: int = option(4, "periodic validation reads the text as 4 parallel pieces; the final one reads it whole")
    sample_every: int = option(300, "steps between printed samples (0: never)")
    sample_length: int = option(60, "tokens per periodic sample")
    threads: int = option(0, "PyTorch CPU threads (0: one per core)")
    seed: int = option(1337, "same seed, same data order and initial weights")
    device: str = option("auto", "auto, cpu, cuda or mps")
    precision: str = option("auto", "auto: bfloat16 matrix products where the hardware has them (2-3x faster here), else float32",
                            choices=("auto", "bf16", "fp32"))
    resume: bool = option(False, "continue the run in --out from resume.pt (same schedule and budget)")
    dry_run: bool = option(False, "tiny model, 30 kB of text, 6 steps, 1 thread: checks the pipeline in seconds")

    def validate(self) -> None:
        """Refuse a bad option before any work (see `validate_options` for the shared ones)."""
        validate_options(self)
        if self.min_freq < 1:
            raise ValueError(f"--min-freq must be at least 1, got {self.min_freq}")
        if self.bpe_vocab_size <= 256:
            raise ValueError(f"--bpe-vocab-size must exceed the 256 byte tokens (e.g. 2000), got {self.bpe_vocab_size}")


def dry_run_config(config: TrainConfig) -> TrainConfig:
    return dataclasses.replace(
        config, embedding_dim=16, hidden_size=16, batch_size=4, seq_len=8, max_steps=6, max_minutes=0.0,
        eval_every=3, eval_streams=2, sample_every=3, sample_length=10, warmup_steps=2, bpe_vocab_size=300, threads=1,
    )


def fit_tokenizer(config: TrainConfig, train_text: str) -> Tokenizer:
    if config.tokenizer == "bpe":
        return BPETokenizer.fit(train_text, vocab_size=config.bpe_vocab_size)
    return WordTokenizer.fit(train_text, min_freq=config.min_freq)


def scores(mean_nats: float, tokens_per_char: float) -> dict[str, float]:
    """Loss per token, perplexity per token, and bits per character of the original text."""
    return {"val_loss": mean_nats, "val_ppl": perplexity(mean_nats), "val_bpc": bits_per_char(mean_nats, tokens_per_char)}


def frequent_tokens(tokenizer: Tokenizer, train_ids: np.ndarray, count: int = PLOT_TOKENS) -> list[int]:
    """The `count` most frequent real tokens of the training text (never <unk>), most frequent first."""
    skip = never_sample(tokenizer)
    counts = np.bincount(train_ids, minlength=tokenizer.vocab_size)
    return [int(i) for i in np.argsort(-counts, kind="stable") if i not in skip and counts[i] > 0][:count]


def inspect_embeddings(model: WordRNN, tokenizer: Tokenizer, train_ids: np.ndarray, out: Path, title: str) -> str:
    """Nearest neighbours of a few probe words (returned as text) and embeddings.png of the frequent ones
    (skipped, with a message, when the text has too few distinct tokens for a 2-D map)."""
    embeddings = model.embedding.weight.detach().cpu().numpy()  # (vocab, embedding_dim)
    skip = never_sample(tokenizer)
    lines = []
    for word in PROBE_WORDS:
        ids = tokenizer.encode(" " + word if isinstance(tokenizer, BPETokenizer) else word)
        if len(ids) != 1 or ids[0] in skip:
            continue  # not a single known token in this vocabulary
        neighbours = nearest_neighbours(embeddings, ids[0], count=8, skip=skip)
        lines.append(f"{word!r:>10}: " + ", ".join(f"{token_text(tokenizer, i)!r} {c:.2f}" for i, c in neighbours))
    frequent = frequent_tokens(tokenizer, train_ids)
    if len(frequent) >= MIN_PLOT_TOKENS:
        plot_embeddings(embeddings, frequent, [token_text(tokenizer, i).replace("\n", "\\n") for i in frequent],
                        out / "embeddings.png", title)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    config = parse_config(TrainConfig, argv, description=__doc__)
    config.validate()
    if config.dry_run:
        config = dry_run_config(config)
    setup_torch(config.threads, config.seed)
    device = pick_device(config.device)
    # A fresh run fits its tokenizer and checks the sizes here, before --out is touched; a resumed run
    # uses its saved tokenizer, checked as soon as the run is locked.
    train_text, val_text = split_text(config)
    tokens = None
    if not config.resume:
        tokenizer = fit_tokenizer(config, train_text)
        tokens = (tokenizer, *check_tokens(config, tokenizer, train_text, val_text))
    with run_transaction(config.out, resume=config.resume, resume_file=RESUME_FILE) as staging:
        if tokens is None:  # resuming: the run's own tokenizer, once the options are checked against the run
            load_resume(staging, config, STAGE, RESUME_SHAPING)
            tokenizer = load_tokenizer(staging / "tokenizer.json")
            tokens = (tokenizer, *check_tokens(config, tokenizer, train_text, val_text))
        return train_and_report(config, device, staging, val_text, tokens)


def check_tokens(config: TrainConfig, tokenizer: Tokenizer, train_text: str, val_text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode both texts; refuse texts too short for the training shape. Says early when the text has
    too few distinct tokens for embeddings.png, which is then skipped (training itself works)."""
    train_ids = torch.tensor(tokenizer.encode(train_text), dtype=torch.long)
    val_ids = torch.tensor(tokenizer.encode(val_text), dtype=torch.long)
    check_token_counts(config, len(train_ids), len(val_ids))
    distinct = len(frequent_tokens(tokenizer, train_ids.numpy()))
    if distinct < MIN_PLOT_TOKENS:
        print(f"the training text has {distinct} distinct token(s) besides <unk>; embeddings.png needs "
              f"{MIN_PLOT_TOKENS} and will be skipped")
    return train_ids, val_ids


def train_and_report(
    config: TrainConfig, device: torch.device, out: Path, val_text: str,
    tokens: tuple[Tokenizer, torch.Tensor, torch.Tensor],
) -> dict:
    """Train into the staging folder `out` (resuming the run there with --resume), evaluate the best
    checkpoint beside the n-gram baselines, inspect the embeddings and write every result file."""
    tokenizer, train_ids, val_ids = tokens
    tokenizer.save(out / "tokenizer.json")
    # Bits per character of the original validation text make different tokenizers comparable.
    tokens_per_char = len(val_ids) / len(val_text)
    unknown_rate = float((val_ids == 0).float().mean()) if config.tokenizer == "word" else 0.0
    print(f"{config.tokenizer} tokenizer: vocabulary {tokenizer.vocab_size:,}, {len(train_ids):,} training and "
          f"{len(val_ids):,} validation tokens ({1 / tokens_per_char:.2f} characters per token, "
          f"{unknown_rate:.1%} of validation tokens unknown)")

    vocab, train_np, val_np = tokenizer.vocab_size, train_ids.numpy(), val_ids.numpy()
    baselines = {
        "unigram": scores(UnigramModel().fit(train_np, vocab).mean_nll(val_np), tokens_per_char),
        "kneser_ney_trigram": scores(KneserNeyModel(3).fit(train_np, vocab).mean_nll(val_np), tokens_per_char),
    }
    print("baselines (perplexity):", {name: round(b["val_ppl"], 1) for name, b in baselines.items()})

    model = WordRNN(vocab, config.embedding_dim, config.hidden_size, config.num_layers, config.cell,
                    config.dropout, config.tie_weights).to(device)
    optimizer = make_optimizer(model, config.learning_rate, config.weight_decay)
    progress = None
    if config.resume:
        progress = restore_run(load_resume(out, config, STAGE, RESUME_SHAPING), model, optimizer, out / RESUME_FILE)
    write_json(out / "config.json", config)
    print(f"{config.cell} model with {count_parameters(model):,} parameters on {device}")

    generator = torch.Generator().manual_seed(config.seed)

    def sample(length: int = config.sample_length, prompt: str = "ROMEO:") -> str:
        prompt_ids = tokenizer.encode(prompt)
        new_ids = generate(model, prompt_ids, length, 0.8, 40, generator, never_sample(tokenizer))
        return continue_text(tokenizer, prompt, prompt_ids, new_ids)

    precision = resolve_precision(config.precision, device)
    progress = train(model, optimizer, train_ids, val_ids, config, out, {"stage": STAGE, "vocab_size": vocab},
                     sample, progress)
    model.load_state_dict(load_checkpoint(out / "checkpoint.pt", map_location=device, expected_stage=STAGE)["model"])
    with mixed_precision(precision, device):  # entered after loading: autocast caches cast weights
        result = scores(evaluate_carried(model, val_ids, streams=1), tokens_per_char)
        final_sample = sample(200)
    metrics = {
        "stage": STAGE, "tokenizer": config.tokenizer, "vocab_size": vocab, **result,
        "train_seconds": round(progress.seconds, 1),
        "tokens_per_second": round(progress.tokens / max(progress.step_seconds, 1e-9)),
        "params": count_parameters(model), "steps": progress.step, "tokens_seen": progress.tokens,
        "interrupted": progress.interrupted, "val_unknown_rate": unknown_rate,
        "val_tokens_per_char": tokens_per_char, "device": str(device), "threads": torch.get_num_threads(),
        "precision": precision, "baselines": baselines,
    }
    write_json(out / "metrics.json", metrics)
    write_json(out / "history.json", progress.history)
    if progress.history:
        plot_losses(progress.history, out / "loss.png", f"SmaLLM ({config.cell}, {config.tokenizer} tokens)", "nats/token",
                    baselines={"Kneser-Ney trigram": baselines["kneser_ney_trigram"]["val_loss"]})
    neighbours = inspect_embeddings(model, tokenizer, train_np, out, f"SmaLLM {config.tokenizer} embeddings (PCA)")
    write_text(out / "neighbours.txt", f"nearest neighbours by cosine similarity of the input embeddings\n{neighbours}\n")
    print("nearest neighbours (cosine):\n" + neighbours)
    append_text(out / "samples.txt", f"=== final (best checkpoint), prompt 'ROMEO:' ===\n{final_sample}\n")
    print(f"validation perplexity {result['val_ppl']:.1f} ({result['val_bpc']:.3f} bits/char); "
          f"Kneser-Ney trigram {baselines['kneser_ney_trigram']['val_ppl']:.1f} "
          f"({baselines['kneser_ney_trigram']['val_bpc']:.3f} bits/char)")
    print(f"results in {config.out}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
