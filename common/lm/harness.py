"""A language-model run from text to results, in the steps every stage takes (TinyLLM, SmaLLM):

    with open_run(STAGE, config, fit) as run:             # split, tokens, run folder, resume checks
        model = ...                                       # the stage's model
        progress, sample = train_model(STAGE, config, model, run, prompt)  # common/lm/loop.py's loop
        ...                                               # final evaluation, metrics.json

A stage's `train.py` is that recipe with its own model, tokenizer choice, baselines and metrics; the
loop, checkpoints, resume, sampling and run folders are here, written once. `sample_main` is the whole
of a stage's `sample.py`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from common import distributed, runtime
from common.config import config_from_dict, finite, option, parse_config, require, require_at_least
from common.lm.corpus import META_FILE, TOKENIZER_FILE, TOKENS_FILE, is_prepared, load_corpus, open_prepared
from common.lm.loop import (
    RESUME_FILE,
    LMConfig,
    Progress,
    append_text,
    load_resume,
    make_optimizer,
    restore_run,
    train,
)
from common.lm.tokenizer_protocol import Tokenizer
from common.lm.tokenizers import load_tokenizer
from common.runs import run_transaction, write_json
from common.seed import set_seed
from common.torch_utils import count_parameters, load_checkpoint, pick_device, require_training_memory

MIN_TRAIN_CHARS, MIN_VAL_CHARS = 1000, 100
# The n-gram baselines are fitted on at most this many training tokens: all of the embedded ~1 MB
# corpus (932,840 characters), and a bounded sample of a corpus of any size, whose counts would
# otherwise grow with it.
BASELINE_TRAIN_TOKENS = 1_000_000


def split_text(config: LMConfig) -> tuple[str, str]:
    """The corpus `config.data` (its first `max_chars` characters, if set) as (training text,
    validation text): the last `val_fraction` validates."""
    text = load_corpus(config.data)
    if config.max_chars:
        text = text[: config.max_chars]
    split = int(len(text) * (1 - config.val_fraction))
    train_text, val_text = text[:split], text[split:]
    if len(val_text) < MIN_VAL_CHARS or len(train_text) < MIN_TRAIN_CHARS:
        raise ValueError(f"--val-fraction {config.val_fraction} splits the {len(text):,} characters of "
                         f"{config.data} into {len(train_text):,} training and {len(val_text):,} validation "
                         f"characters: each needs at least {MIN_TRAIN_CHARS:,} and {MIN_VAL_CHARS}; give a "
                         "longer text or another --val-fraction")
    return train_text, val_text


def check_token_counts(config: LMConfig, train_tokens: int, val_tokens: int, min_val_tokens: int = 2) -> None:
    """Refuse, before training starts, a text too short for the batch and sequence shape asked for."""
    needed = config.batch_size * (config.seq_len + 1)  # every stream needs one input chunk plus its target
    if train_tokens < needed:
        raise ValueError(f"the training text has {train_tokens:,} tokens, fewer than --batch-size "
                         f"{config.batch_size} x (--seq-len {config.seq_len} + 1) = {needed:,}: lower them "
                         "or give a longer text")
    needed = max(min_val_tokens, 2 * config.eval_streams)
    if val_tokens < needed:
        raise ValueError(f"the validation text has {val_tokens:,} tokens; --eval-streams "
                         f"{config.eval_streams} needs at least {needed}: lower --eval-streams or raise "
                         "--val-fraction")


def data_sha256(config: LMConfig, texts: tuple[str, str] | None) -> str:
    """The SHA-256 of the data a run reads: the (training, validation) `texts`, or the files of the
    prepared corpus `config.data` when `texts` is None. A resumed run must read the same data: the same
    path with another text in it is refused (`load_resume`)."""
    digest = hashlib.sha256()
    if texts is not None:
        for text in texts:
            digest.update(text.encode("utf-8"))
        return digest.hexdigest()
    for name in (META_FILE, TOKENIZER_FILE, TOKENS_FILE):
        with open(Path(config.data) / name, "rb") as file:
            while block := file.read(2**24):
                digest.update(block)
    return digest.hexdigest()


@dataclass
class Run:
    """An open run: its staging folder (see common.runs.run_transaction), device, tokenizer, the two
    texts as token ids (length,; memory-mapped for a prepared corpus), this process's place among
    torchrun's ranks, and what `train_model` reports about the parallel run."""

    out: Path
    device: torch.device
    tokenizer: Tokenizer
    train_ids: torch.Tensor
    val_ids: torch.Tensor
    val_chars: int  # characters of text the validation ids stand for: bits per character divide by it
    world: distributed.World = field(default_factory=distributed.World)
    parallel: dict[str, Any] = field(default_factory=dict)
    data_sha256: str = ""  # the fingerprint of the data (`data_sha256`), kept in checkpoints for --resume


