"""Generate text from a trained TinyLLM run.

    python TinyLLM/sample.py --out outputs/TinyLLM --prompt "ROMEO:" --length 500 --temperature 0.8 --top-k 40 --seed 1

The model is rebuilt from the checkpoint's own config, so no architecture flags are needed here.
A prompt may hold characters never seen in training: they map to the unknown id and sampling goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    out = Path(out)
    checkpoint = load_checkpoint(out / "checkpoint.pt", map_location=device)
    tokenizer = CharTokenizer.load(out / "tokenizer.json")
    config = checkpoint["config"]
    model = CharRNN(
        tokenizer.vocab_size, config["embedding_dim"], config["hidden_size"], config["num_layers"],
        config["cell"], config["dropout"],
    ).to(device)
    model.load_state_dict(checkpoint["model"])
    return model, tokenizer


def main(argv: list[str] | None = None) -> str:
    config = parse_config(SampleConfig, argv, description=__doc__)
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
