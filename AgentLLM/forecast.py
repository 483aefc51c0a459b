"""The forecast channel: Stage 3/4 next-day forecasts that the agent may read, every one out of sample.

    channel = walk_forward_channel(prices, "transformer", folds=4)   # refits the network 4 times
    channel.frame      # per day t: the forecast log return of day t+1 made at the close of t
    channel.info       # every fold: its dates, epochs, and whether Stage 4's guard kept the network

A forecast that the agent reads on day t must be one that could have been made at the close of day t.
So the network is refitted walk-forward, on expanding windows (as CodeLLM/compare.py --folds does):

    rows:   |-- burn-in (30 %): no forecast --|-- fold 1 --|-- fold 2 --| ... |-- fold k --|
    fold k: trains on every row before its block (its last 15 % for the epoch and the guard), then
            forecasts each day of its block from the lookback window that ends that day.

The forecaster of a block never saw a target inside the block, and a day's forecast reads no row after
the day (tests/test_agent_forecast.py perturbs the future to check both). Days before the first block
carry the naive forecast, a zero return (tomorrow's close equals today's): the channel has a value on
every decision day, so runs with and without it are scored on the same days.

Two columns per network (e.g. "forecast_transformer" and "forecast_transformer_guarded"): the network's
forecast as trained, and as its stage would deploy it: the network on the blocks whose guard (a
Diebold-Mariano test against naive on the fold's validation) kept it, naive (zero) elsewhere. The agent
reads the first; both give a sign baseline (policies.forecast_sign).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.forecast.harness import fit, guard_decision, network_prices
from common.forecast.windows import MIN_VALIDATION_WINDOWS, make_features, prepare_forecast_data
from common.seed import set_seed

FORECAST_MODELS = ("transformer", "lstm")
BURN_IN_FRACTION = 0.30  # rows before the first fold: enough for a network to learn anything at all
VALIDATION_FRACTION = 0.15  # of each fold's past: chooses the epoch (first half) and guards (second)


@dataclass
class ForecastChannel:
    frame: pd.DataFrame  # index = the prices' days; one column per network and version (see module doc)
    info: dict[str, Any] = field(default_factory=dict)


def column_name(model: str, guarded: bool = False) -> str:
    return f"forecast_{model}" + ("_guarded" if guarded else "")


def fold_origins(n_rows: int, folds: int, burn_in: float = BURN_IN_FRACTION) -> np.ndarray:
    """(folds + 1,) edges of the forecast blocks over rows [0, n_rows - 1): block k forecasts from the
    closes of rows edges[k] .. edges[k+1] - 1 (the last row has no tomorrow to forecast)."""
    if folds < 1:
        raise ValueError(f"--forecast-folds must be at least 1, got {folds}")
    return np.linspace(round(n_rows * burn_in), n_rows - 1, folds + 1).round().astype(int)


def fold_borders(start: int, stop: int) -> dict[str, tuple[int, int]]:
    """Row ranges (of the forecast features) for the block of origins [start, stop).

    A split's rows are its windows' target days (common.forecast.windows.window_anchors: a window's
    inputs may reach back before its split, the past being known). train + validation end at row
    `start` (inclusive): their last target is the close of row `start`, known at the close the first
    forecast is made. The "test" rows are the block's targets, rows start + 1 .. stop, so its windows
    are anchored at the origins start .. stop - 1 (the forecast never reads its target).
    """
    history = start + 1
    validation_rows = max(round(history * VALIDATION_FRACTION), MIN_VALIDATION_WINDOWS + 1)
    return {"train": (0, history - validation_rows), "validation": (history - validation_rows, history),
            "test": (start + 1, stop + 1)}


def stage_config(model: str, seed: int, overrides: dict[str, Any] | None = None) -> Any:
    """The stage's own default config (its recipe, chosen on its validation), with the seed."""
    from CodeLLM.stages import forecast_stage

    stage = forecast_stage(model)
    return stage, stage.config_cls(**{"seed": seed, **(overrides or {})})


