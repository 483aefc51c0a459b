"""Reload a trained MemoryLLM run (weights, scalers, config) and score it on any price series,
without retraining and without refitting anything on the new series.

    python MemoryLLM/evaluate.py                                   # the default run, on GOOG again
    python MemoryLLM/evaluate.py --out outputs/MemoryLLM --csv other.csv
    python MemoryLLM/evaluate.py --out outputs/MemoryLLM --ticker MSFT --source yfinance

The new series is windowed with the *training* run's feature and target scalers and feature list,
split by the same fractions, and its test split is scored beside the naive, moving-average and
linear forecasts. Results go to OUT/evaluate/<series>/, never over the training run's own files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads (see train.py)
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402

from common.baselines import baseline_forecasts  # noqa: E402
from common.config import config_from_dict, option, parse_config, run_cli  # noqa: E402
from common.data import SOURCES  # noqa: E402
from common.forecast_report import comparison_table, write_forecast_run  # noqa: E402
from common.forecast_setup import load_forecast_data  # noqa: E402
from common.paths import output_dir  # noqa: E402
from common.runs import read_json  # noqa: E402
from common.timeseries import ForecastData, Standardizer  # noqa: E402
from MemoryLLM.model import get_strength  # noqa: E402
from MemoryLLM.train import SCALERS_FILE, WEIGHTS_FILE, MemoryConfig, forecast, make_model  # noqa: E402


@dataclass
class EvaluateConfig:
    out: str = option(str(output_dir("MemoryLLM")), "the training run's folder (holds model.weights.h5)")
    ticker: str | None = option(None, "evaluate on this ticker instead of the training series")
    csv: str | None = option(None, "evaluate on prices from this CSV (needs Date and Close columns)")
    start: str | None = option(None, "first date of the new series, YYYY-MM-DD")
    end: str | None = option(None, "last date of the new series, YYYY-MM-DD")
    source: str | None = option(None, "where --ticker comes from", choices=SOURCES)


def load_run(
    out: str | Path | None = None, overrides: dict | None = None
) -> tuple[keras.Model, ForecastData, dict, Path, MemoryConfig]:
    """(model, data, data_info, out, config) of a trained run, its windows rebuilt with its scalers.

    `overrides` replaces data options of the saved config (ticker, csv, start, end, source).
    """
    out = Path(out) if out is not None else output_dir("MemoryLLM")
    config = config_from_dict(MemoryConfig, read_json(out / "config.json"))
    if config.dry_run:  # the saved config holds the options as typed; the model was built tiny
        from MemoryLLM.train import dry_run_config

        config = dry_run_config(config)
    config = replace(config, **(overrides or {}))
    scalers = read_json(out / SCALERS_FILE)
    data, data_info = load_forecast_data(
        config,
        scalers=(Standardizer.from_dict(scalers["feature_scaler"]), Standardizer.from_dict(scalers["target_scaler"])),
        feature_names=scalers["feature_names"],
    )
    weights = out / WEIGHTS_FILE
    if not weights.exists():
        raise FileNotFoundError(f"{weights} does not exist: train first with python MemoryLLM/train.py --out {out}")
    model = make_model(config, data)
    model.load_weights(weights)
    return model, data, data_info, out, config


def series_name(config: EvaluateConfig) -> str:
    """A folder name for the evaluated series: the CSV's stem, the ticker, or 'default'."""
    name = Path(config.csv).stem if config.csv else (config.ticker or "default")
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def main(argv: list[str] | None = None) -> dict:
    config = parse_config(EvaluateConfig, argv, description=__doc__)
    names = ("ticker", "csv", "start", "end", "source")
    overrides = {name: getattr(config, name) for name in names if getattr(config, name) is not None}
    if config.ticker and not config.csv:
        overrides["csv"] = None  # a ticker replaces a CSV the training run may have used
    model, data, data_info, out, run_config = load_run(config.out, overrides)
    predicted = forecast(model, data, "test")
    baselines = baseline_forecasts(data, "test", run_config.ma_window)
    eval_dir = out / "evaluate" / series_name(config)
    metrics = write_forecast_run(
        eval_dir, data, predicted, baselines, header={"stage": "MemoryLLM", "model": "lstm"},
        data_info=data_info, extra={"trained_run": str(out), "shrink_strength": get_strength(model)},
        model_label="LSTM",
    )
    print(f"model from {out}, evaluated on {data_info['source']} ({data_info['first_date']} .. "
          f"{data_info['last_date']}); results in {eval_dir}")
    print(f"LSTM RMSE / naive RMSE = {metrics['rmse_vs_naive']:.4f}\n")
    print(comparison_table({"LSTM": metrics["test"], **metrics["baselines"]}))
    return metrics


if __name__ == "__main__":
    run_cli(main)
