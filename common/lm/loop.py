"""The training loop of every language model of the project (TinyLLM's characters, SmaLLM's words and
BPE pieces): nothing in it knows which model or tokenizer it trains, as minGPT's trainer knows no GPT.

Truncated back-propagation through time (TBPTT): the training text is cut into `batch_size`
parallel streams, and each step reads the next `seq_len` tokens of every stream. The hidden state
is carried from one step to the next, so the model sees context longer than `seq_len`, but
gradients flow back only `seq_len` steps (the state is detached between steps).

    streams (batch_size, length):  |--chunk 0--|--chunk 1--|--chunk 2--| ...
                                    state ----> state ----> state ---->

A model that carries no state through training (the character Transformer) may instead read
`batch_size` windows at random places each step (`--batches random`, as nanoGPT does): consecutive
steps then see unrelated text instead of the next chunk of the same streams.

Evaluation (common/lm/evaluation.py) reads the validation text the same way, with the state carried
over the whole text.
A model is any module called as `model(ids (batch, time), state) -> (logits (batch, time, vocab), state)`;
`LMConfig` holds every option the loop reads, and a stage's config subclasses it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from common import distributed
from common.config import (
    finite,
    flag,
    option,
    require,
    require_at_least,
    require_learning_rate,
    require_types,
    shaping_options,
)
from common.lm.evaluation import batchify, evaluate_carried
from common.runs import RunDiverged, atomic_path
from common.torch_utils import load_checkpoint, mixed_precision, resolve_precision, save_checkpoint

__all__ = ["mixed_precision", "resolve_precision"]  # re-exported: the stages' recipes import them here

# The hidden state a model carries between calls: a tensor (layers, batch, hidden), or (h, c) for an
# LSTM; None for a fresh start (and for models with no state).
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
RESUME_FILE = "resume.pt"  # the latest model, optimizer and progress of a run: what --resume continues


@dataclass
class LMConfig:
    """The options the loop reads: data, optimisation, budget and bookkeeping. A stage subclasses it,
    adds its model's options and re-declares a field to change its default (e.g. `out`, `batch_size`).
    The options marked `shaping=True` decide the text, its tokens or the order the model reads them in:
    a resumed run must keep them (`load_resume`); the others, such as the budget, may change."""

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    # data
    data: str = option("shakespeare", "'shakespeare' (embedded, ~1 MB) or the path of any UTF-8 text file",
                       shaping=True)
    val_fraction: float = option(0.1, "the last tenth of the text is validation, as nanoGPT and char-rnn do",
                                 shaping=True)
    max_chars: int = option(0, "read only the first N characters of the text (0: all of it)", shaping=True)
    eval_tokens: int = option(0, "score on the first N validation tokens only (0: all): for corpora too "
                              "large to score whole")
    out: str = option("outputs/lm", "run folder for checkpoints, metrics and plots")
    # optimisation
    batch_size: int = option(64, "parallel streams of text", shaping=True)
    seq_len: int = option(128, "TBPTT length: gradients flow back this many tokens (the state goes further)",
                          shaping=True)
    batches: str = option("streams", "streams: the next chunk of every stream, the state carried (TBPTT); "
                          "random: windows at random places, nothing carried (for a model with no state)",
                          choices=("streams", "random"), shaping=True)
    learning_rate: float = option(3e-3, "peak AdamW rate; recurrent nets with clipping tolerate a high one")
    weight_decay: float = option(0.01, "light decay on weight matrices only")
    beta2: float = option(0.999, "AdamW's decay of its squared-gradient average (PyTorch's default); "
                          "nanoGPT uses 0.99 for its small batches")
    warmup_steps: int = option(50, "a short linear warm-up avoids early blow-ups")
    min_lr_ratio: float = option(0.05, "the cosine schedule ends at 0.05 x the peak rate")
    grad_clip: float = option(1.0, "clip the gradient norm: RNN gradients occasionally explode")
    max_minutes: float = option(4.0, "training budget in minutes of the training clock (periodic "
                                "evaluations, samples and checkpoint writes are not counted)")
    max_steps: int = option(0, "stop after this many steps (0: only the time budget)")
    # bookkeeping
    eval_every: int = option(200, "steps between validation passes (and best-checkpoint saves)")
    eval_streams: int = option(16, "periodic validation reads the text as this many parallel pieces (fast); "
                               "the final one reads it whole")
    sample_every: int = option(500, "steps between printed samples (0: never)")
    sample_length: int = option(200, "tokens per periodic sample")
    threads: int = option(0, "PyTorch CPU threads (0: one per physical core)")
    seed: int = option(1337, "same seed, same data order and initial weights")
    device: str = option("auto", "auto, cpu, cuda or mps")
    precision: str = option("auto", "auto: bfloat16 matrix products where the hardware has them (AMX, recent "
                            "GPUs), else float32", choices=("auto", "bf16", "fp32"))
    compile: bool = option(False, "torch.compile the model (kernels fused for this machine: slower to start, "
                           "often faster per step on a GPU)")
    resume: bool = option(False, "continue the run in --out from resume.pt (same schedule and budget)")
    preset: str = option("", "named settings resolved first (tiny: a few seconds, checks the pipeline; any "
                         "other is a recipe the stage's README reports)")

    def validate(self) -> None:
        """Refuse a bad loop option before any work, instead of giving a result that only looks valid."""
        require_types(self)
        require(self, 0 < finite(self.val_fraction) < 1, "val_fraction",
                "between 0 and 1 (exclusive), e.g. 0.1")
        require_at_least(self, 1, "batch_size", "seq_len", "eval_every", "eval_streams")
        require_at_least(self, 0, "max_chars", "eval_tokens", "warmup_steps", "max_steps", "sample_every",
                         "sample_length", "threads")
        require_learning_rate(self, "learning_rate")
        require(self, finite(self.weight_decay) >= 0, "weight_decay", "0 or more")
        require(self, 0 <= finite(self.beta2) < 1, "beta2", "in [0, 1), e.g. 0.99")
        require(self, 0 <= finite(self.min_lr_ratio) <= 1, "min_lr_ratio", "in [0, 1]")
        require(self, finite(self.grad_clip) > 0, "grad_clip", "a positive number, e.g. 1.0")
        require(self, finite(self.max_minutes) >= 0, "max_minutes", "0 or more")
        if not (self.max_steps or self.max_minutes):
            raise ValueError("set a budget: --max-steps N and/or --max-minutes M (both are 0)")


class RecurrentLM(nn.Module):
    """What TinyLLM's and SmaLLM's recurrent models share: the state they carry, (layers, batch, hidden)
    zeros at the start of a reading, or a pair (h, c) of them for an LSTM. A subclass sets `cell`,
    `num_layers` and `hidden_size`."""

    cell: str
    num_layers: int
    hidden_size: int

    def init_state(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        """The zero state a fresh reading starts from."""
        zeros = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device)
        return (zeros, zeros.clone()) if self.cell == "lstm" else zeros


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside torch.compile's and DistributedDataParallel's wrappers."""
    while hasattr(model, "_orig_mod") or hasattr(model, "module"):
        model = getattr(model, "_orig_mod", None) or model.module
    return model