def tokens_for(
    config: LMConfig, texts: tuple[str, str] | None, tokenizer: Tokenizer | None,
    fit_tokenizer: Callable[[str], Tokenizer], min_val_tokens: int,
) -> tuple[Tokenizer, torch.Tensor, torch.Tensor, int]:
    """(tokenizer, training ids (length,), validation ids (length,), validation characters).

    From the (training, validation) `texts`, encoded with `tokenizer` (fitted on the training text when
    None); or, when `texts` is None, from the prepared corpus `config.data` (common/lm/corpus.py), whose
    ids stay memory-mapped. Refuses texts too short for the run.
    """
    if texts is None:
        if config.max_chars:
            raise ValueError(f"--max-chars cuts a text file; {config.data} is a prepared corpus, read as "
                             "prepared: prepare a shorter text instead")
        corpus = open_prepared(config.data)
        tokenizer, val_chars = corpus.tokenizer, corpus.val_chars
        train_ids, val_ids = torch.from_numpy(corpus.train_ids), torch.from_numpy(corpus.val_ids)
    else:
        tokenizer = tokenizer or fit_tokenizer(texts[0])
        train_ids, val_ids = (torch.tensor(tokenizer.encode(text), dtype=torch.long) for text in texts)
        val_chars = len(texts[1])
    if config.eval_tokens and len(val_ids) > config.eval_tokens:
        val_ids = val_ids[: config.eval_tokens]
        val_chars = len(tokenizer.decode(val_ids.tolist()))
    check_token_counts(config, len(train_ids), len(val_ids), min_val_tokens)
    return tokenizer, train_ids, val_ids, val_chars


@contextlib.contextmanager
def open_run(
    stage: str, config: LMConfig, fit_tokenizer: Callable[[str], Tokenizer], min_val_tokens: int = 2,
    build: Callable[[int], nn.Module] | None = None,
) -> Iterator[Run]:
    """Seed, pick the device, join torchrun's other ranks (if any), read and tokenize the corpus, and
    open the run folder `config.out` as a transaction.

    The last `val_fraction` of the text validates (the vocabulary comes from the training text only);
    a prepared corpus (a folder written by common/lm/corpus.py) brings its own split and tokenizer. A fresh
    run fits its tokenizer and checks the sizes before --out is touched; a resumed run
    (`config.resume`) first checks its shaping options against the run it continues, then uses
    that run's own tokenizer. The tokenizer is saved in the run folder. Under torchrun only rank 0
    opens the folder; the other ranks fit the same tokenizer and never touch a file. With `build`
    (vocabulary size -> the stage's model), a model whose training cannot fit in memory is refused
    as soon as the vocabulary is known, before anything is built (`check_memory`).
    """
    set_seed(config.seed)
    here = distributed.world()
    device = pick_device(distributed.device_for(config.device, here))
    texts = None if is_prepared(config.data) else split_text(config)
    with distributed.process_group(device):
        tokens = None
        if not (config.resume and here.is_main):
            tokens = tokens_for(config, texts, None, fit_tokenizer, min_val_tokens)
            check_memory(config, build, tokens[0].vocab_size, device)
        if not here.is_main:
            yield Run(Path(config.out), device, *tokens, world=here)
            return
        fingerprint = data_sha256(config, texts)

        def check_resume(folder: Path) -> None:
            """The run to continue (before anything of it is copied): same options, same data; then
            its own tokenizer."""
            nonlocal tokens
            load_resume(folder, config, stage, fingerprint)
            saved = load_tokenizer(folder / "tokenizer.json")
            tokens = tokens_for(config, texts, saved, fit_tokenizer, min_val_tokens)
            check_memory(config, build, tokens[0].vocab_size, device)

        with run_transaction(config.out, resume=config.resume, resume_file=RESUME_FILE, stage=stage,
                             check_resume=check_resume) as staging:
            tokens[0].save(staging / "tokenizer.json")
            yield Run(staging, device, *tokens, world=here, data_sha256=fingerprint)


def check_memory(
    config: LMConfig, build: Callable[[int], nn.Module] | None, vocab_size: int, device: torch.device
) -> None:
    """Refuse a model (`build(vocab_size)`) whose training step on `batch_size` x `seq_len` tokens cannot
    fit in memory, measured on the meta device before anything is allocated (None: no check)."""
    if build is None:
        return

    def step(model: nn.Module) -> torch.Tensor:
        ids = torch.zeros(config.batch_size, config.seq_len, dtype=torch.long)  # (batch, seq_len)
        logits, _ = model(ids)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), ids.reshape(-1))

    require_training_memory("the model", lambda: build(vocab_size), step, device,
                            "lower --hidden-size, --num-layers, --embedding-dim, --batch-size or --seq-len")


