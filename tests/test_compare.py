"""CodeLLM/compare.py: it trains what is missing on identical settings, refuses to compare runs made
on different data, writes the table and the four plots, and its speed harness is fair."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("MemoryLLM.train")  # the comparison needs both stages (Keras / TensorFlow)
from CodeLLM import compare  # noqa: E402
from CodeLLM.model import TransformerForecaster, count_parameters  # noqa: E402
from CodeLLM.speed import matching_lstm, speed_vs_lookback  # noqa: E402
from CodeLLM.train import CodeConfig  # noqa: E402
from common.config import parse_config  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # Keras' numpy conversion notices
              pytest.mark.usefixtures("one_thread")]  # tests/conftest.py




def test_compare_dry_run_trains_missing_stages_and_writes_everything(tmp_path):
    memory, code, out = tmp_path / "memory", tmp_path / "code", tmp_path / "comparison"
    result = compare.main(["--dry-run", "--memory-out", str(memory), "--code-out", str(code),
                           "--out", str(out), "--folds", "2", "--speed-lookbacks", "8,16", "--threads", "1"])
    for name in ("comparison.md", "comparison.json", "predictions.png", "cumulative_error.png",
                 "interpretability.png", "speed_vs_lookback.png"):
        assert (out / name).exists(), name
    assert (memory / "metrics.json").exists() and (code / "metrics.json").exists()
    saved = json.loads((out / "comparison.json").read_text())
    assert list(saved["table"]) == ["LSTM as trained", "LSTM guarded", "Transformer as trained",
                                    "Transformer guarded", "naive", "drift", "ar", "moving_average", "linear"]
    for row in saved["table"].values():
        for key in ("rmse", "mae", "mape", "r2", "directional_accuracy", "rmse_vs_naive", "r2_oos_returns",
                    "dm_pvalue"):
            assert key in row
    assert saved["table"]["naive"]["rmse_vs_naive"] == 1.0
    assert saved["table"]["LSTM as trained"]["framework"].startswith("tensorflow")
    assert saved["table"]["Transformer as trained"]["framework"].startswith("pytorch")
    lookback = saved["settings"]["lookback"]
    for profile in ("Transformer cross-attention", "Transformer attention rollout",
                    "Transformer |input x gradient|", "LSTM |input x gradient|"):
        assert len(saved["interpretability"][profile]) == lookback
        assert np.isclose(sum(saved["interpretability"][profile]), 1.0)
    assert [row["fold"] for row in saved["walk_forward"]["folds"]] == [1, 2]
    assert "LSTM as trained" in saved["walk_forward"]["summary"]
    test_starts = [row["test"][0] for row in saved["walk_forward"]["folds"]]
    assert (test_starts == sorted(test_starts)
            and saved["walk_forward"]["folds"][0]["test"][1] < test_starts[1])
    assert saved["speed"]["lookbacks"] == [8, 16]
    assert "| LSTM as trained |" in (out / "comparison.md").read_text()
    assert result["table"]["Transformer guarded"]["rmse"] == saved["table"]["Transformer guarded"]["rmse"]

    # The runs now match these settings: nothing to retrain. Other settings: a reason to retrain.
    config = parse_config(compare.CompareConfig,
                          ["--dry-run", "--memory-out", str(memory), "--code-out", str(code)])
    assert compare.mismatch(code, config, ("model.pt",)) is None
    other = parse_config(compare.CompareConfig, ["--dry-run", "--lookback", "30"])
    assert "lookback" in compare.mismatch(code, other, ("model.pt",))

    # Runs scored on different targets are refused rather than compared.
    frame = pd.read_csv(code / "predictions.csv")
    frame.loc[0, "actual"] += 1.0
    frame.to_csv(code / "predictions.csv", index=False)
    with pytest.raises(ValueError, match="different test targets"):
        compare.check_same_targets(memory, code)


def test_stage_configs_carry_the_data_settings():
    config = parse_config(compare.CompareConfig, ["--lookback", "30", "--horizon", "3", "--csv", "x.csv",
                                                  "--train-fraction", "0.6", "--dry-run", "--seed", "7",
                                                  "--code-out", "/tmp/run"])
    memory, code = compare.stage_configs(config)
    for stage in (memory, code):
        for key in compare.DATA_KEYS:
            assert getattr(stage, key) == getattr(config, key), key
        assert stage.seed == 7
    assert code.out == "/tmp/run" and code.d_model == 8  # the dry-run preset of the stage itself


def test_speed_harness_compares_models_of_the_same_size():
    transformer = TransformerForecaster(n_features=11)
    lstm = matching_lstm(transformer, 11, 1)
    assert abs(count_parameters(lstm) - count_parameters(transformer)) / count_parameters(transformer) < 0.02
    config = CodeConfig(d_model=8, heads=2, ff_dim=16, encoder_layers=1)
    result = speed_vs_lookback(config, [4, 12], batch_size=4, batches=2, budget_seconds=0.01)
    for name in ("LSTM", "Transformer"):
        assert len(result[name]["train_ms_per_window"]) == 2
        assert all(value > 0
                   for value in result[name]["train_ms_per_window"] + result[name]["predict_ms_per_window"])