def detach_state(state: State | None) -> State | None:
    """Keep the state's values but cut its history, so back-propagation stops at this chunk (TBPTT)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()



def learning_rate(config: LMConfig, step: int, seconds: float) -> float:
    """Linear warm-up, then cosine decay to `min_lr_ratio` x peak over the step or time budget.

    Progress is whichever budget is further spent, so a time-limited run still ends at a low rate,
    which is where most of the final loss improvement comes from.
    """
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = 0.0
    if config.max_steps:
        progress = max(progress, step / config.max_steps)
    if config.max_minutes:
        progress = max(progress, seconds / (60 * config.max_minutes))
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return config.learning_rate * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


@dataclass
class Progress:
    """Where a run stands; saved in the resume checkpoint so `--resume` continues the same schedule."""

    step: int = 0
    # The training clock, what --max-minutes budgets: the loop's wall-clock less its pauses for periodic
    # evaluations, samples and checkpoint writes (`pause_seconds`), so a run trains as long whatever its
    # --eval-every, and its tokens/second compare with a plain loop's.
    seconds: float = 0.0
    step_seconds: float = 0.0  # time inside optimisation steps only (forward, backward, update)
    pause_seconds: float = 0.0  # the pauses: periodic evaluations, samples and checkpoint writes
    tokens: int = 0
    best_val_loss: float = math.inf
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False


def train(
    model: nn.Module, optimizer: torch.optim.Optimizer, train_ids: torch.Tensor, val_ids: torch.Tensor,
    config: LMConfig, out: Path, checkpoint_extra: dict[str, Any], sample: Callable[[], str],
    progress: Progress | None = None,
) -> Progress:
    """Train until `max_steps` or `max_minutes` (or Ctrl-C); keep the best model in `out/checkpoint.pt`.

    Under `torchrun` (`model` wrapped in DistributedDataParallel) each rank trains on its own share of
    the `batch_size` streams, and only rank 0 evaluates, samples and writes files (common/distributed.py).
    """
    if not (config.max_steps or config.max_minutes):
        raise ValueError("set a budget: --max-steps N and/or --max-minutes M")
    here = distributed.world()
    unwrapped = unwrap(model)  # what evaluation and checkpoints use
    progress = progress or Progress()
    device = next(model.parameters()).device
    precision = resolve_precision(config.precision, device)  # once: "auto" probes the hardware
    streams = batchify(train_ids, config.batch_size)  # (batch, length)
    streams = distributed.my_share(streams).to(device)  # (batch / ranks, length): this rank's streams
    chunks_per_epoch = (streams.shape[1] - 1) // config.seq_len
    if chunks_per_epoch < 1:
        raise ValueError(f"the training text is too short for batch {config.batch_size} "
                         f"x seq_len {config.seq_len}")
    # --batches random: every window of seq_len + 1 tokens of the text, a view (no copy)
    windows = train_ids.to(device).unfold(0, config.seq_len + 1, 1) if config.batches == "random" else None
    samples_path = out / "samples.txt"
    state: State | None = None
    interval_loss, interval_steps = 0.0, 0
    clock_started = time.perf_counter() - progress.seconds  # moved forward by every pause (training clock)
    bar = tqdm(total=config.max_steps or None, initial=progress.step, unit="step", dynamic_ncols=True,
               mininterval=1.0, disable=not here.is_main)
    model.train()
    last_step = distributed.any_rank(_budget_spent(config, progress))  # a resumed run may have no step left
    try:
        while not last_step:
            if windows is not None:  # --batches random
                block = random_windows(windows, streams.shape[0], config.seed, progress.step, here.rank)
                inputs, targets = block[:, :-1], block[:, 1:]  # (batch, seq_len) each
                state = None  # unrelated windows: each is read from scratch
            else:
                chunk = progress.step % chunks_per_epoch
                if chunk == 0:
                    state = None  # a new pass over the text: nothing to carry from the end of the last one
                start = chunk * config.seq_len
                # .long(): a prepared corpus stores its ids as uint16 (common/lm/corpus.py)
                inputs = streams[:, start : start + config.seq_len].long()  # (batch, seq_len)
                targets = streams[:, start + 1 : start + 1 + config.seq_len].long()  # one token later
            lr = learning_rate(config, progress.step, progress.seconds)
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_started = time.perf_counter()
            # A fresh autocast context each step: autocast caches its bfloat16 copies of the weights
            # until the context exits, so one long context would keep using the weights of step one.
            with mixed_precision(precision, device):
                logits, state = model(inputs, state)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # One long gradient spike can ruin an RNN: clip the norm.
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            state = detach_state(state)
            progress.step_seconds += time.perf_counter() - step_started
            progress.step += 1
            progress.tokens += inputs.numel() * here.size
            progress.seconds = time.perf_counter() - clock_started
            # .item() waits for the step to finish: free on a CPU, whose kernels run in order anyway
            step_loss = distributed.mean_over_ranks(loss.item())  # the global batch's loss
            check_finite_loss(step_loss, progress.step, config)
            interval_loss, interval_steps = interval_loss + step_loss, interval_steps + 1
            bar.update(1)
            tokens_per_second = progress.tokens / progress.step_seconds
            bar.set_postfix(loss=f"{step_loss:.3f}", tok_s=f"{tokens_per_second:,.0f}", lr=f"{lr:.1e}",
                            refresh=False)
            last_step = distributed.any_rank(_budget_spent(config, progress))
            pause_started = time.perf_counter()  # evaluations, samples and writes stop the training clock
            # Rank 0 evaluates and saves; the other ranks go on to the next step and wait there for it.
            if here.is_main and (progress.step % config.eval_every == 0 or last_step):
                with mixed_precision(precision, device):
                    val_loss = evaluate_carried(unwrapped, val_ids, streams=config.eval_streams)
                check_finite_loss(val_loss, progress.step, config, "validation")
                progress.history.append({
                    "step": progress.step, "seconds": round(progress.seconds, 2),
                    "train_loss": interval_loss / interval_steps, "val_loss": val_loss,
                })
                interval_loss, interval_steps = 0.0, 0
                bar.write(f"step {progress.step}: train {progress.history[-1]['train_loss']:.4f}, "
                          f"val {val_loss:.4f} nats/token ({progress.seconds:.0f} s)")
                if val_loss < progress.best_val_loss:  # keep only the best model, as word_language_model does
                    progress.best_val_loss = val_loss
                    save_checkpoint(out / "checkpoint.pt", unwrapped, config, **checkpoint_extra,
                                    step=progress.step)
                save_resume(out / RESUME_FILE, unwrapped, optimizer, config, progress, checkpoint_extra)
            if here.is_main and config.sample_every and progress.step % config.sample_every == 0:
                with mixed_precision(precision, device):
                    text = sample()
                bar.write(f"--- sample at step {progress.step} ---\n{text}\n---")
                append_text(samples_path, f"=== step {progress.step} ===\n{text}\n\n")
            if here.active and (progress.step % config.eval_every == 0 or config.sample_every and
                                progress.step % config.sample_every == 0):
                # The other ranks wait here for rank 0's pause, so every rank's clock leaves it out.
                distributed.barrier()
            paused = time.perf_counter() - pause_started
            clock_started += paused
            progress.pause_seconds += paused
    except KeyboardInterrupt:
        # Ctrl-C ends training early; the caller still evaluates the best model and writes results.
        progress.interrupted = True
        bar.write("interrupted: stopping training, evaluating the best checkpoint so far")
    bar.close()
    if here.is_main and not (out / "checkpoint.pt").exists():  # interrupted before the first evaluation
        save_checkpoint(out / "checkpoint.pt", unwrapped, config, **checkpoint_extra, step=progress.step)
    return progress


def random_windows(windows: torch.Tensor, count: int, seed: int, step: int, rank: int = 0) -> torch.Tensor:
    """`count` rows of `windows` (places, seq_len + 1) drawn at random, as long ids. The draw depends on
    the seed, the step and the rank only, so a resumed run reads the batches an unbroken one would."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step * 1_009 + rank)
    places = torch.randint(len(windows), (count,), generator=generator)
    return windows[places.to(windows.device)].long()  # (count, seq_len + 1)


