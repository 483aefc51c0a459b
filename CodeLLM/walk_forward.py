"""Walk-forward evaluation: one test period can be lucky, so test on several, each time training
only on what came before (an expanding window, as a forecaster used in real time would be).

Fold k trains on every row before its validation block, early-stops and shrinks on that block, and
is scored on the next block of rows, which no earlier fold saw as test. Features are re-scaled per
fold on that fold's training rows only (`prepare_forecast_data` with the fold's borders).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from common.baselines import linear_forecast, naive_forecast
from common.data import load_prices
from common.metrics import rmse
from common.timeseries import make_features, prepare_forecast_data, walk_forward_borders

MODELS = ("LSTM", "Transformer", "linear")


def usable_rows(prices: Any) -> int:
    """Rows left after the indicators' warm-up: the row count the fold borders refer to."""
    return int(make_features(prices).notna().all(axis=1).sum())


def walk_forward(
    code_config: Any, memory_config: Any, folds: int = 3, epochs: int = 8, verbose: int = 1
) -> dict[str, Any]:
    """Train both models on each fold with at most `epochs` epochs; RMSE / naive RMSE per fold and summary.

    `code_config` (CodeConfig) and `memory_config` (MemoryLLM's config) carry the same data settings.
    """
    from CodeLLM.training import fit as fit_transformer
    from CodeLLM.training import forecast as forecast_transformer
    from MemoryLLM.train import fit as fit_lstm
    from MemoryLLM.train import forecast as forecast_lstm

    prices = load_prices(code_config.ticker, csv=code_config.csv, start=code_config.start, end=code_config.end,
                         source=code_config.source)
    borders = walk_forward_borders(usable_rows(prices), folds, validation_fraction=code_config.validation_fraction)
    code_config = dataclasses.replace(code_config, epochs=min(code_config.epochs, epochs), resume=False)
    memory_config = dataclasses.replace(memory_config, epochs=min(memory_config.epochs, epochs))
    rows = []
    for index, fold_borders in enumerate(borders, start=1):
        started = time.perf_counter()
        data = prepare_forecast_data(prices, lookback=code_config.lookback, horizon=code_config.horizon,
                                     borders=fold_borders)
        actual = data.actual_prices("test")
        naive = rmse(actual, naive_forecast(data, "test"))
        lstm = fit_lstm(memory_config, data, None, verbose=0)
        transformer = fit_transformer(code_config, data, None, verbose=0)
        forecasts = {
            "LSTM": forecast_lstm(lstm.model, data, "test"),
            "Transformer": forecast_transformer(transformer.model, data, "test"),
            "linear": linear_forecast(data, "test")[0],
        }
        dates = data.split_dates()
        row = {
            "fold": index, "train": dates["train"], "validation": dates["validation"], "test": dates["test"],
            "test_windows": len(actual), "naive_rmse": naive,
            **{f"{name}_rmse": rmse(actual, values) for name, values in forecasts.items()},
            **{f"{name}_vs_naive": rmse(actual, values) / naive for name, values in forecasts.items()},
            "LSTM_strength": lstm.strength, "Transformer_strength": transformer.strength,
            "seconds": round(time.perf_counter() - started, 1),
        }
        rows.append(row)
        if verbose:
            print(f"fold {index}/{len(borders)}: test {dates['test'][0]} .. {dates['test'][1]}, RMSE / naive: "
                  + ", ".join(f"{name} {row[f'{name}_vs_naive']:.4f}" for name in MODELS) + f" ({row['seconds']} s)")
    summary = {}
    for name in MODELS:
        ratios = np.array([row[f"{name}_vs_naive"] for row in rows])
        summary[name] = {"mean": float(ratios.mean()), "std": float(ratios.std(ddof=1)) if len(ratios) > 1 else 0.0,
                         "min": float(ratios.min()), "max": float(ratios.max()),
                         "folds_beating_naive": int((ratios < 1.0).sum())}
    return {"folds": rows, "summary": summary, "epochs_per_fold": epochs}
