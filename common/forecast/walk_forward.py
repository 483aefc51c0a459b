"""Walk-forward evaluation: expanding-window folds, every network refitted at its full budget on each.

    python CodeLLM/compare.py --folds 6      # Stage 3 vs Stage 4 on 6 folds (`make walk-forward`)

One test split is one draw of the market; folds give several. Fold k trains on every row before its
validation block, chooses its epoch and passes its guard there, and is scored on the next block.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.forecast.baselines import fit_baselines, naive_forecast
from common.forecast.harness import ForecastConfig, Stage, all_forecasts, fit
from common.forecast.prices import load_prices
from common.forecast.report import squared_errors
from common.forecast.stats import diebold_mariano
from common.forecast.windows import (
    chronological_borders,
    make_features,
    prepare_forecast_data,
    walk_forward_borders,
)
from common.seed import set_seed


@dataclass
class FoldResult:
    row: dict[str, Any]
    losses: dict[str, np.ndarray] = field(default_factory=dict)  # per test window: squared errors


def walk_forward(
    stages: list[tuple[Stage, ForecastConfig]], folds: int = 6, verbose: bool = True
) -> dict[str, Any]:
    """Expanding-window folds, each model refitted at its full budget on every fold.

    Fold k trains on every row before its validation block, picks its epoch and passes its guard on
    that block's halves, and is scored on the next block. Returns per-fold rows, mean ± std of RMSE /
    naive per forecast, and a Diebold-Mariano test against naive pooled over all folds' test windows.
    """

    config = stages[0][1]
    if config.target != "price":
        raise ValueError(f"walk-forward scores price forecasts only, not --target {config.target}: "
                         "drop --folds for this target")
    prices = load_prices(config.ticker, csv=config.csv, start=config.start, end=config.end,
                         source=config.source)
    n_rows = int(make_features(prices).notna().all(axis=1).sum())
    borders = walk_forward_borders(n_rows, folds, validation_fraction=config.validation_fraction)
    headline = chronological_borders(n_rows, config.train_fraction, config.validation_fraction)
    results = []
    for index, fold_borders in enumerate(borders, start=1):
        started = time.perf_counter()
        data = prepare_forecast_data(prices, lookback=config.lookback, horizon=config.horizon,
                                     borders=fold_borders, select_on=config.select_on)
        actual = data.actual_prices("test")
        naive = naive_forecast(data, "test")
        baselines = fit_baselines(data, config.ma_window)  # the stages share the fold's data settings
        forecasts: dict[str, np.ndarray] = {}
        kept: dict[str, bool] = {}
        for stage, stage_config in stages:
            set_seed(stage_config.seed)
            forecaster = stage.make(stage_config, data)
            fit(forecaster, data, stage_config, verbose=False)
            model_forecasts, guards, _ = all_forecasts(forecaster, data, stage_config, baselines=baselines)
            forecasts[f"{stage.label} as trained"] = model_forecasts["as_trained"]
            forecasts[f"{stage.label} guarded"] = model_forecasts["guarded"]
            kept[stage.label] = guards["model"]["kept"]
            for name in ("drift", "ar", "linear"):
                forecasts[name] = model_forecasts[name]
        test_start, test_stop = fold_borders["test"]
        overlap = [name for name in ("validation", "test")
                   if test_start < headline[name][1] and headline[name][0] < test_stop]
        naive_error = squared_errors(actual, naive)
        losses = {name: squared_errors(actual, values) for name, values in forecasts.items()}
        row = {"fold": index, "test": data.split_dates()["test"], "test_windows": int(len(actual)),
               "overlaps_headline": overlap, "naive_rmse": float(np.sqrt(naive_error.mean())),
               **{f"{name} / naive": float(np.sqrt(loss.mean() / naive_error.mean()))
                  for name, loss in losses.items()},
               "kept": kept, "seconds": round(time.perf_counter() - started, 1)}
        results.append(FoldResult(row, {"naive": naive_error, **losses}))
        if verbose:
            print(f"fold {index}/{len(borders)} test {row['test'][0]} .. {row['test'][1]}: "
                  + ", ".join(f"{name} {row[f'{name} / naive']:.4f}" for name in losses)
                  + f" ({row['seconds']} s)")
    names = [name for name in results[0].losses if name != "naive"]
    summary = {}
    for name in names:
        ratios = np.array([result.row[f"{name} / naive"] for result in results])
        statistic, p_value = diebold_mariano(np.concatenate([r.losses["naive"] for r in results]),
                                             np.concatenate([r.losses[name] for r in results]),
                                             config.horizon)
        summary[name] = {"mean": float(ratios.mean()),
                         "std": float(ratios.std(ddof=1)) if len(ratios) > 1 else 0.0,
                         "folds_beating_naive": int((ratios < 1).sum()), "pooled_dm_stat": statistic,
                         "pooled_dm_pvalue": p_value}
    return {"folds": [result.row for result in results], "summary": summary, "forecasts": names}
