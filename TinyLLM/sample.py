"""Generate text from a trained TinyLLM run.

    python TinyLLM/sample.py --out outputs/TinyLLM --prompt "ROMEO:" --length 500 --temperature 0.8 --top-k 40 --seed 1

The model is rebuilt from the checkpoint's own config, so no architecture flags are needed here.
A prompt may hold characters never seen in training: they map to the unknown id and sampling goes on.
The checkpoint is loaded with `weights_only=True` (it can never run code); a broken file, or one of
another stage, is refused with one line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from common.config import option, parse_config, run_cli
from common.paths import output_dir
from common.tokenizers import CharTokenizer
from common.torch_utils import load_checkpoint, pick_device
from TinyLLM.model import CharRNN


@dataclass
class SampleConfig:
    out: str = option(str(output_dir("TinyLLM")), "the run folder written by train.py")
    prompt: str = option("ROMEO:", "text the model continues")
    length: int = option(500, "how many characters to generate after the prompt")
    temperature: float = option(0.8, "below 1 sharpens the distribution (safer), above 1 flattens it (wilder)")
    top_k: int = option(40, "sample only among the k likeliest next tokens; 0 keeps them all")
    seed: int = option(1, "the same seed gives the same text")
    device: str = option("auto", "auto, cpu, cuda or mps")

    def validate(self) -> None:
        """Refuse a bad option before loading anything."""
        validate_sampling(self)


def validate_sampling(config: Any) -> None:
    """The sampling options of TinyLLM and SmaLLM: a length, a positive temperature, a non-negative top-k."""
    if config.length < 0:
        raise ValueError(f"--length must be 0 or more, got {config.length}")
    if not (math.isfinite(config.temperature) and config.temperature > 0):
        raise ValueError(f"--temperature must be a positive number such as 0.8, got {config.temperature}")
    if config.top_k < 0:
        raise ValueError(f"--top-k must be 0 (keep every token) or more, got {config.top_k}")


def rebuild_model(checkpoint_path: Path, build: Callable[[], nn.Module], state: dict[str, Any]) -> nn.Module:
    """`build()` then load `state` into it; a config or weights that do not fit become one clear line."""
    try:
        model = build()
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{checkpoint_path} does not match its run folder ({reason}): the checkpoint and "
                         "tokenizer.json must come from the same run; re-train to recreate them") from None
    return model


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


def load_run(out: str | Path, device: torch.device) -> tuple[CharRNN, CharTokenizer]:
    """The best model of a TinyLLM run and its tokenizer."""
    path = Path(out) / "checkpoint.pt"
    checkpoint = load_checkpoint(path, map_location=device, expected_stage="TinyLLM")
    tokenizer = CharTokenizer.load(Path(out) / "tokenizer.json")
    config = checkpoint["config"]
    model = rebuild_model(path, lambda: CharRNN(
        tokenizer.vocab_size, config["embedding_dim"], config["hidden_size"], config["num_layers"],
        config["cell"], config["dropout"],
    ), checkpoint["model"])
    return model.to(device), tokenizer


def main(argv: list[str] | None = None) -> str:
    config = parse_config(SampleConfig, argv, description=__doc__)
    config.validate()
    device = pick_device(config.device)
    model, tokenizer = load_run(config.out, device)
    generator = torch.Generator().manual_seed(config.seed)
    ids = generate(model, tokenizer.encode(config.prompt), config.length, config.temperature, config.top_k, generator,
                   exclude=(0,))
    text = config.prompt + tokenizer.decode(ids)
    print(text)
    return text


if __name__ == "__main__":
    run_cli(main)
