"""Which past days drive the LSTM's forecast: gradient saliency over the lags of the window.

    python MemoryLLM/interpret.py --out outputs/MemoryLLM    # writes saliency.png and saliency.json

Input × gradient: for each window, the gradient of the forecast (summed over horizon steps) with
respect to every input value, times that input value, is a first-order estimate of how much that
value moved the forecast away from a forecast made from all-zero (i.e. average, after scaling)
inputs. Its absolute value, summed over the features of a day and averaged over windows, says how
much that day of the window mattered. CodeLLM plots this beside the Transformer's attention per lag.
"""

from __future__ import annotations

from common import runtime

if __name__ == "__main__":  # as a script: TensorFlow's environment, read as it loads (imported, nothing)
    runtime.prepare_environment()

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


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


def main(argv: list[str] | None = None) -> dict:
    """Reload a trained run and write its saliency over lags (test windows) as JSON and a plot.
    (train.py already writes interpretability.png; this redraws it for any run folder.)"""
    import argparse

    from common.forecasting import load_run
    from common.paths import output_dir
    from common.plotting import plot_lag_profiles
    from common.runs import write_json
    from MemoryLLM.train import STAGE

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(output_dir("MemoryLLM")), help="the training run's folder")
    parser.add_argument("--true-lag", type=int, default=None,
                        help="mark a planted lag on the plot (synthetic series)")
    args = parser.parse_args(argv)
    forecaster, data, _, _ = load_run(STAGE, args.out)
    saliency = lag_saliency(forecaster.model, data.splits["test"].inputs)
    out = Path(args.out)
    plot_lag_profiles({"LSTM |input x gradient|": saliency}, out / "saliency.png",
                      title="MemoryLLM: which past days drive the as-trained LSTM's forecast (test windows)",
                      true_lag=args.true_lag)
    result = {"lags": list(range(-data.lookback + 1, 1)), "saliency": saliency.tolist()}
    write_json(out / "saliency.json", result)
    print(f"wrote {out / 'saliency.png'}; last 5 days carry {saliency[-5:].sum():.0%} of the saliency")
    return result


if __name__ == "__main__":
    from common.config import run_cli

    run_cli(main)
