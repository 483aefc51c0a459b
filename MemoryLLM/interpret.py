"""Which past days drive the LSTM's forecast: gradient saliency over the lags of the window.

    python MemoryLLM/interpret.py --out outputs/MemoryLLM    # writes saliency.png and saliency.json

Input × gradient: for each window, the gradient of the forecast (summed over horizon steps) with
respect to every input value, times that input value, is a first-order estimate of how much that
value moved the forecast away from a forecast made from all-zero (i.e. average, after scaling)
inputs. Its absolute value, summed over the features of a day and averaged over windows, says how
much that day of the window mattered. CodeLLM plots this beside the Transformer's attention per lag.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads (see train.py)
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def lag_saliency(model: keras.Model, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(lookback,) share of |input × gradient| per lag day; index 0 = oldest, -1 = last known day.

    The gradient is taken through the LSTM's own output ("scaled_return"), before the shrinkage
    toward naive, so it shows what the network learned even when validation shrank it away. A model
    whose forecast ignores its inputs (the untrained, naive-forecast model) has no gradient at all:
    then every lag gets the same share, 1 / lookback.
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim != 3 or len(inputs) == 0:
        raise ValueError(f"inputs must be a non-empty (windows, lookback, features) array, got shape {inputs.shape}")
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


def main(argv: list[str] | None = None) -> dict:
    """Reload a trained run and write its saliency over lags (test windows) as JSON and a plot."""
    import argparse

    from common.plotting import save_figure
    from common.runs import write_json
    from MemoryLLM.evaluate import load_run

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="the training run's folder (default: outputs/MemoryLLM)")
    args = parser.parse_args(argv)
    model, data, _, out, _ = load_run(args.out)
    saliency = lag_saliency(model, data.splits["test"].inputs)
    lags = np.arange(-data.lookback + 1, 1)  # 0 = the last known day

    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(9, 4))
    axis.bar(lags, saliency, color="tab:blue")
    axis.set_xlabel("day in the window (0 = last known close)")
    axis.set_ylabel("share of |input × gradient|")
    axis.set_title("MemoryLLM: which past days drive the LSTM's forecast (test windows)")
    axis.grid(alpha=0.3)
    save_figure(fig, out / "saliency.png")
    result = {"lags": lags.tolist(), "saliency": saliency.tolist()}
    write_json(out / "saliency.json", result)
    print(f"wrote {out / 'saliency.png'}; last 5 days carry {saliency[-5:].sum():.0%} of the saliency")
    return result


if __name__ == "__main__":
    from common.config import run_cli

    run_cli(main)
