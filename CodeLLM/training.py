"""The training loop of CodeLLM, written out by hand: shuffle, forward, loss, backward, step; then
score the validation split, keep the best weights, stop when validation stops improving.

`fit` is what train.py and compare.py's walk-forward folds call; `forecast` turns the model's
output back into prices. With `out` set, fit also writes TensorBoard logs, the best checkpoint
(`model.pt`: state_dict + config + scalers) and a resumable `last.pt` after every epoch.
"""

from __future__ import annotations

import copy
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from CodeLLM.model import TransformerForecaster
from common.baselines import naive_forecast
from common.metrics import rmse
from common.seed import set_seed
from common.timeseries import ForecastData
from common.torch_utils import load_checkpoint, pick_device, save_checkpoint

CHECKPOINT = "model.pt"  # the best epoch so far: what evaluate.py and compare.py load
RESUME = "last.pt"  # the latest epoch with optimizer state, for --resume


@dataclass
class FitResult:
    model: TransformerForecaster  # holding the best epoch's weights
    history: dict[str, list[float]]  # per trained epoch: loss, val_loss, val_rmse, seconds
    epochs_run: int
    best_epoch: int  # lowest validation RMSE among trained epochs; 0 if none was trained
    train_seconds: float
    strength: float = 1.0  # shrinkage toward naive chosen on validation (0 = the naive forecast)
    validation: dict[str, float] = field(default_factory=dict)  # {"rmse", "naive_rmse", "network_rmse"}
    interrupted: bool = False


STRENGTHS = np.round(np.linspace(0.0, 1.0, 11), 2)  # shrinkage toward naive tried on validation (as MemoryLLM)


def zero_return_output(data: ForecastData) -> list[float]:
    """(horizon,) the scaled value of a zero log return: a model that outputs it *is* the naive forecast."""
    return data.target_scaler.transform(np.zeros((1, data.horizon)))[0].tolist()


def build_model(config: Any, n_features: int, horizon: int, naive_output: list[float] | None = None) -> TransformerForecaster:
    return TransformerForecaster(
        n_features=n_features, horizon=horizon, d_model=config.d_model, heads=config.heads,
        encoder_layers=config.encoder_layers, decoder_layers=config.decoder_layers, ff_dim=config.ff_dim,
        dropout=config.dropout, label_len=config.label_len, naive_output=naive_output,
    )


def get_strength(model: TransformerForecaster) -> float:
    return float(model.strength)


