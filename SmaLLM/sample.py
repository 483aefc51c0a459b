"""Generate text from a trained SmaLLM run.

    python SmaLLM/sample.py --out outputs/SmaLLM --prompt "ROMEO:" --length 100 --temperature 0.8 --top-k 40 --seed 1

The model and its tokenizer (word or BPE) are rebuilt from the run folder. `--length` counts tokens:
words and punctuation marks for the word tokenizer, BPE pieces for `bpe`. The checkpoint is loaded
with `weights_only=True`; a broken file, or one of another stage, is refused with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from common.config import option, parse_config, run_cli
from common.paths import output_dir
from common.runs import read_json
from common.tokenizers import BPETokenizer, WordTokenizer
from common.torch_utils import load_checkpoint, pick_device
from SmaLLM.model import WordRNN
from TinyLLM.sample import generate, rebuild_model, validate_sampling

Tokenizer = WordTokenizer | BPETokenizer


@dataclass
class SampleConfig:
    out: str = option(str(output_dir("SmaLLM")), "the run folder written by train.py")
    prompt: str = option("ROMEO:", "text the model continues")
    length: int = option(100, "how many tokens to generate after the prompt")
    temperature: float = option(0.8, "below 1 sharpens the distribution (safer), above 1 flattens it (wilder)")
    top_k: int = option(40, "sample only among the k likeliest next tokens; 0 keeps them all")
    seed: int = option(1, "the same seed gives the same text")
    device: str = option("auto", "auto, cpu, cuda or mps")

    def validate(self) -> None:
        """Refuse a bad option before loading anything."""
        validate_sampling(self)


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A word or BPE tokenizer, whichever the JSON file holds."""
    kind = read_json(path).get("type")
    if kind == "word":
        return WordTokenizer.load(path)
    if kind == "bpe":
        return BPETokenizer.load(path)
    raise ValueError(f"{path} holds a {kind!r} tokenizer; SmaLLM uses 'word' or 'bpe'")


def token_text(tokenizer: Tokenizer, token_id: int) -> str:
    """How one token reads (a word, or a BPE piece with its leading space)."""
    if isinstance(tokenizer, BPETokenizer):
        return tokenizer.token_text(token_id)
    return tokenizer.itos[token_id]


def never_sample(tokenizer: Tokenizer) -> tuple[int, ...]:
    """Ids not to generate: the word tokenizer's <unk> stands for no particular word."""
    return (0,) if isinstance(tokenizer, WordTokenizer) else ()


def continue_text(tokenizer: Tokenizer, prompt: str, prompt_ids: list[int], new_ids: list[int]) -> str:
    """The prompt as typed plus the generated tokens, spaced as the tokenizer joins them."""
    decoded_prompt = tokenizer.decode(prompt_ids)
    return prompt + tokenizer.decode(prompt_ids + new_ids)[len(decoded_prompt) :]


def load_run(out: str | Path, device: torch.device) -> tuple[WordRNN, Tokenizer]:
    """The best model of a SmaLLM run and its tokenizer."""
    path = Path(out) / "checkpoint.pt"
    checkpoint = load_checkpoint(path, map_location=device, expected_stage="SmaLLM")
    tokenizer = load_tokenizer(Path(out) / "tokenizer.json")
    config = checkpoint["config"]
    model = rebuild_model(path, lambda: WordRNN(
        tokenizer.vocab_size, config["embedding_dim"], config["hidden_size"], config["num_layers"],
        config["cell"], config["dropout"], config["tie_weights"],
    ), checkpoint["model"])
    return model.to(device), tokenizer


def main(argv: list[str] | None = None) -> str:
    config = parse_config(SampleConfig, argv, description=__doc__)
    config.validate()
    device = pick_device(config.device)
    model, tokenizer = load_run(config.out, device)
    generator = torch.Generator().manual_seed(config.seed)
    prompt_ids = tokenizer.encode(config.prompt)
    ids = generate(model, prompt_ids, config.length, config.temperature, config.top_k, generator,
                   exclude=never_sample(tokenizer))
    text = continue_text(tokenizer, config.prompt, prompt_ids, ids)
    print(text)
    return text


if __name__ == "__main__":
    run_cli(main)
