"""Stage 4 — CodeLLM: a small Transformer encoder-decoder forecasting the close from technical
indicators, on exactly the windows and test targets MemoryLLM's LSTM sees.

    python CodeLLM/train.py                            # GOOG, offline: 20-45 s on 2 CPU cores
    python CodeLLM/train.py --horizon 5 --lookback 120 # five days ahead from ~6 months of history
    python CodeLLM/train.py --csv prices.csv           # any daily series with Date and Close columns
    python CodeLLM/train.py --resume                   # continue an interrupted run in --out
    python CodeLLM/train.py --dry-run                  # seconds: checks the plumbing, not the model
    python CodeLLM/evaluate.py --csv other.csv         # reuse the trained model on another series
    tensorboard --logdir outputs/CodeLLM/tensorboard   # the training curves, live

`--out` (default outputs/CodeLLM) receives config.json, metrics.json (test metrics beside the naive,
moving-average and linear baselines), predictions.csv, history.csv, model.pt (best epoch: weights,
config and scalers), last.pt (for --resume), TensorBoard logs, and the plots predictions.png,
residuals.png, loss.png and attention.png. Ctrl-C stops training; the best epoch is still evaluated.
"""

from __future__ import annotations

import os

# Let idle OpenMP threads sleep instead of spin. On a shared 2-core machine a spinning thread takes the
# core its partner needs: a 2-thread epoch measured 15x slower than a 1-thread one under load without
# it. OpenMP reads this when PyTorch loads, hence before any import that may load torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import dataclasses
import shutil
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from CodeLLM.attention import plot_attention
from CodeLLM.model import count_parameters
from CodeLLM.training import RESUME, FitResult, fit, forecast, predict_scaled
from common.baselines import baseline_forecasts
from common.config import option, parse_config, run_cli
from common.forecast_report import comparison_table, write_forecast_run
from common.forecast_setup import ForecastDataConfig, load_forecast_data
from common.paths import output_dir
from common.runs import atomic_path, prepare_run_dir, write_json
from common.torch_utils import pick_device

__all__ = ["CodeConfig", "FitResult", "fit", "forecast", "main", "run_extras"]


@dataclass
class CodeConfig(ForecastDataConfig):
    # model: small on purpose; ~1,400 training windows of a near-random walk cannot feed a big one
    d_model: int = option(32, "width of each day's token; 32 is plenty for 11 features")
    heads: int = option(4, "attention heads of 8 channels each, each free to watch different days")
    encoder_layers: int = option(2, "self-attention layers over the lookback window")
    decoder_layers: int = option(1, "one decoder layer: it only has to read the encoder's memory")
    ff_dim: int = option(64, "hidden width of the position-wise feed-forward block (2 x d_model)")
    label_len: int = option(10, "known days that open the decoder input (Informer's start token), two weeks")
    dropout: float = option(0.1, "light regularisation: the signal is weak, overfitting is easy")
    # optimisation
    epochs: int = option(30, "upper bound; early stopping usually ends sooner")
    batch_size: int = option(64, "about 22 steps per epoch over ~1,400 windows")
    learning_rate: float = option(1e-3, "AdamW step; 3e-4 was still learning a clear synthetic signal after 30 epochs")
    weight_decay: float = option(1e-2, "AdamW decay keeps weights near the zero-initialised (naive) head")
    grad_clip: float = option(1.0, "cap the gradient norm: crash and earnings days are huge outliers")
    patience: int = option(6, "validation epochs without improvement before stopping")
    shrink: bool = option(True, "scale the forecast's departure from naive by a strength chosen on validation")
    # bookkeeping
    threads: int = option(2, "PyTorch CPU threads: this machine has 2 cores (0 = torch's default)")
    device: str = option("auto", "auto uses CUDA or Apple MPS when present, else the CPU")
    resume: bool = option(False, "continue the run in --out from last.pt")
    out: str = option(str(output_dir("CodeLLM")), "run folder for results, checkpoints and plots")