def walk_forward_channel(prices: pd.DataFrame, model: str = "transformer", folds: int = 4, seed: int = 0,
                         overrides: dict[str, Any] | None = None, progress: Any = None) -> ForecastChannel:
    """Out-of-sample next-day forecast log returns of one Stage 3/4 network on every day of `prices`."""
    if model not in FORECAST_MODELS:
        raise ValueError(f"unknown forecast model {model!r}: use one of {', '.join(FORECAST_MODELS)}")
    stage, config = stage_config(model, seed, overrides)
    features = make_features(prices)
    usable = features.notna().all(axis=1).to_numpy()
    if not usable.any():
        raise ValueError(f"the series has {len(prices)} rows: too few for the forecast channel's indicators")
    offset = int(usable.argmax())  # forecast row r is price row offset + r
    n_rows = len(prices) - offset
    edges = fold_origins(n_rows, folds)
    if edges[0] < config.lookback + MIN_VALIDATION_WINDOWS + 2 or np.diff(edges).min() < 1:
        raise ValueError(f"the series has {len(prices)} rows: too few for {folds} forecast folds after a "
                         f"{BURN_IN_FRACTION:.0%} burn-in with lookback {config.lookback}; use fewer "
                         "--forecast-folds or a longer series")

    trained = np.zeros(len(prices))  # naive (a zero log return) until the first block
    guarded = np.zeros(len(prices))
    fold_info = []
    for index, (start, stop) in enumerate(zip(edges[:-1], edges[1:]), start=1):
        began = time.perf_counter()
        data = prepare_forecast_data(prices, lookback=config.lookback, horizon=1,
                                     borders=fold_borders(start, stop), select_on=config.select_on)
        set_seed(config.seed)
        forecaster = stage.make(config, data)
        result = fit(forecaster, data, config, verbose=False)
        verdict = guard_decision(data, network_prices(forecaster, data, "guard"), config.guard_alpha)
        anchors = data.splits["test"].anchors  # (block days,) forecast rows, start .. stop - 1
        predicted = network_prices(forecaster, data, "test")[:, 0]  # (block days,) close of the next day
        log_return = np.log(predicted / data.close[anchors])
        rows = offset + anchors
        trained[rows] = log_return
        guarded[rows] = log_return if verdict["kept"] else 0.0
        fold_info.append({"fold": index, "first_origin": str(prices.index[rows[0]].date()),
                          "last_origin": str(prices.index[rows[-1]].date()), "days": int(len(rows)),
                          "fitted_on_rows": int(start + 1), "best_epoch": result.best_epoch,
                          "guard_kept": verdict["kept"], "guard_p_value": verdict["dm_pvalue_validation"],
                          "seconds": round(time.perf_counter() - began, 1)})
        if progress is not None:
            progress(index, len(edges) - 1)
    frame = pd.DataFrame({column_name(model): trained, column_name(model, guarded=True): guarded},
                         index=prices.index)
    first = offset + edges[0]
    info = {"model": stage.label, "folds": fold_info, "first_forecast": str(prices.index[first].date()),
            "naive_days": int(first),
            "rule": f"walk-forward: fold k refits {stage.label} on every day before its block; days "
                    f"before {prices.index[first].date()} carry the naive forecast (0)"}
    return ForecastChannel(frame=frame, info=info)


def agent_columns(models: list[str]) -> list[str]:
    """What the agent reads: each network's forecast as trained (the guarded one is a baseline's)."""
    return [column_name(model) for model in models]


def forecast_channels(prices: pd.DataFrame, models: list[str], folds: int, seed: int = 0, preset: str = "",
                      csv: str | None = None) -> ForecastChannel:
    """Every network's channel side by side, refitted walk-forward (or read back from `csv`)."""
    from tqdm import tqdm

    if csv:
        return load_channel(csv, prices.index, models)
    frames, info = [], {}
    with tqdm(total=len(models) * folds, desc="forecast channel", unit="fold", dynamic_ncols=True) as bar:
        from CodeLLM.stages import forecast_stage

        for model in models:
            overrides = forecast_stage(model).config_cls.PRESETS[preset] if preset else None
            channel = walk_forward_channel(prices, model, folds, seed, overrides,
                                           progress=lambda done, total: bar.update(1))
            frames.append(channel.frame)
            info[model] = channel.info
    return ForecastChannel(frame=pd.concat(frames, axis=1), info=info)


def save_channel(channel: ForecastChannel, path: Path) -> None:
    """forecasts.csv: date and each column, so a re-run can reuse the forecasts (--forecast-csv)."""
    from common.runs import atomic_path

    frame = channel.frame.copy()
    frame.index = frame.index.strftime("%Y-%m-%d")
    with atomic_path(path) as tmp:
        frame.rename_axis("date").to_csv(tmp)


def load_channel(path: str | Path, index: pd.DatetimeIndex, models: list[str]) -> ForecastChannel:
    """A forecasts.csv written by save_channel for exactly these prices' days and networks."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--forecast-csv {path}: no such file (a forecasts.csv from an AgentLLM run)")
    try:
        frame = pd.read_csv(path, index_col="date", parse_dates=["date"])
    except (ValueError, pd.errors.ParserError) as error:
        raise ValueError(f"--forecast-csv {path}: not a forecasts.csv ({error})") from None
    wanted = [column_name(model, guarded) for model in models for guarded in (False, True)]
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        raise ValueError(f"--forecast-csv {path} has no columns {missing}: it was written for other "
                         "--forecast-models")
    if not frame.index.equals(index):
        raise ValueError(f"--forecast-csv {path} covers other days than these prices ({len(frame)} rows "
                         f"against {len(index)}): it must come from a run on the same prices")
    values = frame[wanted].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(f"--forecast-csv {path} holds NaN or infinite forecasts")
    return ForecastChannel(frame=frame[wanted].set_axis(index), info={"from": str(path)})
