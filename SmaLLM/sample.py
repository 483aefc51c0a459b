"""Generate text from a trained SmaLLM run.

    python SmaLLM/sample.py --out outputs/SmaLLM --prompt "ROMEO:" --length 100 --temperature 0.8 --seed 1

The model and its tokenizer (word or BPE) are rebuilt from the run folder. `--length` counts tokens:
words and punctuation marks for the word tokenizer, BPE pieces for `bpe`. The checkpoint is loaded
with `weights_only=True`; a broken file, or one of another stage, is refused with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from common.config import option, run_cli
from common.lm import harness
from common.lm.tokenizer_protocol import Tokenizer
from common.paths import output_dir
from SmaLLM.model import WordRNN
from SmaLLM.train import STAGE, TrainConfig, build_model


@dataclass
class SampleConfig(harness.SampleConfig):
    out: str = option(str(output_dir("SmaLLM")), "the run folder written by train.py")
    length: int = option(100, "how many tokens to generate after the prompt")


def load_run(out: str | Path, device: torch.device) -> tuple[WordRNN, Tokenizer]:
    """The best model of a SmaLLM run and its tokenizer."""
    return harness.load_run(out, device, STAGE, TrainConfig, build_model)


def main(argv: list[str] | None = None) -> str:
    return harness.sample_main(SampleConfig, argv, __doc__, load_run)


if __name__ == "__main__":
    run_cli(main)
