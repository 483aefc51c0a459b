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

Two choices make the model honest on prices that are close to a random walk:
- the output layer starts at zero weights with its bias at the "no change" value, so the untrained
  model IS the naive forecast (tomorrow = today); training has to earn every move away from it;
- `ShrinkTowardNaive` scales the predicted log return by a strength in [0, 1] chosen on the
  validation split after training (1 = the LSTM as trained, 0 = the naive forecast), so a model that
  learned nothing useful falls back to the baseline instead of adding noise.
"""

from __future__ import annotations

import keras
import numpy as np


@keras.saving.register_keras_serializable(package="MemoryLLM")
class ShrinkTowardNaive(keras.layers.Layer):
    """output = naive + strength · (input − naive), in scaled-return space.

    `naive` is the scaled value of a zero log return, (0 − mean) / std per horizon step, so in log
    returns this is simply r ← strength · r. Both are non-trainable weights saved with the model.
    """

    def __init__(self, naive_output: list[float], strength: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.naive_output_init = [float(v) for v in naive_output]
        self.strength_init = float(strength)

    def build(self, input_shape: tuple) -> None:
        self.naive_output = self.add_weight(
            shape=(len(self.naive_output_init),), initializer=keras.initializers.Constant(self.naive_output_init),
            trainable=False, name="naive_output",
        )
        self.strength = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.strength_init), trainable=False, name="strength"
        )

    def call(self, inputs):  # (batch, horizon) -> (batch, horizon)
        return self.naive_output + self.strength * (inputs - self.naive_output)

    def get_config(self) -> dict:
        return {**super().get_config(), "naive_output": self.naive_output_init, "strength": self.strength_init}


def build_model(
    lookback: int,
    n_features: int,
    horizon: int,
    naive_output: np.ndarray,
    units: int = 32,
    layers: int = 1,
    dropout: float = 0.2,
) -> keras.Model:
    """An uncompiled LSTM: (batch, lookback, features) -> (batch, horizon) scaled log returns.

    `naive_output` (horizon,) is the scaled target of "no change", from the training target scaler.
    """
    if units < 1 or layers < 1:
        raise ValueError(f"the LSTM needs at least 1 unit and 1 layer, got units={units}, layers={layers}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout is a probability in [0, 1), got {dropout}")
    naive_output = np.asarray(naive_output, dtype=np.float32).reshape(horizon)
    window = keras.Input(shape=(lookback, n_features), name="window")  # (batch, lookback, features)
    hidden = window
    for layer in range(layers):
        # Every layer but the last passes its whole sequence (batch, lookback, units) up the stack;
        # the last keeps only its final hidden state (batch, units): its summary of the window.
        hidden = keras.layers.LSTM(
            units, return_sequences=layer < layers - 1, dropout=dropout, name=f"lstm_{layer + 1}"
        )(hidden)
    hidden = keras.layers.Dropout(dropout, name="dropout")(hidden)
    scaled_return = keras.layers.Dense(
        horizon, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(naive_output),
        name="scaled_return",
    )(hidden)  # (batch, horizon); starts as exactly the naive forecast
    forecast = ShrinkTowardNaive(naive_output.tolist(), name="shrink_toward_naive")(scaled_return)
    return keras.Model(window, forecast, name="memory_lstm")


def set_strength(model: keras.Model, strength: float) -> None:
    """Set the shrinkage toward the naive forecast (1 = the LSTM as trained, 0 = naive)."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"the shrinkage strength must be in [0, 1], got {strength}")
    model.get_layer("shrink_toward_naive").strength.assign(strength)


def get_strength(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.get_layer("shrink_toward_naive").strength))