def train_model(
    stage: str, config: LMConfig, model: nn.Module, run: Run, prompt: str,
) -> tuple[Progress, Callable[..., str]]:
    """Train `model` (already on `run.device`) in the run folder, continuing it with --resume; then load
    the best checkpoint back into `model`. Returns the progress and a sampler, `sample(length, prompt)`,
    that continues `prompt` (by default the one given here) with the model.

    Under torchrun rank 0 restores a resumed run and hands it to the others, and the model is wrapped in
    DistributedDataParallel (which starts every rank from rank 0's weights); afterwards only rank 0
    loads the best checkpoint.
    """
    optimizer = make_optimizer(model, config.learning_rate, config.weight_decay, config.beta2)
    progress = None
    if config.resume and run.world.is_main:
        checkpoint = load_resume(run.out, config, stage, run.data_sha256)
        progress = restore_run(checkpoint, model, optimizer, run.out / RESUME_FILE)
    if config.resume and run.world.active:
        progress = distributed.broadcast(progress)
        optimizer.load_state_dict(distributed.broadcast(optimizer.state_dict()))
    if run.world.is_main:
        write_json(run.out / "config.json", config)
        print(f"{type(model).__name__} with {count_parameters(model):,} parameters on {run.device}"
              + (f", {run.world.size} processes" if run.world.active else ""))
    trained = model
    if run.world.active:
        device_ids = [run.device.index] if run.device.type == "cuda" else None  # None: CPU processes
        trained = DistributedDataParallel(model, device_ids=device_ids)
    if config.compile:
        trained = torch.compile(trained)  # compiled at the first step; checkpoints keep the plain weights
    generator = torch.Generator().manual_seed(config.seed)

    def sample(length: int = config.sample_length, text: str = prompt) -> str:
        prompt_ids = run.tokenizer.encode(text)
        new_ids = generate(model, prompt_ids, length, 0.8, 40, generator, never_sample(run.tokenizer))
        return continue_text(run.tokenizer, text, prompt_ids, new_ids)

    progress = train(trained, optimizer, run.train_ids, run.val_ids, config, run.out,
                     {"stage": stage, "vocab_size": run.tokenizer.vocab_size, "data_sha256": run.data_sha256},
                     sample, progress)
    run.parallel = {
        "world_size": run.world.size, "global_batch_size": config.batch_size,
        "batch_size_per_process": config.batch_size // run.world.size, "learning_rate": config.learning_rate,
        "parameters_in_sync": distributed.parameters_in_sync(model),
    }
    if run.world.is_main:
        checkpoint = load_checkpoint(run.out / "checkpoint.pt", map_location=run.device, expected_stage=stage)
        model.load_state_dict(checkpoint["model"])
    return progress, sample


def training_metrics(progress: Progress, model: nn.Module, run: Run) -> dict[str, Any]:
    """What every language-model run reports about its training, beside its stage's scores (peak
    resident memory is this process's, so far; `parallel`: world size, global and per-process batch,
    learning rate)."""
    return {
        "train_seconds": round(progress.seconds, 1),  # the training clock, what --max-minutes budgets
        "pause_seconds": round(progress.pause_seconds, 1),  # periodic evaluations, samples, checkpoint writes
        "tokens_per_second": round(progress.tokens / max(progress.step_seconds, 1e-9)),
        "params": count_parameters(model), "steps": progress.step, "tokens_seen": progress.tokens,
        "interrupted": progress.interrupted, "device": str(run.device), "threads": torch.get_num_threads(),
        "peak_rss_mb": runtime.peak_rss_mb(), "parallel": run.parallel,
    }


def append_final_sample(run: Run, text: str, prompt: str = "ROMEO:") -> None:
    """Add the best checkpoint's sample to samples.txt, after the periodic ones."""
    append_text(run.out / "samples.txt", f"=== final (best checkpoint), prompt {prompt!r} ===\n{text}\n")


