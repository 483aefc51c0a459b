"""Evaluate a trained CodeLLM Transformer again, on its own series or another one, without retraining.

    python CodeLLM/evaluate.py                                  # the run in outputs/CodeLLM, same data
    python CodeLLM/evaluate.py --csv other.csv                  # another series, same model and scalers
    python CodeLLM/evaluate.py --out runs/h5 --ticker MSFT      # another run folder, another ticker

The model, its feature list and its training-split scalers come from `--out`/model.pt; nothing is
fitted on the new series except the linear baseline (on that series' own training split). Results
go to a subfolder `--out`/evaluate/<series>/, so the training run's own results are never overwritten.
"""

from __future__ import annotations

import os

# Let idle OpenMP threads sleep instead of spin. On a shared 2-core machine a spinning thread takes the
# core its partner needs: a 2-thread epoch measured 15x slower than a 1-thread one under load without
# it. OpenMP reads this when PyTorch loads, hence before any import that may load torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from CodeLLM.attention import plot_attention
from CodeLLM.model import TransformerForecaster, count_parameters
from CodeLLM.train import CodeConfig, setup_threads, timed_forecast
from CodeLLM.training import CHECKPOINT, build_model, get_strength
from common.baselines import baseline_forecasts
from common.config import config_from_dict, option, parse_config, run_cli
from common.data import SOURCES
from common.forecast_report import comparison_table, write_forecast_run
from common.forecast_setup import load_forecast_data
from common.paths import output_dir
from common.runs import prepare_run_dir, write_json
from common.timeseries import ForecastData, Standardizer
from common.torch_utils import load_checkpoint, pick_device


@dataclass
class EvaluateConfig:
    out: str = option(str(output_dir("CodeLLM")), "the training run folder holding model.pt")
    ticker: str | None = option(None, "evaluate on this ticker instead of the training series")
    csv: str | None = option(None, "evaluate on this CSV (Date and Close columns) instead")
    start: str | None = option(None, "first date, YYYY-MM-DD (default: the training run's)")
    end: str | None = option(None, "last date, YYYY-MM-DD (default: the training run's)")
    source: str | None = option(None, "embedded, yfinance or auto (default: the training run's)", choices=SOURCES)
    name: str | None = option(None, "subfolder under --out/evaluate (default: the series' name)")
    device: str = option("auto", "auto uses CUDA or Apple MPS when present, else the CPU")
    threads: int = option(2, "PyTorch CPU threads (0 = torch's default)")


def series_config(trained: CodeConfig, config: EvaluateConfig) -> CodeConfig:
    """The training config with the series swapped as asked: same lookback, horizon and split fractions."""
    changes: dict[str, Any] = {"device": config.device}
    if config.csv:
        changes.update(csv=config.csv)
    elif config.ticker:
        changes.update(ticker=config.ticker, csv=None)
    for name in ("start", "end", "source"):
        if getattr(config, name) is not None:
            changes[name] = getattr(config, name)
    return dataclasses.replace(trained, **changes)


def folder_name(config: CodeConfig) -> str:
    """A safe folder name for the series: the CSV's stem or the ticker."""
    name = Path(config.csv).stem if config.csv else config.ticker.upper()
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "series"


def load_run(
    out: str | Path, config: EvaluateConfig | None = None
) -> tuple[TransformerForecaster, ForecastData, dict[str, Any], CodeConfig, dict[str, Any]]:
    """(model, data, data_info, data config, checkpoint) of the run in `out`, its windows rebuilt
    with the run's own scalers and feature list (on another series if `config` asks for one)."""
    config = config or EvaluateConfig(out=str(out))
    device = pick_device(config.device)
    checkpoint = load_checkpoint(Path(out) / CHECKPOINT, map_location=device)
    trained = config_from_dict(CodeConfig, checkpoint["config"])
    data_config = series_config(trained, config)
    scalers = checkpoint["scalers"]
    data, info = load_forecast_data(
        data_config, scalers=(Standardizer.from_dict(scalers["feature"]), Standardizer.from_dict(scalers["target"])),
        feature_names=checkpoint["feature_names"],
    )
    model = build_model(trained, data.n_features, data.horizon).to(device)
    model.load_state_dict(checkpoint["model"])
    return model.eval(), data, info, data_config, checkpoint


def main(argv: list[str] | None = None) -> dict[str, Any]:
    config = parse_config(EvaluateConfig, argv, description=__doc__)
    setup_threads(config.threads)
    run = Path(config.out)
    model, data, info, data_config, checkpoint = load_run(run, config)
    target = prepare_run_dir(run / "evaluate" / (config.name or folder_name(data_config)))
    predicted, inference_ms = timed_forecast(model, data)
    write_json(target / "config.json", {"evaluate": config, "model_config": data_config})
    metrics = write_forecast_run(
        target, data, predicted, baseline_forecasts(data, "test", data_config.ma_window),
        header={"stage": "CodeLLM", "model": "transformer"}, data_info=info,
        extra={
            "framework": f"pytorch {torch.__version__}", "device": str(next(model.parameters()).device),
            "evaluated_checkpoint": str(run / CHECKPOINT), "checkpoint_epoch": checkpoint.get("epoch"),
            "shrink_strength": get_strength(model),
            "inference_ms_per_window": round(inference_ms, 4), "params": count_parameters(model),
        },
        model_label="Transformer",
    )
    plot_attention(model, data, target / "attention.png")
    print(comparison_table({"Transformer": metrics["test"], **metrics["baselines"]}))
    print(f"test RMSE / naive RMSE = {metrics['rmse_vs_naive']:.4f}; results in {target}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
