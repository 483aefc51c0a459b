"""Stage 3, MemoryLLM: train a Keras LSTM to forecast the close from 60 days of technical
indicators, and score it on the test split beside the naive, moving-average and linear forecasts.

    python MemoryLLM/train.py                          # GOOG (embedded, offline): about 20 s on 2 cores
    python MemoryLLM/train.py --horizon 5               # every step 1..5 days ahead, at once
    python MemoryLLM/train.py --csv prices.csv --out outputs/MemoryLLM/mine
    python MemoryLLM/train.py --dry-run                # tiny settings: checks the plumbing in seconds
    python MemoryLLM/evaluate.py --out outputs/MemoryLLM --csv other.csv   # reuse the trained model
    tensorboard --logdir outputs/MemoryLLM/tensorboard

The recipe: windows and targets come from `common` (stationary features, log-return targets,
chronological splits, train-only scalers); the model starts as the naive forecast; early stopping,
the learning-rate schedule, the best checkpoint and the final shrinkage toward the naive forecast are
all chosen on the validation split. The test split is read once, at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

# Set before TensorFlow loads (importing keras loads it): level 3 hides TensorFlow's C++ INFO lines and
# a harmless tf.data version notice; oneDNN stays off because its summation order may vary between runs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from common.baselines import baseline_forecasts, naive_forecast  # noqa: E402
from common.config import option, parse_config, run_cli  # noqa: E402
from common.forecast_report import comparison_table, write_forecast_run  # noqa: E402
from common.forecast_setup import ForecastDataConfig, load_forecast_data  # noqa: E402
from common.metrics import rmse  # noqa: E402
from common.paths import output_dir  # noqa: E402
from common.runs import prepare_run_dir, write_json  # noqa: E402
from common.seed import set_seed  # noqa: E402
from common.timeseries import ForecastData  # noqa: E402
from MemoryLLM.callbacks import AtomicCSVLogger, AtomicModelCheckpoint, save_weights_atomically  # noqa: E402
from MemoryLLM.model import build_model, get_strength, set_strength  # noqa: E402

# Each new model traces its own predict function; walk-forward folds build several in a row, which
# trips TensorFlow's "excessive retracing" warning although nothing is wrong.
tf.get_logger().setLevel("ERROR")

WEIGHTS_FILE = "model.weights.h5"  # the final model (best epoch + chosen shrinkage): what evaluate.py loads
CHECKPOINT_FILE = "checkpoint.weights.h5"  # the best epoch on validation, as training left it
SCALERS_FILE = "scalers.json"
STRENGTHS = np.round(np.linspace(0.0, 1.0, 11), 2)  # shrinkage toward naive tried on validation


@dataclass
class MemoryConfig(ForecastDataConfig):
    units: int = option(32, "LSTM hidden size: plenty for 11 features; bigger only memorises noise")
    layers: int = option(1, "stacked LSTM layers; a second one did not help on validation")
    dropout: float = option(0.2, "dropout on each LSTM's inputs and on its summary: daily returns are mostly noise")
    epochs: int = option(40, "upper bound; early stopping on validation usually ends sooner")
    batch_size: int = option(64, "windows per step: ~22 steps per epoch on GOOG, stable gradients")
    learning_rate: float = option(1e-3, "AdamW's usual default; ReduceLROnPlateau halves it when validation stalls")
    weight_decay: float = option(1e-4, "AdamW weight decay: a gentle pull toward small weights")
    patience: int = option(10, "epochs without a validation improvement before early stopping: the zero-initialised "
                           "output needs a few epochs before the LSTM below it receives any gradient")
    lr_patience: int = option(4, "epochs without a validation improvement before the learning rate is halved")
    shrink: bool = option(True, "scale the forecast return toward 0 (naive) by a strength chosen on validation")
    min_gain_t: float = option(1.645, "keep the LSTM only if its validation gain over naive has a t-statistic above "
                               "this (one-sided 5 %%): a lucky epoch on an unforecastable series is not trusted")
    out: str = option(str(output_dir("MemoryLLM")), "folder for metrics, predictions, plots, weights and logs")

    def validate(self) -> None:
        """Raise a ValueError naming the option that cannot work."""
        for name in ("units", "layers", "epochs", "batch_size", "patience", "lr_patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout is a probability in [0, 1), got {self.dropout}")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ValueError("--learning-rate must be positive and --weight-decay non-negative")


def dry_run_config(config: MemoryConfig) -> MemoryConfig:
    """Tiny settings that still exercise every file a run writes (same windows as the real run)."""
    return replace(config, epochs=min(config.epochs, 2), units=8, layers=1, patience=1)


@dataclass
class FitResult:
    model: keras.Model  # best epoch reloaded, shrinkage set: ready for `forecast`
    history: dict[str, list[float]]  # "loss", "val_loss", "learning_rate": one value per epoch run
    epochs_run: int
    best_epoch: int  # 0 = no epoch beat the untrained (naive) model on validation
    train_seconds: float
    initial_val_loss: float  # validation loss of the untrained model, i.e. of the naive forecast
    strength: float  # shrinkage toward naive chosen on validation (1 = LSTM as trained)
    gain_t: float | None  # t-statistic of the validation gain over naive (None without --shrink)


def scaled_naive_output(data: ForecastData) -> np.ndarray:
    """(horizon,) the scaled target of a zero log return: what the model outputs for 'no change'."""
    return (0.0 - data.target_scaler.mean) / data.target_scaler.std


def make_model(config: MemoryConfig, data: ForecastData) -> keras.Model:
    return build_model(
        data.lookback, data.n_features, data.horizon, scaled_naive_output(data),
        units=config.units, layers=config.layers, dropout=config.dropout,
    )


def forecast(model: keras.Model, data: ForecastData, split: str = "test") -> np.ndarray:
    """(windows, horizon) price forecasts for `split`."""
    if get_strength(model) == 0.0:
        # Fully shrunk: exactly the naive forecast. (The network's float32 "no change" output
        # differs from a zero return by ~1e-9, which would otherwise invent tiny up/down calls.)
        return naive_forecast(data, split)
    scaled = model.predict(data.splits[split].inputs, batch_size=512, verbose=0)  # (windows, horizon)
    return data.to_prices(split, scaled)


def gain_t_statistic(actual: np.ndarray, naive: np.ndarray, predicted: np.ndarray) -> float:
    """t-statistic of the mean per-window gain in squared error over the naive forecast (a
    Diebold-Mariano test, without its correction for autocorrelated gains). Above 1.645, chance
    alone would produce so large a gain less than 5 % of the time."""
    gain = ((actual - naive) ** 2 - (actual - predicted) ** 2).mean(axis=1)  # (windows,)
    spread = gain.std(ddof=1)
    return 0.0 if not spread > 0 else float(gain.mean() / (spread / np.sqrt(len(gain))))


def choose_strength(model: keras.Model, data: ForecastData, best_epoch: int, min_gain_t: float) -> tuple[float, float]:
    """(strength, t): the shrinkage in STRENGTHS with the lowest validation RMSE in prices, and the
    t-statistic of its gain over naive. Falls back to the naive forecast (strength 0) when the model
    never left it (best epoch 0), when no strength beats naive by a relative 1e-6, or when the gain
    is not significant (t below `min_gain_t`): on a random walk some epoch beats naive on validation
    by luck, and trusting that luck costs accuracy on the test split."""
    if best_epoch == 0:
        set_strength(model, 0.0)
        return 0.0, 0.0
    set_strength(model, 1.0)
    raw_returns = data.target_scaler.inverse(  # (windows, horizon) log returns as trained
        model.predict(data.splits["validation"].inputs, batch_size=512, verbose=0)
    )
    actual = data.actual_prices("validation")
    anchor = data.anchor_close("validation")[:, None]
    naive = np.repeat(anchor, data.horizon, axis=1)
    best, best_error = 0.0, rmse(actual, naive)
    for strength in STRENGTHS[1:]:
        error = rmse(actual, anchor * np.exp(strength * raw_returns))
        if error < best_error * (1 - 1e-6):
            best, best_error = float(strength), error
    t = gain_t_statistic(actual, naive, anchor * np.exp(best * raw_returns)) if best > 0 else 0.0
    if t < min_gain_t:
        best = 0.0
    set_strength(model, best)
    return best, t


def fit(config: MemoryConfig, data: ForecastData, out: Path | None = None, verbose: int = 1) -> FitResult:
    """Train on data.splits["train"]; every choice (stopping, learning rate, best epoch, shrinkage)
    is made on "validation". With `out` None nothing is written there (walk-forward folds)."""
    config.validate()
    set_seed(config.seed)
    tf.config.experimental.enable_op_determinism()  # same seed, same numbers (costs a little speed)
    model = make_model(config, data)
    scratch = tempfile.TemporaryDirectory(prefix="memoryllm-")  # the checkpoint's home when out is None
    checkpoint = (out or Path(scratch.name)) / CHECKPOINT_FILE
    # Epoch 0 is a candidate too: if no epoch beats it on validation, the naive start is restored.
    # (Saved before compiling, so the file holds no optimizer state to mismatch on reload.)
    save_weights_atomically(model, checkpoint)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=config.learning_rate, weight_decay=config.weight_decay),
        loss="mse",  # on scaled log returns: the squared error the naive forecast is judged by
    )
    train, validation = data.splits["train"], data.splits["validation"]
    # The untrained model is the naive forecast: its validation loss is the bar every epoch must beat.
    initial_val_loss = float(model.evaluate(validation.inputs, validation.targets, batch_size=512, verbose=0))

    with scratch:
        history = keras.callbacks.History()
        callbacks: list[keras.callbacks.Callback] = [
            history,
            AtomicModelCheckpoint(checkpoint, monitor="val_loss", initial_value_threshold=initial_val_loss),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, baseline=initial_val_loss),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=config.lr_patience, min_lr=1e-5, verbose=verbose),
        ]
        if out is not None:
            shutil.rmtree(out / "tensorboard", ignore_errors=True)  # one run per folder: no stale curves
            callbacks += [
                AtomicCSVLogger(out / "history.csv"),
                keras.callbacks.TensorBoard(out / "tensorboard", write_graph=False, profile_batch=0),
            ]
        started = time.perf_counter()
        try:
            model.fit(
                train.inputs, train.targets, validation_data=(validation.inputs, validation.targets),
                epochs=config.epochs, batch_size=config.batch_size, shuffle=True, callbacks=callbacks,
                verbose=verbose,
            )
        except KeyboardInterrupt:  # Ctrl-C: stop training, still evaluate the best checkpoint so far
            print("\ninterrupted: evaluating the best checkpoint so far")
            for callback in callbacks:  # Keras skips on_train_end after an exception: keep the history
                if isinstance(callback, AtomicCSVLogger):
                    callback.on_train_end()
        train_seconds = time.perf_counter() - started
        with warnings.catch_warnings():
            # The epoch-0 file was saved before the optimizer existed; only the weights matter here.
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            model.load_weights(checkpoint)  # the best epoch on validation (or the naive start)

    val_losses = history.history.get("val_loss", [])
    improved = [loss < initial_val_loss for loss in val_losses]
    best_epoch = int(np.argmin(val_losses)) + 1 if any(improved) else 0
    strength, gain_t = choose_strength(model, data, best_epoch, config.min_gain_t) if config.shrink else (1.0, None)
    if out is not None:
        save_weights_atomically(model, out / WEIGHTS_FILE)
    return FitResult(
        model=model,
        history={key: [float(v) for v in values] for key, values in history.history.items()},
        epochs_run=len(val_losses),
        best_epoch=best_epoch,
        train_seconds=train_seconds,
        initial_val_loss=initial_val_loss,
        strength=strength,
        gain_t=gain_t,
    )


def count_params(model: keras.Model) -> int:
    """Trainable parameters (the shrinkage strength and naive constant are fixed, not learned)."""
    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))


def time_inference(model: keras.Model, data: ForecastData, split: str = "test") -> float:
    """Milliseconds per window of the network's batched forward pass over the split, after one
    warm-up call (timed even when the forecast is fully shrunk to naive, so speeds compare)."""
    inputs = data.splits[split].inputs
    model.predict(inputs, batch_size=512, verbose=0)
    started = time.perf_counter()
    model.predict(inputs, batch_size=512, verbose=0)
    return 1000.0 * (time.perf_counter() - started) / len(inputs)


def save_scalers(out: Path, data: ForecastData) -> None:
    write_json(out / SCALERS_FILE, {
        "feature_names": data.feature_names,
        "feature_scaler": data.feature_scaler.to_dict(),
        "target_scaler": data.target_scaler.to_dict(),
    })


def plotted_history(result: FitResult) -> dict[str, list[float]]:
    """The history for loss.png, plus the untrained (naive) model's validation loss as a flat line:
    the level an epoch must get under to be kept."""
    epochs = max(result.epochs_run, 1)
    return {**result.history, "val_loss of the naive start": [result.initial_val_loss] * epochs}


def main(argv: list[str] | None = None) -> dict:
    config = parse_config(MemoryConfig, argv, description=__doc__)
    if config.dry_run:
        config = dry_run_config(config)
    config.validate()
    data, data_info = load_forecast_data(config)  # first: a bad input fails before any file is written
    out = prepare_run_dir(config.out)
    write_json(out / "config.json", config)
    save_scalers(out, data)

    result = fit(config, data, out)
    predicted = forecast(result.model, data, "test")
    baselines = baseline_forecasts(data, "test", config.ma_window)
    validation_actual = data.actual_prices("validation")
    validation_naive = np.repeat(data.anchor_close("validation")[:, None], data.horizon, axis=1)
    extra = {
        "framework": f"tensorflow {tf.__version__} / keras {keras.__version__}",
        "train_seconds": result.train_seconds,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "seconds_per_epoch": result.train_seconds / max(result.epochs_run, 1),
        "inference_ms_per_window": time_inference(result.model, data, "test"),
        "params": count_params(result.model),
        "shrink_strength": result.strength,
        "validation": {
            "rmse": rmse(validation_actual, forecast(result.model, data, "validation")),
            "naive_rmse": rmse(validation_actual, validation_naive),
            "gain_t": result.gain_t,
            "initial_loss": result.initial_val_loss,
            "best_loss": min(result.history.get("val_loss", [result.initial_val_loss]) + [result.initial_val_loss]),
        },
        "seed": config.seed,
    }
    metrics = write_forecast_run(
        out, data, predicted, baselines, header={"stage": "MemoryLLM", "model": "lstm"},
        data_info=data_info, history=plotted_history(result), extra=extra, model_label="LSTM",
    )
    evidence = "" if result.gain_t is None else f", validation gain t = {result.gain_t:.2f} (kept if > {config.min_gain_t})"
    print(
        f"\nbest epoch {result.best_epoch} of {result.epochs_run} (0 = no epoch beat the naive start on validation); "
        f"shrinkage strength {result.strength:.1f}{evidence}; trained in {result.train_seconds:.1f} s; results in {out}"
    )
    print(f"test split {metrics['split']['test'][0]} .. {metrics['split']['test'][1]}, "
          f"{len(predicted)} windows, LSTM RMSE / naive RMSE = {metrics['rmse_vs_naive']:.4f}\n")
    print(comparison_table({"LSTM": metrics["test"], **metrics["baselines"]}))
    return metrics


if __name__ == "__main__":
    run_cli(main)