def dry_run_config(config: CodeConfig) -> CodeConfig:
    """Tiny and fast: checks that every file gets written, not that the model learns."""
    return dataclasses.replace(
        config, d_model=8, heads=2, encoder_layers=1, decoder_layers=1, ff_dim=16,
        epochs=min(config.epochs, 2), patience=min(config.patience, 2),  # same windows as the real run
        threads=1,  # a tiny model splits badly across threads: on a busy machine one thread is 10x faster
    )


def setup_threads(threads: int) -> None:
    """Pin PyTorch's CPU threads (more threads than cores only adds contention) and flush denormal
    floats to zero: gradients that fade below ~1e-38 otherwise take a slow path on x86 CPUs."""
    if threads > 0:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


def run_extras(result: FitResult, model: torch.nn.Module, inference_ms: float, device: torch.device) -> dict[str, Any]:
    """The keys metrics.json shares with MemoryLLM after the metrics: cost and training facts."""
    seconds = result.history.get("seconds", [])
    return {
        "framework": f"pytorch {torch.__version__}",
        "device": str(device),
        "train_seconds": round(result.train_seconds, 2),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "seconds_per_epoch": round(sum(seconds) / len(seconds), 3) if seconds else None,
        "inference_ms_per_window": round(inference_ms, 4),
        "params": count_parameters(model),
        "shrink_strength": result.strength,
        "validation": result.validation,
        "interrupted": result.interrupted,
    }


def timed_forecast(model: torch.nn.Module, data: Any, split: str = "test") -> tuple[Any, float]:
    """Forecast `split` and return (prices, milliseconds per window of the network's forward pass).

    The network is timed even when validation shrank it to the naive forecast (strength 0), so the
    cost column compares architectures rather than a shortcut.
    """
    inputs = data.splits[split].inputs
    predict_scaled(model, inputs[:64])  # warm-up: first calls allocate buffers
    started = time.perf_counter()
    predict_scaled(model, inputs)
    milliseconds = 1000.0 * (time.perf_counter() - started) / len(inputs)
    return forecast(model, data, split), milliseconds


def main(argv: list[str] | None = None) -> dict[str, Any]:
    config = parse_config(CodeConfig, argv, description=__doc__)
    if config.dry_run:
        config = dry_run_config(config)
    setup_threads(config.threads)
    out = prepare_run_dir(config.out)
    if not config.resume:  # a fresh run must not pick up an old one's state or curves
        (out / RESUME).unlink(missing_ok=True)
        shutil.rmtree(out / "tensorboard", ignore_errors=True)

    data, info = load_forecast_data(config)
    windows = {name: len(split.targets) for name, split in data.splits.items()}
    print(f"{info['source']}: {info['rows']} rows {info['first_date']} -> {info['last_date']}, "
          f"{data.n_features} features, windows {windows}")
    write_json(out / "config.json", config)

    result = fit(config, data, out)
    model = result.model
    print(f"best epoch {result.best_epoch} of {result.epochs_run}, shrinkage strength {result.strength:.1f} "
          f"(validation RMSE {result.validation['rmse']:.4f}, naive {result.validation['naive_rmse']:.4f}), "
          f"trained in {result.train_seconds:.1f} s")

    predicted, inference_ms = timed_forecast(model, data)
    baselines = baseline_forecasts(data, "test", config.ma_window)
    history_frame = pd.DataFrame({"epoch": range(1, result.epochs_run + 1), **result.history})
    with atomic_path(out / "history.csv") as tmp:
        history_frame.to_csv(tmp, index=False)
    metrics = write_forecast_run(
        out, data, predicted, baselines, header={"stage": "CodeLLM", "model": "transformer"}, data_info=info,
        history={k: v for k, v in result.history.items() if "loss" in k},
        extra=run_extras(result, model, inference_ms, pick_device(config.device)), model_label="Transformer",
    )
    plot_attention(model, data, out / "attention.png")

    rows = {"Transformer": metrics["test"], **metrics["baselines"]}
    print(comparison_table(rows))
    print(f"test RMSE / naive RMSE = {metrics['rmse_vs_naive']:.4f}; results in {out}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
