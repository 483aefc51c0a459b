"""Evaluate a trained CodeLLM Transformer again, on its own series or another one, without retraining.

    python CodeLLM/evaluate.py                                  # the run in outputs/CodeLLM, same data
    python CodeLLM/evaluate.py --csv other.csv                  # another series, same model and scalers
    python CodeLLM/evaluate.py --out runs/h5 --ticker MSFT      # another run folder, another ticker

The model, its feature list and its training-split scalers come from `--out`; nothing of the
network is fitted on the new series. Results go to `--out`/evaluate/<series>/ (see
common/forecast/evaluate.py), so the training run's own results are never overwritten.
"""

# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # read by TensorFlow / OpenMP as they load: before importing them

from typing import Any

from CodeLLM.train import STAGE
from common.config import parse_config, run_cli
from common.forecast.evaluate import EvaluateConfig, evaluate
from common.paths import output_dir


def main(argv: list[str] | None = None) -> dict[str, Any]:
    config = parse_config(EvaluateConfig, argv, description=__doc__)
    config.out = config.out or str(output_dir("CodeLLM"))
    return evaluate(STAGE, config)


if __name__ == "__main__":
    run_cli(main)
