"""What MemoryLLM and CodeLLM share before their models differ: the same command-line options
for the data, and one function from those options to leak-free windows.

A stage's config subclasses `ForecastDataConfig`, adds its model's options and may override a
default by re-declaring the field (e.g. its own `out` folder or `epochs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.config import option
from common.forecast.prices import PriceOptions
from common.forecast.windows import SELECT_ON, ForecastData, Standardizer, prepare_forecast_data


@dataclass
class ForecastDataConfig(PriceOptions):
    lookback: int = option(60, "days of history per window: about three trading months")
    horizon: int = option(1, "forecast the close 1..horizon trading days ahead, all steps at once")
    train_fraction: float = option(0.70, "oldest share of days used for training")
    validation_fraction: float = option(
        0.15, "next share, for early stopping and model choice; the rest is test"
    )
    select_on: str = option("validation-half", "where the best epoch and the baselines' settings are chosen: "
                            "validation-half (the guard tests on the other half) or train-tail (the last "
                            "15 % of the training windows, so the guard tests on all of validation: more "
                            "power, less to train on; benchmarks/bench_guard_power.py)", choices=SELECT_ON)
    ma_window: int = option(5, "days averaged by the moving-average baseline (one trading week)")
    seed: int = option(42, "seed for weights, shuffling and dropout: same seed, same metrics")
    preset: str = option("", "named settings resolved first (tiny: seconds, checks the plumbing, not the "
                                 "model; any other is a recipe the stage's README reports)")


def data_info(config: ForecastDataConfig, prices: Any) -> dict[str, Any]:
    """The `data` block of metrics.json: where the prices came from and what they cover."""
    return {
        "source": config.source_name(),
        "rows": int(len(prices)),
        "first_date": str(prices.index[0].date()),
        "last_date": str(prices.index[-1].date()),
    }


def load_forecast_data(
    config: ForecastDataConfig,
    scalers: tuple[Standardizer, Standardizer] | None = None,
    feature_names: list[str] | None = None,
    target: str = "price",
    volatility_days: int = 5,
) -> tuple[ForecastData, dict[str, Any]]:
    """Load prices as the config says and turn them into windows of `target`
    (common.forecast.windows.TARGETS); returns (data, data_info)."""
    prices = config.load()
    data = prepare_forecast_data(
        prices, lookback=config.lookback, horizon=config.horizon,
        train_fraction=config.train_fraction, validation_fraction=config.validation_fraction,
        scalers=scalers, feature_names=feature_names, target=target, volatility_days=volatility_days,
        select_on=config.select_on,
    )
    return data, data_info(config, prices)
