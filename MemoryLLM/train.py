"""Stage 3, MemoryLLM: train a Keras LSTM to forecast the close from 60 days of technical
indicators, and score it on the test split beside naive, drift, AR, moving-average and ridge.

    python MemoryLLM/train.py                          # GOOG (embedded, offline)
    python MemoryLLM/train.py --horizon 5               # every step 1..5 days ahead, at once
    python MemoryLLM/train.py --csv prices.csv --out outputs/MemoryLLM/mine
    python MemoryLLM/train.py --preset tiny            # tiny settings: checks the plumbing in seconds
    python MemoryLLM/train.py --target volatility      # next week's realised volatility, beside HAR-RV
    python MemoryLLM/train.py --target direction       # P(next close > today's), beside a logistic regression
    python MemoryLLM/evaluate.py --out outputs/MemoryLLM --csv other.csv   # reuse the trained model

Everything but the network is the shared forecasting harness (`common/forecast/harness.py`): windows and
targets, the epoch budget and learning-rate schedule, the best epoch on the validation split's first
half, the guard (a Diebold-Mariano test against naive on its second half), the baselines, metrics.json
and the plots. This file only says how to build, train and save a Keras LSTM.
"""

# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    # TensorFlow reads these as it loads: its C++ INFO lines stay quiet, and its oneDNN kernels (whose
    # summation order may vary between runs) stay off, so a seed gives the same numbers.
    runtime.prepare_environment()

from dataclasses import dataclass
from typing import Any, ClassVar

from common.config import finite, option, parse_config, require, require_at_least, run_cli
from common.forecast import harness
from common.forecast.harness import ForecastConfig, Stage
from common.paths import output_dir
from MemoryLLM.forecaster import STRATEGIES, KerasLSTMForecaster, check_memory


@dataclass
class MemoryConfig(ForecastConfig):
    # tiny: settings that still exercise every file a run writes (same windows as the real run)
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": dict(epochs=2, units=8, layers=1, patience=1, warmup_epochs=0),
    }
    units: int = option(64, "LSTM hidden size: room to carry a return across the 60-day window")
    layers: int = option(1, "stacked LSTM layers; one is enough to remember a lagged return")
    dropout: float = option(0.3, "dropout of whole indicator channels per window (never the day clock): "
                            "without it the LSTM memorises training noise through the indicators before "
                            "it finds a lag")
    day_clock: bool = option(True, "append a one-hot 'day of the window' to each day: an LSTM cannot "
                             "count, and without a clock it never found a lag of 20 or 50 days "
                             "(benchmarks/lag_recipes.md)")
    chrono_init: bool = option(True, "chrono initialisation of the gate biases: some cells start out "
                               "remembering for most of the window instead of a few days")
    epochs: int = option(30, "epoch budget: the cosine schedule ends at the last one")
    batch_size: int = option(32, "windows per step: ~55 steps per epoch on 1,700 windows "
                             "(32 beat 64 on validation)")
    learning_rate: float = option(6e-3, "peak AdamW step after the warm-up: 6e-3 beat 3e-3 on the guard "
                                  "half of lag-20 series; on the select half the two tie (0.84 vs 0.87 "
                                  "of the oracle's skill, benchmarks/lag_recipes.md)")
    warmup_epochs: int = option(3, "epochs of linear warm-up (10 % of the budget)")
    patience: int = option(10, "epochs without a better 'select' loss before stopping (0 = never)")
    strategy: str = option("default", "default: one device; mirrored: a replica on every GPU of this machine "
                           "(every CPU device without GPUs), the global --batch-size split among them; "
                           "multiworker: several machines, each told its part in TF_CONFIG",
                           choices=STRATEGIES)
    out: str = option(str(output_dir("MemoryLLM")), "folder for metrics, predictions, plots and weights")

    def validate(self) -> None:
        super().validate()
        require_at_least(self, 1, "units", "layers")
        require(self, 0 <= finite(self.dropout) < 1, "dropout", "a probability in [0, 1)")


STAGE = Stage(name="MemoryLLM", model="lstm", label="LSTM", config_cls=MemoryConfig, make=KerasLSTMForecaster,
              check_memory=check_memory)


def run(config: MemoryConfig, verbose: bool = True) -> dict[str, Any]:
    """Train and score the LSTM as `config` says (compare.py calls this, not the command line)."""
    with runtime.tensorflow_settings():
        return harness.run(STAGE, config, verbose)


def main(argv: list[str] | None = None) -> dict:
    return run(parse_config(MemoryConfig, argv, description=__doc__))


if __name__ == "__main__":
    run_cli(main)
