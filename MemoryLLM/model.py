"""The MemoryLLM model: a small stacked LSTM that reads a window of daily features and outputs the
(scaled) log return to each of the next `horizon` closes.

What an LSTM remembers: at every day of the window it updates a cell state c (its long-term memory)
and a hidden state h (what it shows the next layer). Three gates, each a sigmoid of the day's input
and the previous h, decide what happens to the memory:
    forget gate  f = σ(W_f [h, x] + b_f)   how much of the old cell state to keep,
    input gate   i = σ(W_i [h, x] + b_i)   how much of the new candidate g = tanh(W_g [h, x] + b_g) to add,
    output gate  o = σ(W_o [h, x] + b_o)   how much of the memory to reveal:
    c ← f·c + i·g,   h ← o·tanh(c).
Because c is updated by addition rather than repeated multiplication, gradients survive across the
60-day window far better than in a plain RNN.

Three additions let it find a return that matters `k` days back (measured in benchmarks/lag_recipes.md
on series with a planted lag-k signal, k = 1 ... 50, lookback 60):
- a *day clock* (`DayOfWindow`): each day's features get a one-hot "which day of the window is this"
  appended, so every gate has a learned bias per day. An LSTM cannot count; with the clock a gate can
  open on exactly the day k days before the forecast and latch that day's return. Without it the
  LSTM never found k = 20 or 50, even with four times the data;
- *chrono initialisation* of the gate biases (Tallec & Ollivier, 2018): forget-gate biases
  log U(1, lookback - 1), input-gate biases their negative, so at the start some cells already keep
  their memory for most of the window instead of forgetting it within a few days (f = σ(1) = 0.73
  is the usual start: 0.73^20 ≈ 0.002 of a 20-day-old value survives);
- dropout on the input features (0.3, whole channels per sample, never on the clock): the ten
  indicator features are smooth summaries of past returns through which the network otherwise
  memorises the training noise, long before it finds the lag.

The output layer starts with small random weights (std 0.01) and its bias at the "no change" value,
so the untrained model is close to the naive forecast (tomorrow = today). Whether the trained model
beats naive is not the model's business: the forecasting harness (common/forecast/harness.py) reports it
as trained and, separately, guarded by a significance test against naive.
"""

from __future__ import annotations

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="MemoryLLM")
class DayOfWindow(keras.layers.Layer):
    """(batch, lookback, features) -> (batch, lookback, features + lookback): each day gets a one-hot
    of its place in the window appended. Through the LSTM's input weights this is a learned bias per
    day for every gate: the "clock" an LSTM needs to single out the day k days before the forecast."""

    def call(self, inputs):
        batch, lookback = keras.ops.shape(inputs)[0], inputs.shape[1]
        clock = keras.ops.eye(lookback, dtype=inputs.dtype)  # (lookback, lookback): row d is day d
        clock = keras.ops.broadcast_to(clock[None], (batch, lookback, lookback))
        return keras.ops.concatenate([inputs, clock], axis=-1)


@keras.saving.register_keras_serializable(package="MemoryLLM")
class ChronoBias(keras.initializers.Initializer):
    """LSTM gate biases [input, forget, cell, output] with forget = log U(1, max_days - 1) and
    input = -forget (Tallec & Ollivier, 2018): cell j starts out remembering for about exp(forget_j)
    days, spread over 1 ... max_days - 1, instead of every cell forgetting within a few days."""

    def __init__(self, max_days: int, seed: int | None = None) -> None:
        self.max_days = int(max_days)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        units = shape[0] // 4
        forget = np.log(np.random.default_rng(self.seed).uniform(1.0, max(2.0, self.max_days - 1.0), units))
        bias = np.concatenate([-forget, forget, np.zeros(2 * units)])
        return keras.ops.convert_to_tensor(bias, dtype=dtype or "float32")

    def get_config(self) -> dict:
        return {"max_days": self.max_days, "seed": self.seed}


def build_model(
    lookback: int,
    n_features: int,
    horizon: int,
    naive_output: np.ndarray,
    units: int = 64,
    layers: int = 1,
    dropout: float = 0.3,
    day_clock: bool = True,
    chrono_init: bool = True,
    head_init_std: float = 0.01,
) -> keras.Model:
    """An uncompiled LSTM: (batch, lookback, features) -> (batch, horizon) scaled log returns.

    `naive_output` (horizon,) is the scaled target of "no change", from the training target scaler.
    `day_clock`, `chrono_init` and `head_init_std = 0` (an exactly naive start) are there to show
    what each choice is worth; the defaults are the recipe of benchmarks/lag_recipes.md.
    """
    if units < 1 or layers < 1:
        raise ValueError(f"the LSTM needs at least 1 unit and 1 layer, got units={units}, layers={layers}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout is a probability in [0, 1), got {dropout}")
    naive_output = np.asarray(naive_output, dtype=np.float32).reshape(horizon)
    window = keras.Input(shape=(lookback, n_features), name="window")  # (batch, lookback, features)
    # Input dropout drops whole feature channels per sample (one mask for all days, like the LSTM's own
    # `dropout`), so the network cannot lean on any one indicator; the clock is appended after it and
    # is never dropped: without its day a latched memory would be lost.
    hidden = keras.layers.Dropout(dropout, noise_shape=(None, 1, n_features), name="feature_dropout")(window)
    if day_clock:
        hidden = DayOfWindow(name="day_of_window")(hidden)  # (batch, lookback, features + lookback)
    for layer in range(layers):
        # Every layer but the last passes its whole sequence (batch, lookback, units) up the stack;
        # the last keeps only its final hidden state (batch, units): its summary of the window.
        hidden = keras.layers.LSTM(
            units, return_sequences=layer < layers - 1, dropout=dropout if layer > 0 else 0.0,
            name=f"lstm_{layer + 1}", unit_forget_bias=not chrono_init,
            bias_initializer=ChronoBias(lookback, seed=layer) if chrono_init else "zeros",
        )(hidden)
    hidden = keras.layers.Dropout(dropout, name="dropout")(hidden)
    head_init = keras.initializers.RandomNormal(stddev=head_init_std) if head_init_std > 0 else "zeros"
    scaled_return = keras.layers.Dense(
        horizon, kernel_initializer=head_init, bias_initializer=keras.initializers.Constant(naive_output),
        name="scaled_return",
    )(hidden)  # (batch, horizon); starts close to the naive forecast (exactly it with head_init_std = 0)
    return keras.Model(window, scaled_return, name="memory_lstm")