def set_strength(model: TransformerForecaster, strength: float) -> None:
    """1 = the network as trained, 0 = the naive forecast."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"the shrinkage strength must be in [0, 1], got {strength}")
    model.strength.fill_(float(strength))


def predict_scaled(model: nn.Module, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """(windows, lookback, features) -> (windows, horizon) scaled log returns, in eval mode."""
    device = next(model.parameters()).device
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(inputs[start:start + batch_size])).to(device)
            outputs.append(model(batch).cpu().numpy())
    return np.concatenate(outputs).astype(np.float64)


def forecast(model: TransformerForecaster, data: ForecastData, split: str = "test") -> np.ndarray:
    """(windows, horizon) price forecasts for every window of `split`."""
    if get_strength(model) == 0.0:
        # Fully shrunk: exactly the naive forecast. (The float32 "no change" output differs from a
        # zero return by ~1e-9, which would otherwise invent tiny up/down calls.)
        return naive_forecast(data, split)
    return data.to_prices(split, predict_scaled(model, data.splits[split].inputs))


def choose_strength(model: TransformerForecaster, data: ForecastData) -> float:
    """Set and return the strength in STRENGTHS with the lowest validation RMSE in prices. Each must
    beat the next smaller one by a relative 1e-6, so a network that adds nothing on validation
    becomes the naive forecast (strength 0)."""
    set_strength(model, 1.0)
    departures = data.target_scaler.inverse(predict_scaled(model, data.splits["validation"].inputs)) - \
        data.target_scaler.inverse(np.asarray(zero_return_output(data))[None, :])  # (windows, horizon) log returns
    actual = data.actual_prices("validation")
    anchor = data.anchor_close("validation")[:, None]
    best, best_error = 0.0, rmse(actual, np.repeat(anchor, data.horizon, axis=1))
    for strength in STRENGTHS[1:]:
        error = rmse(actual, anchor * np.exp(strength * departures))
        if error < best_error * (1 - 1e-6):
            best, best_error = float(strength), error
    set_strength(model, best)
    return best


def checkpoint_extras(data: ForecastData) -> dict[str, Any]:
    """What evaluate.py needs beside the weights to rebuild the inputs exactly as in training."""
    return {
        "feature_names": data.feature_names,
        "scalers": {"feature": data.feature_scaler.to_dict(), "target": data.target_scaler.to_dict()},
    }


def open_tensorboard(log_dir: Path) -> Any:
    """A TensorBoard writer that does not drag in TensorFlow (~15 s to import on 2 cores).

    tensorboard uses TensorFlow for file access when it can import it, and its own small stub when
    the marker module `tensorboard.compat.notf` exists; the stub writes the same event files.
    """
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(log_dir))


def fit(config: Any, data: ForecastData, out: str | Path | None = None, verbose: int = 1) -> FitResult:
    """Train a TransformerForecaster on data's train split; every choice is made on its validation split.

    1. Train up to `config.epochs` epochs, keeping the epoch with the lowest validation RMSE in
       prices and stopping after `config.patience` epochs without a new best.
    2. Restore that epoch and choose the shrinkage toward naive (`choose_strength`) on validation:
       a network that does not beat the naive forecast there becomes the naive forecast.
    With `out` None nothing is written (compare.py's walk-forward folds).
    """
    out = Path(out) if out is not None else None
    device = pick_device(config.device)
    set_seed(config.seed)
    model = build_model(config, data.n_features, data.horizon, zero_return_output(data)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    loss_fn = nn.MSELoss()  # on scaled log returns: the squared error the naive forecast is judged by

    train = data.splits["train"]
    train_inputs = torch.from_numpy(train.inputs).to(device)  # (windows, lookback, features)
    train_targets = torch.from_numpy(train.targets).to(device)  # (windows, horizon)
    validation = data.splits["validation"]
    validation_actual = data.actual_prices("validation")
    naive_rmse = rmse(validation_actual, naive_forecast(data, "validation"))

    def validate() -> tuple[float, float]:
        scaled = predict_scaled(model, validation.inputs)
        loss = float(np.mean((scaled - validation.targets) ** 2))
        return loss, rmse(validation_actual, data.to_prices("validation", scaled))

    history: dict[str, list[float]] = {"loss": [], "val_loss": [], "val_rmse": [], "seconds": []}
    best_rmse, best_epoch, stale_epochs, first_epoch, seconds_before = float("inf"), 0, 0, 1, 0.0
    best_state = copy.deepcopy(model.state_dict())  # epoch 0: the untrained (naive) model
    resume_path = out / RESUME if out is not None else None
    if config.resume and resume_path is not None and resume_path.exists():
        state = load_checkpoint(resume_path, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        history, best_state = state["history"], state["best_state"]
        best_rmse, best_epoch, stale_epochs = state["best_rmse"], state["best_epoch"], state["stale_epochs"]
        first_epoch, seconds_before = state["epoch"] + 1, state["train_seconds"]
        if verbose:
            print(f"resuming after epoch {state['epoch']} (best so far: epoch {best_epoch})")

    writer = open_tensorboard(out / "tensorboard") if out is not None else None
    started = time.perf_counter()
    interrupted = False
    epoch = first_epoch - 1
    bar = tqdm(range(first_epoch, config.epochs + 1), desc="CodeLLM", unit="epoch", disable=not verbose)
    try:
        for epoch in bar:
            epoch_started = time.perf_counter()
            model.train()
            # A generator seeded per epoch: the same order with or without an interruption in between.
            order = torch.randperm(len(train_inputs), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
            total_loss = 0.0
            for start in range(0, len(order), config.batch_size):
                batch = order[start:start + config.batch_size].to(device)
                predicted = model(train_inputs[batch])  # (batch, horizon)
                loss = loss_fn(predicted, train_targets[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                # Returns carry rare huge days (crashes, earnings): clipping keeps one batch from wrecking the weights.
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                total_loss += loss.item() * len(batch)
            val_loss, val_rmse = validate()
            history["loss"].append(total_loss / len(order))
            history["val_loss"].append(val_loss)
            history["val_rmse"].append(val_rmse)
            history["seconds"].append(time.perf_counter() - epoch_started)
            if writer is not None:
                for name in ("loss", "val_loss", "val_rmse"):
                    writer.add_scalar(name, history[name][-1], epoch)
            if val_rmse < best_rmse:
                best_rmse, best_epoch, stale_epochs = val_rmse, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale_epochs += 1
            bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", val_rmse=f"{val_rmse:.3f}",
                            naive=f"{naive_rmse:.3f}", best=best_epoch)
            if out is not None:
                save_checkpoint(
                    out / RESUME, model, config, optimizer=optimizer.state_dict(), rng=torch.get_rng_state(),
                    history=history, best_state=best_state, best_rmse=best_rmse, best_epoch=best_epoch,
                    stale_epochs=stale_epochs, epoch=epoch,
                    train_seconds=seconds_before + time.perf_counter() - started,
                )
            if stale_epochs >= config.patience:
                break
    except KeyboardInterrupt:
        interrupted = True
        if verbose:
            print(f"\ninterrupted during epoch {epoch}: evaluating the best epoch so far ({best_epoch})")
    finally:
        bar.close()
        if writer is not None:
            writer.close()

    train_seconds = seconds_before + time.perf_counter() - started
    model.load_state_dict(best_state)
    # Epoch 0 (nothing trained) is the naive forecast already; otherwise validation sets the trust.
    strength = choose_strength(model, data) if best_epoch > 0 and config.shrink else float(best_epoch > 0)
    set_strength(model, strength)
    if out is not None:
        save_checkpoint(out / CHECKPOINT, model, config, epoch=best_epoch, **checkpoint_extras(data))
    return FitResult(
        model=model, history=history, epochs_run=len(history["loss"]), best_epoch=best_epoch,
        train_seconds=train_seconds, strength=strength, interrupted=interrupted,
        validation={
            "rmse": rmse(validation_actual, forecast(model, data, "validation")),
            "naive_rmse": naive_rmse,
            "network_rmse": best_rmse if best_epoch > 0 else naive_rmse,  # the best epoch before shrinkage
        },
    )
