"""Config parsing, atomic writes, seeding, and the demo's indicator chart."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from common.config import (
    build_parser,
    config_from_dict,
    finite,
    option,
    parse_config,
    preset_config,
    require,
    require_at_least,
    shaping_options,
)
from common.forecast import show_data
from common.forecast.report import write_forecast_run
from common.forecast.windows import prepare_forecast_data
from common.runs import atomic_path, read_json, write_json
from common.seed import set_seed


@dataclass
class ToyConfig:
    lookback: int = option(60, "days of history (70 % of them train)")
    rate: float = option(1e-3, "learning rate")
    name: str | None = option(None, "optional name")
    cell: str = option("rnn", "which cell", choices=["rnn", "gru", "lstm"])
    dry_run: bool = option(False, "tiny settings")


def test_config_flags_defaults_and_help():
    assert parse_config(ToyConfig, []) == ToyConfig()
    config = parse_config(ToyConfig, ["--lookback", "30", "--rate", "0.5", "--name", "x", "--cell", "gru",
                                      "--dry-run"])
    assert config == ToyConfig(lookback=30, rate=0.5, name="x", cell="gru", dry_run=True)
    help_text = build_parser(ToyConfig).format_help()
    assert "--lookback" in help_text and "days of history (70 % of them train) (default: 60)" in help_text
    with pytest.raises(SystemExit):
        parse_config(ToyConfig, ["--cell", "transformer"])


@dataclass
class PresetToy:
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"tiny": {"lookback": 8, "rate": 0.1}}
    lookback: int = option(60, "days of history")
    rate: float = option(1e-3, "learning rate")
    preset: str = option("", "named settings")


def test_a_preset_is_resolved_once_and_the_flags_given_win():
    tiny = PresetToy(lookback=8, rate=0.1, preset="tiny")
    assert parse_config(PresetToy, ["--preset", "tiny"]) == tiny
    assert parse_config(PresetToy, ["--dry-run"]) == tiny  # --dry-run is short for --preset tiny
    assert parse_config(PresetToy, ["--lookback", "12", "--preset", "tiny"]) == PresetToy(12, 0.1, "tiny")
    assert parse_config(PresetToy, []) == PresetToy()
    assert preset_config(PresetToy, "tiny", rate=0.5) == PresetToy(8, 0.5, "tiny")
    with pytest.raises(SystemExit):
        parse_config(PresetToy, ["--preset", "huge"])
    with pytest.raises(ValueError, match="unknown preset 'huge' for PresetToy: known presets are tiny"):
        preset_config(PresetToy, "huge")


@dataclass
class CheckedToy:
    epochs: int = option(30, "epoch budget")
    patience: int = option(10, "epochs without improvement")
    rate: float = option(1e-3, "learning rate", shaping=True)
    units: int = option(64, "hidden size", shaping=True)


@dataclass
class WiderToy(CheckedToy):
    units: int = option(128, "re-declared for its default only")
    heads: int = option(4, "attention heads", shaping=True)


def test_require_names_the_flag_the_rule_and_the_value_given():
    config = CheckedToy(epochs=0, patience=-1, rate=math.inf)
    with pytest.raises(ValueError, match=r"^--epochs must be at least 1, got 0$"):
        require_at_least(config, 1, "epochs")
    with pytest.raises(ValueError, match=r"^--patience must be 0 or more, got -1$"):
        require_at_least(config, 0, "patience")
    with pytest.raises(ValueError, match=r"^--rate must be a positive number, got inf$"):
        require(config, finite(config.rate) > 0, "rate", "a positive number")  # infinity fails, as NaN does
    require_at_least(CheckedToy(), 1, "epochs", "patience")  # a good config passes silently


def test_shaping_options_are_read_from_the_fields_and_survive_a_redeclared_default():
    assert shaping_options(CheckedToy) == ("rate", "units")
    assert shaping_options(WiderToy) == ("rate", "units", "heads")


def test_config_from_dict_ignores_unknown_keys():
    assert config_from_dict(ToyConfig, {"lookback": 7, "removed_option": 1}).lookback == 7


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"rmse": 1.0})
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half a res")
        raise RuntimeError("crash mid-write")
    assert read_json(path) == {"rmse": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left behind


def test_write_json_converts_numpy_and_nan(tmp_path):
    write_json(tmp_path / "x.json", {"a": np.float32(1.5), "b": np.arange(2), "c": float("nan")})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1.5, "b": [0, 1], "c": None}


def test_read_json_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")


def test_set_seed_repeats_random_streams():
    set_seed(3)
    first = (random.random(), np.random.rand())
    set_seed(3)
    assert (random.random(), np.random.rand()) == first


def test_demo_chart_is_written(tmp_path):
    show_data.main(["--out", str(tmp_path)])
    chart = tmp_path / "GOOG_indicators.png"
    assert chart.exists() and chart.stat().st_size > 50_000
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_forecast_run_writes_every_file(goog, tmp_path):
    data = prepare_forecast_data(goog, lookback=20, horizon=2)
    naive = np.repeat(data.anchor_close("test")[:, None], 2, axis=1)
    forecasts = {name: naive for name in ("naive", "drift", "ar", "moving_average", "linear")}
    result = write_forecast_run(
        tmp_path, data, {"as_trained": naive * 1.05, "guarded": naive * 1.05, **forecasts},
        header={"stage": "Test", "model": "toy"}, data_info={"source": "embedded:GOOG"},
        guard={"kept": True}, history={"loss": [1.0, 0.5], "val_loss": [1.1, 0.9]}, extra={"params": 0},
    )
    for name in ("metrics.json", "predictions.csv", "predictions.png", "cumulative_error.png",
                 "returns_scatter.png", "loss.png"):
        assert (tmp_path / name).exists(), name
    saved = read_json(tmp_path / "metrics.json")
    assert (saved["stage"] == "Test" and saved["horizon"] == 2
            and len(saved["forecasts_by_horizon"]["guarded"]) == 2)
    assert saved["series"] == "GOOG"
    assert set(saved["baselines"]) == {"naive", "drift", "ar", "moving_average", "linear"}
    assert saved["test"]["rmse"] == pytest.approx(result["test"]["rmse"])
    assert saved["rmse_vs_naive"] > 1.0
