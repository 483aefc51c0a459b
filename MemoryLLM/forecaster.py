"""MemoryLLM's side of the forecasting harness (`common/forecast/harness.py`): how to build, train one
epoch, predict, copy, save and explain the Keras LSTM. The loop around it — the epoch budget, the
schedule, the best epoch, the guard, the scoring — is the harness's, shared with CodeLLM's Transformer.

Explaining it: input × gradient (`lag_saliency`). For each window, the gradient of the forecast (summed
over horizon steps) with respect to every input value, times that input value, is a first-order estimate
of how much that value moved the forecast away from a forecast made from all-zero (i.e. average, after
scaling) inputs. Its absolute value, summed over the features of a day and averaged over windows, says
how much that day of the window mattered. CodeLLM plots this beside the Transformer's attention per lag.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from common.forecast.windows import ForecastData, Windows
from common.memory import require_memory
from common.runs import new_temporary_file
from MemoryLLM.model import build_model

WEIGHTS_FILE = "model.weights.h5"  # the as-trained network (best epoch): what evaluate.py loads
STRATEGIES = ("default", "mirrored", "multiworker")


def lag_saliency(model: keras.Model, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(lookback,) share of |input × gradient| per lag day; index 0 = oldest, -1 = last known day.

    The gradient is taken through the LSTM's own output layer ("scaled_return"): the as-trained
    network, whatever the guard decided. A model whose forecast ignores its inputs (the untrained,
    naive-forecast model) has no gradient at all: then every lag gets the same share, 1 / lookback.
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim != 3 or len(inputs) == 0:
        raise ValueError(
            f"inputs must be a non-empty (windows, lookback, features) array, got shape {inputs.shape}"
        )
    network = keras.Model(model.inputs, model.get_layer("scaled_return").output)
    totals = np.zeros(inputs.shape[1], dtype=np.float64)
    for start in range(0, len(inputs), batch_size):
        batch = tf.convert_to_tensor(inputs[start:start + batch_size])  # (batch, lookback, features)
        with tf.GradientTape() as tape:
            tape.watch(batch)
            forecast = tf.reduce_sum(network(batch, training=False))  # sum over windows and steps
        gradient = tape.gradient(forecast, batch)  # (batch, lookback, features); windows are independent
        totals += np.abs(gradient.numpy() * batch.numpy()).sum(axis=(0, 2))
    total = totals.sum()
    if not np.isfinite(total) or total <= 0:
        return np.full(inputs.shape[1], 1.0 / inputs.shape[1])
    return totals / total


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


def check_memory(config: Any, data: ForecastData) -> None:
    """Refuse an LSTM whose training cannot fit in memory, counted from the config before Keras builds
    anything. Each layer holds 4 gates, each with a kernel (inputs x units), a recurrent kernel (units x
    units) and a bias; a training step keeps every gate and the two states of every day for backward."""
    inputs = data.n_features + (config.lookback if config.day_clock else 0)  # the day clock adds one-hots
    parameters, activations = config.units * data.horizon + data.horizon, 0  # the head
    for layer in range(config.layers):
        layer_inputs = inputs if layer == 0 else config.units
        parameters += 4 * config.units * (layer_inputs + config.units + 1)
        activations += 4 * config.batch_size * config.lookback * (layer_inputs + 6 * config.units)  # float32
    require_memory("the LSTM", parameters, activations, "lower --units, --layers, --batch-size or --lookback")


class KerasLSTMForecaster:
    """The harness's `Forecaster` for a Keras model: compile once, then one `fit` call per epoch at
    the rate the harness's schedule asks for."""

    label = "LSTM"
    weights_file = WEIGHTS_FILE

    def __init__(self, config: Any, data: ForecastData) -> None:
        tf.config.experimental.enable_op_determinism()  # same seed, same numbers (costs a little speed)
        self.batch_size = config.batch_size
        self.strategy = distribution_strategy(config.strategy)
        # Variables made inside a strategy's scope are mirrored on every replica.
        with self.strategy.scope() if self.strategy else contextlib.nullcontext():
            self.build(config, data)

    def build(self, config: Any, data: ForecastData) -> None:
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
        """Weights only, via a uniquely named temporary file (Keras wants the .weights.h5 suffix).

        HDF5 fails badly on a full disk (a RuntimeError with a paragraph of C state, or a crash), so
        the free space is checked first and a failed write becomes one line naming the file."""
        # the weights, Adam's two moments of each, and HDF5's own bookkeeping
        needed = 3 * sum(weight.nbytes for weight in self.model.get_weights()) + 2**20
        free = shutil.disk_usage(path.parent).free
        if free < needed:
            raise ValueError(f"not enough free space for {path}: about {needed / 2**20:.1f} MiB are needed "
                             f"and {free / 2**20:.1f} MiB are free; free some space or choose another --out")
        partial = new_temporary_file(path, suffix=".weights.h5")
        try:
            self.model.save_weights(partial, overwrite=True)
            os.replace(partial, path)
        except (OSError, RuntimeError) as error:  # h5py reports a failed write as either
            reason = str(error).splitlines()[0][:160]
            raise ValueError(f"could not write {path} ({reason}): check the free space and the permissions "
                             "of the folder, or choose another --out") from None
        finally:
            partial.unlink(missing_ok=True)

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