def baseline_ids(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """(training ids, validation ids) as int64 arrays for the count-based baselines: the first
    BASELINE_TRAIN_TOKENS training tokens, and every validation token the network is scored on."""
    train = run.train_ids[:BASELINE_TRAIN_TOKENS].numpy().astype(np.int64)
    return train, run.val_ids.numpy().astype(np.int64)


def never_sample(tokenizer: Tokenizer) -> tuple[int, ...]:
    """Ids not to generate: an unknown id stands for no particular text."""
    return () if tokenizer.unk_id is None else (tokenizer.unk_id,)


def continue_text(tokenizer: Tokenizer, prompt: str, prompt_ids: list[int], new_ids: list[int]) -> str:
    """The prompt as typed plus the generated tokens, spaced as the tokenizer joins them."""
    decoded_prompt = tokenizer.decode(prompt_ids)
    return prompt + tokenizer.decode(prompt_ids + new_ids)[len(decoded_prompt) :]


@torch.no_grad()
def generate(
    model: nn.Module, prompt_ids: list[int], length: int, temperature: float = 1.0, top_k: int = 0,
    generator: torch.Generator | None = None, exclude: tuple[int, ...] = (),
) -> list[int]:
    """Read the prompt, then draw `length` tokens one at a time, feeding each back in as input.

    `exclude` lists ids never to draw, such as the unknown id, which stands for no real text.
    """
    if not prompt_ids:
        raise ValueError("the prompt is empty after tokenisation: give at least one character or word")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits, state = model(torch.tensor([prompt_ids], device=device))  # (1, prompt, vocab)
    generated: list[int] = []
    for _ in range(length):
        next_logits = logits[0, -1].float() / temperature  # (vocab,)
        if exclude:
            next_logits[list(exclude)] = float("-inf")
        if 0 < top_k < next_logits.numel():
            threshold = torch.topk(next_logits, top_k).values[-1]
            next_logits = next_logits.masked_fill(next_logits < threshold, float("-inf"))
        probs = torch.softmax(next_logits, dim=-1).cpu()
        next_id = int(torch.multinomial(probs, 1, generator=generator))
        generated.append(next_id)
        logits, state = model(torch.tensor([[next_id]], device=device), state)
    model.train(was_training)
    return generated


def load_run(
    out: str | Path, device: torch.device, stage: str, config_cls: type[LMConfig],
    build: Callable[[Any, int], nn.Module],
) -> tuple[nn.Module, Tokenizer]:
    """The best model of a run folder and its tokenizer; `build(config, vocab_size)` makes the model
    from the run's own saved config, so no architecture flags are needed."""
    path = Path(out) / "checkpoint.pt"
    checkpoint = load_checkpoint(path, map_location=device, expected_stage=stage)
    tokenizer = load_tokenizer(Path(out) / "tokenizer.json")
    config = config_from_dict(config_cls, checkpoint["config"], source=f"{path} (its saved config)")
    try:
        model = build(config, tokenizer.vocab_size)
        model.load_state_dict(checkpoint["model"])
    except (KeyError, TypeError, RuntimeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path} does not match its run folder ({reason}): the checkpoint and "
                         "tokenizer.json must come from the same run; re-train to recreate them") from None
    return model.to(device), tokenizer


@dataclass
class SampleConfig:
    """`sample.py`'s options; a stage subclasses it to set its own `out` folder and `length`."""

    out: str = option("outputs", "the run folder written by train.py")
    prompt: str = option("ROMEO:", "text the model continues")
    length: int = option(200, "tokens (characters, words or BPE pieces) generated after the prompt")
    temperature: float = option(0.8, "below 1 sharpens the distribution (safer), above 1 flattens it")
    top_k: int = option(40, "sample only among the k likeliest next tokens; 0 keeps them all")
    seed: int = option(1, "the same seed gives the same text")
    device: str = option("auto", "auto, cpu, cuda or mps")

    def validate(self) -> None:
        """Refuse a bad option before loading anything."""
        require_at_least(self, 0, "length")
        require(self, finite(self.temperature) > 0, "temperature", "a positive number such as 0.8")
        require(self, self.top_k >= 0, "top_k", "0 (keep every token) or more")


def sample_main(
    config_cls: type[SampleConfig], argv: list[str] | None, description: str | None,
    load: Callable[[str | Path, torch.device], tuple[nn.Module, Tokenizer]],
) -> str:
    """A stage's `sample.py`: load its run folder with `load` and continue `--prompt`."""
    config = parse_config(config_cls, argv, description=description)
    config.validate()
    device = pick_device(config.device)
    model, tokenizer = load(config.out, device)
    generator = torch.Generator().manual_seed(config.seed)
    prompt_ids = tokenizer.encode(config.prompt)
    ids = generate(model, prompt_ids, config.length, config.temperature, config.top_k, generator,
                   exclude=never_sample(tokenizer))
    text = continue_text(tokenizer, config.prompt, prompt_ids, ids)
    print(text)
    return text

