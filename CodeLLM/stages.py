"""The two forecasting stages by model name, imported on demand (TensorFlow is slow to load): one map
for compare.py and the benchmarks, so a third forecasting stage is added in one place.

    stage = forecast_stage("lstm")              # MemoryLLM's harness Stage: .config_cls, .make, .label
    config_cls, run = stage_runner("transformer")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MODELS = ("lstm", "transformer")


def _module(model: str) -> Any:
    """The stage's train module (the one place where Stage 4 imports Stage 3, for the comparison)."""
    if model == "lstm":
        from MemoryLLM import train
    elif model == "transformer":
        from CodeLLM import train
    else:
        raise ValueError(f"unknown forecasting model {model!r}: use one of {', '.join(MODELS)}")
    return train


def forecast_stage(model: str) -> Any:
    """The harness's `Stage` of a network (common.forecast.harness.Stage)."""
    return _module(model).STAGE


def stage_runner(model: str) -> tuple[type, Callable[..., dict[str, Any]]]:
    """(config class, run(config) function) of a stage."""
    module = _module(model)
    return module.STAGE.config_cls, module.run


def weights_file(model: str) -> str:
    """The file name of a trained network in a run folder (what a comparison checks is there)."""
    return forecast_stage(model).make.weights_file