def check_finite_loss(loss: float, step: int, config: LMConfig, which: str = "training") -> None:
    """Stop a run whose loss became NaN or infinite: every later step would only train on garbage, and
    nothing of it is worth keeping (RunDiverged removes the run's staging folder)."""
    if not math.isfinite(loss):
        raise RunDiverged(f"the {which} loss became {loss} at step {step}: training diverged; lower "
                          f"--learning-rate (it was {config.learning_rate:g}) or --grad-clip")


def _budget_spent(config: LMConfig, progress: Progress) -> bool:
    if config.max_steps and progress.step >= config.max_steps:
        return True
    return bool(config.max_minutes) and progress.seconds >= 60 * config.max_minutes


def save_resume(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, config: LMConfig, progress: Progress,
    checkpoint_extra: dict[str, Any],
) -> None:
    """The latest model, optimizer and progress: what `--resume` needs to continue this run."""
    save_checkpoint(path, model, config, optimizer=optimizer.state_dict(), progress=asdict(progress),
                    **checkpoint_extra)


def append_text(path: Path, text: str) -> None:
    """Append by rewriting atomically: a crash never leaves a half-written samples file."""
    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    with atomic_path(path) as tmp:
        tmp.write_text(previous + text, encoding="utf-8")


def make_optimizer(
    model: nn.Module, learning_rate: float, weight_decay: float, beta2: float = 0.999
) -> torch.optim.AdamW:
    """AdamW that decays weight matrices only: decaying biases, gains or embeddings just slows learning.

    Fused where PyTorch has the kernel (CPU, CUDA): one pass over all the weights instead of a Python loop
    of small operations per tensor, the same update up to rounding, several times faster on a CPU
    (TinyLLM/README.md, "The training loop against a plain loop", gives the measured times).
    """
    matrices = [p for name, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in name]
    others = [p for name, p in model.named_parameters() if not (p.dim() >= 2 and "embedding" not in name)]
    groups = [{"params": matrices, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]
    devices = {p.device.type for p in model.parameters()}
    fused = devices <= {"cpu", "cuda"} and all(p.dtype.is_floating_point for p in model.parameters())
    return torch.optim.AdamW(groups, lr=learning_rate, betas=(0.9, beta2), fused=fused or None)


def load_resume(out: Path, config: LMConfig, stage: str, data_sha256: str = "") -> dict[str, Any]:
    """The resume checkpoint in `out`, after checking that every option marked `shaping=True` in the
    config's class is the one the run was started with, and that the data still has the fingerprint
    `data_sha256` the run recorded (when both are known): a resumed run must continue the same run."""
    path = out / RESUME_FILE
    checkpoint = load_checkpoint(path, expected_stage=stage)
    saved = checkpoint["config"]
    for name in shaping_options(type(config)):
        if name in saved and saved[name] != getattr(config, name):
            raise ValueError(f"{flag(name)} is {getattr(config, name)!r} but the run to resume used "
                             f"{saved[name]!r}: resume with {flag(name)} {saved[name]}, or start a fresh "
                             "run without --resume")
    recorded = checkpoint.get("data_sha256")
    if data_sha256 and recorded and recorded != data_sha256:
        raise ValueError(f"--data {config.data} is not the data the run in {path.parent} was trained on "
                         "(its SHA-256 differs: the text changed since): resume with the same data, or "
                         "start a fresh run without --resume")
    return checkpoint


def restore_run(
    checkpoint: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, path: Path
) -> Progress:
    """Load a resume checkpoint into model and optimizer; return the progress to continue from."""
    try:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        progress = Progress(**checkpoint["progress"])
    except (RuntimeError, KeyError, TypeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path} does not fit this model ({reason}): resume with the flags of that run, "
                         "or start a fresh run without --resume") from None
    print(f"resuming at step {progress.step} ({progress.seconds:.0f} s already trained)")
    return progress
