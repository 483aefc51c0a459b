"""Stage 3, MemoryLLM: train a Keras LSTM to forecast the close from 60 days of technical
indicators, and score it on the test split beside naive, drift, AR, moving-average and ridge.

    python MemoryLLM/train.py                          # GOOG (embedded, offline)
    python MemoryLLM/train.py --horizon 5               # every step 1..5 days ahead, at once
    python MemoryLLM/train.py --csv prices.csv --out outputs/MemoryLLM/mine
    python MemoryLLM/train.py --preset tiny            # tiny settings: checks the plumbing in seconds
    python MemoryLLM/train.py --target volatility      # next week's realised volatility, beside HAR-RV
    python MemoryLLM/train.py --target direction       # P(next close > today's), beside a logistic regression
    python MemoryLLM/evaluate.py --out outputs/MemoryLLM --csv other.csv   # reuse the trained model

Everything but the network is the shared forecasting harness (`common/forecasting.py`): windows and
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

import contextlib
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from common import forecasting
from common.config import option, parse_config, run_cli
from common.forecasting import ForecastConfig, Stage
from common.paths import output_dir
from common.timeseries import ForecastData, Windows
from MemoryLLM.interpret import lag_saliency
from MemoryLLM.model import build_model

WEIGHTS_FILE = "model.weights.h5"  # the as-trained network (best epoch): what evaluate.py loads
STRATEGIES = ("default", "mirrored", "multiworker")


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
    learning_rate: float = option(6e-3, "peak AdamW step after the warm-up: 6e-3 beat 3e-3 on the "
                                  "validation splits of lag-k series (skill 0.78 vs 0.64 at k = 20)")
    warmup_epochs: int = option(3, "epochs of linear warm-up (10 % of the budget)")
    patience: int = option(10, "epochs without a better 'select' loss before stopping (0 = never)")
    strategy: str = option("default", "default: one device; mirrored: a replica on every GPU of this machine "
                           "(every CPU device without GPUs), the global --batch-size split among them; "
                           "multiworker: several machines, each told its part in TF_CONFIG",
                           choices=STRATEGIES)
    out: str = option(str(output_dir("MemoryLLM")), "folder for metrics, predictions, plots and weights")

    def validate(self) -> None:
        super().validate()
        if self.units < 1 or self.layers < 1:
            raise ValueError(f"--units and --layers must be at least 1, got {self.units} and {self.layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout is a probability in [0, 1), got {self.dropout}")


def distribution_strategy(name: str) -> tf.distribute.Strategy | None:
    """TensorFlow's own engine for data parallelism (None: the default, one device). Each replica holds
    the model, computes the gradients of its slice of the global batch, and the replicas add them up
    before every step (all-reduce), so the weights stay identical."""
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    if name == "multiworker":  # reads TF_CONFIG: the cluster's workers and which one this is
        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


class KerasLSTMForecaster:
    """The harness's `Forecaster` for a Keras model: compile once, then one `fit` call per epoch at
    the rate the harness's schedule asks for."""

    label = "LSTM"
    weights_file = WEIGHTS_FILE

    def __init__(self, config: MemoryConfig, data: ForecastData) -> None:
        tf.config.experimental.enable_op_determinism()  # same seed, same numbers (costs a little speed)
        self.batch_size = config.batch_size
        self.strategy = distribution_strategy(config.strategy)
        # Variables made inside a strategy's scope are mirrored on every replica.
        with self.strategy.scope() if self.strategy else contextlib.nullcontext():
            self.build(config, data)

    def build(self, config: MemoryConfig, data: ForecastData) -> None:
        self.model = build_model(
            data.lookback, data.n_features, data.horizon, data.neutral_output(),
            units=config.units, layers=config.layers, dropout=config.dropout, day_clock=config.day_clock,
            chrono_init=config.chrono_init,
        )
        self.model.compile(
            optimizer=keras.optimizers.AdamW(learning_rate=config.learning_rate,
                                             weight_decay=config.weight_decay,
                                             clipnorm=1.0),  # crash days are huge outliers: cap the step
            # on scaled log returns (or volatility): the squared error the naive forecast is judged by;
            # for direction the output is a logit and the loss binary cross-entropy
            loss=(keras.losses.BinaryCrossentropy(from_logits=True) if data.target == "direction"
                  else "mse"),
        )

    def train_epoch(self, train: Windows, learning_rate: float, epoch: int) -> float:
        self.model.optimizer.learning_rate.assign(learning_rate)
        history = self.model.fit(train.inputs, train.targets, epochs=1, batch_size=self.batch_size,
                                 shuffle=True, verbose=0)
        return float(history.history["loss"][-1])

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(windows, lookback, features) -> (windows, horizon) scaled log returns."""
        outputs = [self.model(inputs[start:start + 1024], training=False)
                   for start in range(0, len(inputs), 1024)]
        return np.concatenate([keras.ops.convert_to_numpy(o) for o in outputs]).astype(np.float64)

    def get_state(self) -> list[np.ndarray]:
        return self.model.get_weights()

    def set_state(self, state: list[np.ndarray]) -> None:
        self.model.set_weights(state)

    def save(self, path: Path) -> None:
        """Weights only, via a uniquely named temporary file (Keras wants the .weights.h5 suffix)."""
        fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".weights.h5", dir=path.parent)
        os.close(fd)
        try:
            self.model.save_weights(partial, overwrite=True)
            os.replace(partial, path)
        finally:
            Path(partial).unlink(missing_ok=True)

    def load(self, path: Path) -> None:
        try:
            # the file also holds the optimizer's state; only weights matter here
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                self.model.load_weights(path)
        except Exception as error:  # h5py / Keras raise several types for truncated or foreign files
            raise ValueError(f"{path} is not a MemoryLLM weights file for this model "
                             f"({type(error).__name__}: {str(error).splitlines()[0][:120]}); "
                             "train again to recreate it") from None

    def params(self) -> int:
        return int(sum(np.prod(weight.shape) for weight in self.model.trainable_weights))

    def lag_profiles(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        return {"LSTM |input x gradient|": lag_saliency(self.model, inputs)}

    def describe(self) -> dict[str, Any]:
        replicas = self.strategy.num_replicas_in_sync if self.strategy else 1
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return {"framework": f"tensorflow {tf.__version__} / keras {keras.__version__}",
                "device": devices[0].device_type.lower() if devices else "cpu",
                "parallel": {"strategy": type(self.strategy).__name__ if self.strategy else "default",
                             "replicas": replicas, "global_batch_size": self.batch_size,
                             "batch_size_per_replica": -(-self.batch_size // replicas)}}


STAGE = Stage(name="MemoryLLM", model="lstm", label="LSTM", config_cls=MemoryConfig, make=KerasLSTMForecaster)


def run(config: MemoryConfig, verbose: bool = True) -> dict[str, Any]:
    """Train and score the LSTM as `config` says (compare.py calls this, not the command line)."""
    with runtime.tensorflow_settings():
        return forecasting.run(STAGE, config, verbose)


def main(argv: list[str] | None = None) -> dict:
    return run(parse_config(MemoryConfig, argv, description=__doc__))


if __name__ == "__main__":
    run_cli(main)
