"""Reload a trained MemoryLLM run (weights, scalers, config) and score it on any price series,
without retraining and without refitting the network on the new series.

    python MemoryLLM/evaluate.py                                   # the default run, on GOOG again
    python MemoryLLM/evaluate.py --out outputs/MemoryLLM --csv other.csv
    python MemoryLLM/evaluate.py --out outputs/MemoryLLM --ticker MSFT --source yfinance

Results go to OUT/evaluate/<series>/ (see common/forecast/evaluate.py), never over the training
run's own files: metrics.json with the as-trained and guarded LSTM beside the baselines, and plots.
"""

# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # read by TensorFlow / OpenMP as they load: before importing them

from common.config import parse_config, run_cli
from common.forecast.evaluate import EvaluateConfig, evaluate
from common.paths import output_dir
from MemoryLLM.train import STAGE


def main(argv: list[str] | None = None) -> dict:
    config = parse_config(EvaluateConfig, argv, description=__doc__)
    config.out = config.out or str(output_dir("MemoryLLM"))
    return evaluate(STAGE, config)


if __name__ == "__main__":
    run_cli(main)
