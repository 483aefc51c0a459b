"""Generate text from a trained TinyLLM run.

    python TinyLLM/sample.py --out outputs/TinyLLM --prompt "ROMEO:" --length 500 --temperature 0.8 --seed 1

The model is rebuilt from the checkpoint's own config, so no architecture flags are needed here.
A prompt may hold characters never seen in training: they map to the unknown id and sampling goes on.
The checkpoint is loaded with `weights_only=True` (it can never run code); a broken file, or one of
another stage, is refused with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from common.config import option, run_cli
from common.lm import harness
from common.lm.tokenizer_protocol import Tokenizer
from common.paths import output_dir
from TinyLLM.model import CharRNN, CharTransformer
from TinyLLM.train import STAGE, TrainConfig, build_model


@dataclass
class SampleConfig(harness.SampleConfig):
    out: str = option(str(output_dir("TinyLLM")), "the run folder written by train.py")
    length: int = option(500, "how many characters to generate after the prompt")


def load_run(out: str | Path, device: torch.device) -> tuple[CharRNN | CharTransformer, Tokenizer]:
    """The best model of a TinyLLM run and its tokenizer."""
    return harness.load_run(out, device, STAGE, TrainConfig, build_model)


def main(argv: list[str] | None = None) -> str:
    return harness.sample_main(SampleConfig, argv, __doc__, load_run)


if __name__ == "__main__":
    run_cli(main)
