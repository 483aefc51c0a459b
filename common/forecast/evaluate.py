"""Reload a trained forecasting run (weights, scalers, config) and score it on any price series,
without retraining and without refitting anything of the network on the new series. Shared by
MemoryLLM/evaluate.py and CodeLLM/evaluate.py.

The new series is windowed with the *training* run's feature and target scalers and feature list
and split by the same fractions; the baselines are fitted on its own training split (they are not
the model under test). The guarded forecast re-runs the guard on the new series' validation half:
a model kept on GOOG must earn its place again on another stock. Results go to
OUT/evaluate/<series>/, never over the training run's own files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import option
from common.forecast.harness import Stage, load_run, print_summary, report_run
from common.forecast.prices import SOURCES
from common.paths import folder_name
from common.runs import run_transaction, write_json


@dataclass
class EvaluateConfig:
    out: str = option("", "the training run's folder (default: the stage's outputs folder)")
    ticker: str | None = option(None, "evaluate on this ticker instead of the training series")
    csv: str | None = option(None, "evaluate on prices from this CSV (needs Date and Close columns)")
    start: str | None = option(None, "first date of the new series, YYYY-MM-DD")
    end: str | None = option(None, "last date of the new series, YYYY-MM-DD")
    source: str | None = option(None, "where --ticker comes from", choices=SOURCES)
    name: str | None = option(None, "subfolder under --out/evaluate (default: the series' name)")


def series_name(config: EvaluateConfig) -> str:
    """A folder name for the evaluated series: the CSV's stem, the ticker, or 'default'."""
    name = Path(config.csv).stem if config.csv else (config.ticker or "default")
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "series"


def evaluate(stage: Stage, config: EvaluateConfig, verbose: bool = True) -> dict[str, Any]:
    """Score the run in `config.out` on the series `config` names; returns the new metrics."""
    overrides = {name: getattr(config, name) for name in ("ticker", "csv", "start", "end", "source")
                 if getattr(config, name) is not None}
    if config.ticker and not config.csv:
        overrides["csv"] = None  # a ticker replaces a CSV the training run may have used
    name = folder_name(config.name or series_name(config), "--name")  # first: nothing is read or written
    forecaster, data, info, run_config = load_run(stage, config.out, overrides)
    target = Path(config.out) / "evaluate" / name
    # A transaction, as a training run: a failed evaluation leaves an earlier one of this name intact.
    with run_transaction(target, stage=f"{stage.name} evaluate") as staging:
        write_json(staging / "config.json", {"evaluate": config, "model_config": run_config})
        metrics = report_run(stage, forecaster, data, run_config, info, staging,
                             extra={"trained_run": str(config.out)})
    if verbose:
        print_summary(stage, metrics, target)
    return metrics
