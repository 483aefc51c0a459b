"""MemoryLLM: smoke runs of train / evaluate / interpret, determinism, no leakage from the test
split, causal features, an honest naive baseline, and clear errors for bad inputs.

The runs use --dry-run (2 epochs of a tiny LSTM on the real GOOG windows): they check the plumbing,
not the accuracy, which benchmarks/bench_memoryllm.py measures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error

from common.config import preset_config
from common.forecast import harness
from common.forecast.prices import load_prices
from common.forecast.windows import make_features, prepare_forecast_data
from common.paths import DATA_DIR, REPO_ROOT
from common.seed import set_seed

train = pytest.importorskip("MemoryLLM.train")  # imports Keras / TensorFlow
from MemoryLLM import evaluate, forecaster  # noqa: E402

# Keras' own numpy conversion trips a NumPy 2 deprecation notice; it is not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RUN_FILES = [
    "metrics.json", "predictions.csv", "predictions.png", "cumulative_error.png", "returns_scatter.png",
    "loss.png", "interpretability.png", "config.json", "history.csv", "model.weights.h5", "scalers.json",
]
FORECASTS = {"as_trained", "guarded", "naive", "drift", "ar", "moving_average", "linear"}


@pytest.fixture(scope="module")
def goog() -> pd.DataFrame:
    return load_prices("GOOG", source="embedded")


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("memoryllm")
    metrics = train.main(["--dry-run", "--out", str(out)])
    return out, metrics


def test_dry_run_writes_every_result(dry_run):
    out, metrics = dry_run
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    assert not [p.name for p in out.iterdir() if ".partial" in p.name or ".tmp" in p.name]  # atomic writes
    written = json.loads((out / "metrics.json").read_text())
    assert written == json.loads(json.dumps(metrics))
    for key in ("stage", "model", "lookback", "horizon", "data", "split", "scored", "forecasts", "guard",
                "test", "rmse_vs_naive", "baselines", "train_seconds", "epochs_run", "best_epoch", "params",
                "framework", "seconds_per_epoch", "inference_ms_per_window"):
        assert key in metrics, key
    assert ((metrics["stage"], metrics["model"], metrics["lookback"], metrics["horizon"])
            == ("MemoryLLM", "lstm", 60, 1))
    assert set(metrics["forecasts"]) == FORECASTS
    assert set(metrics["guard"]) >= {"kept", "rule", "dm_pvalue_validation"}
    assert metrics["test"] == metrics["forecasts"]["guarded"]
    assert metrics["epochs_run"] >= 1 and 1 <= metrics["best_epoch"] <= metrics["epochs_run"]
    assert metrics["params"] > 0
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns[:6]) == ["date", "step", "anchor_close", "actual", "as_trained",
                                             "guarded"]


def test_evaluate_reloads_the_trained_model(dry_run):
    out, metrics = dry_run
    evaluated = evaluate.main(["--out", str(out)])
    assert (out / "evaluate" / "default" / "metrics.json").is_file()
    for name in ("as_trained", "guarded", "naive", "ar", "linear"):  # same series, scalers and weights
        for key, value in metrics["forecasts"][name].items():
            if value is None:
                assert evaluated["forecasts"][name][key] is None
            else:
                assert (evaluated["forecasts"][name][key]
                        == pytest.approx(value, rel=1e-6, abs=1e-9)), (name, key)
    assert evaluated["guard"] == metrics["guard"]


def test_evaluate_on_another_csv(dry_run, goog, tmp_path):
    out, _ = dry_run
    csv = tmp_path / "other.csv"
    goog.iloc[200:].assign(Close=goog["Close"].iloc[200:] * 0.5).to_csv(csv)
    evaluated = evaluate.main(["--out", str(out), "--csv", str(csv)])
    assert evaluated["data"]["source"] == f"csv:{csv}"
    assert (out / "evaluate" / "other" / "predictions.png").is_file()
    assert (out / "metrics.json").is_file()  # the training run's own files are untouched


def test_same_seed_same_metrics(dry_run, tmp_path):
    _, first = dry_run
    second = train.main(["--dry-run", "--out", str(tmp_path / "again")])
    assert second["test"] == first["test"]
    history = pd.read_csv(dry_run[0] / "history.csv").drop(columns="seconds")
    again = pd.read_csv(tmp_path / "again" / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(history, again)  # training itself is repeatable, not just the result


def test_saved_weights_reload_to_identical_forecasts(goog, tmp_path):
    data = prepare_forecast_data(goog)
    config = preset_config(train.MemoryConfig, "tiny")
    forecaster = train.KerasLSTMForecaster(config, data)
    rng = np.random.default_rng(0)
    forecaster.set_state([w + 0.1 * rng.standard_normal(w.shape).astype(w.dtype)
                          for w in forecaster.get_state()])
    forecaster.save(tmp_path / "model.weights.h5")
    reloaded = train.KerasLSTMForecaster(config, data)
    reloaded.load(tmp_path / "model.weights.h5")
    inputs = data.splits["test"].inputs
    np.testing.assert_array_equal(forecaster.predict(inputs), reloaded.predict(inputs))
    assert not np.allclose(forecaster.predict(inputs), data.scaled_zero_return())
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes((tmp_path / "model.weights.h5").read_bytes()[:500])
    with pytest.raises(ValueError, match="not a MemoryLLM weights file"):
        reloaded.load(broken)


def test_untrained_model_is_close_to_the_naive_forecast(goog):
    data = prepare_forecast_data(goog, horizon=3)
    forecaster = train.KerasLSTMForecaster(preset_config(train.MemoryConfig, "tiny", horizon=3), data)
    naive = np.repeat(data.anchor_close("test")[:, None], 3, axis=1)
    np.testing.assert_allclose(data.to_prices("test", forecaster.predict(data.splits["test"].inputs)), naive,
                               rtol=2e-3)


def test_test_prices_cannot_influence_training(goog):
    """The split has no overlap, the scalers see training rows only, and fitting (early stopping,
    best epoch) never reads the test split: changing test prices changes nothing."""
    config = preset_config(train.MemoryConfig, "tiny", horizon=2)
    data = prepare_forecast_data(goog, horizon=2)
    start, stop = data.borders["test"]
    assert data.borders["train"][1] == data.borders["validation"][0] <= data.borders["validation"][1] == start
    last_target = {name: w.anchors.max() + data.horizon for name, w in data.splits.items()}
    assert last_target["train"] < data.borders["validation"][0]  # targets stay inside their split
    assert last_target["validation"] < start

    changed = goog.copy()
    warmup = len(goog) - len(data.dates)
    rows = changed.index[warmup + start:]  # every price of the test period
    changed.loc[rows, ["Open", "High", "Low", "Close"]] *= np.linspace(1.0, 3.0, len(rows))[:, None]
    changed.loc[rows, "Volume"] *= 7
    other = prepare_forecast_data(changed, horizon=2)
    for name in ("train", "validation", "select", "guard"):
        np.testing.assert_array_equal(data.splits[name].inputs, other.splits[name].inputs)
        np.testing.assert_array_equal(data.splits[name].targets, other.splits[name].targets)
    np.testing.assert_array_equal(data.feature_scaler.mean, other.feature_scaler.mean)
    np.testing.assert_array_equal(data.target_scaler.std, other.target_scaler.std)
    assert not np.array_equal(data.splits["test"].inputs, other.splits["test"].inputs)

    results, predictions = [], []
    for prepared in (data, other):
        set_seed(config.seed)
        forecaster = train.KerasLSTMForecaster(config, prepared)
        result = harness.fit(forecaster, prepared, config, verbose=False)
        results.append(result.history["val_loss"] + result.history["loss"] + [result.best_epoch])
        predictions.append(forecaster.predict(prepared.splits["guard"].inputs))
    assert results[0] == results[1]
    np.testing.assert_array_equal(*predictions)


def test_features_are_causal(goog):
    full = make_features(goog)
    for cut in (100, 500, 1500):
        truncated = make_features(goog.iloc[:cut])
        pd.testing.assert_frame_equal(truncated, full.iloc[:cut])


def test_naive_baseline_is_previous_close(dry_run):
    """Independently of common: read the CSV, predict each test day's close by the day before's."""
    _, metrics = dry_run
    raw = pd.read_csv(DATA_DIR / "GOOG.csv", parse_dates=["Date"]).set_index("Date").sort_index()
    close = raw["Close"]
    first, last = metrics["split"]["test"]
    test_days = close.loc[first:last].index  # every day of the test split is a target
    actual = close.loc[test_days].to_numpy()
    previous = close.shift(1).loc[test_days].to_numpy()
    naive = metrics["baselines"]["naive"]
    assert naive["rmse"] == pytest.approx(mean_squared_error(actual, previous) ** 0.5, rel=1e-12)
    assert naive["mae"] == pytest.approx(mean_absolute_error(actual, previous), rel=1e-12)
    assert naive["mae_vs_naive"] == pytest.approx(1.0, rel=1e-12)
    assert (metrics["scored"]["first"], metrics["scored"]["last"]) == (first, last)


def test_lag_saliency_is_a_distribution_over_lags(goog):
    data = prepare_forecast_data(goog, lookback=20)
    from MemoryLLM.model import build_model

    model = build_model(20, data.n_features, 1, data.scaled_zero_return(), units=8, head_init_std=0.0)
    inputs = data.splits["test"].inputs[:50]
    untrained = forecaster.lag_saliency(model, inputs)
    np.testing.assert_allclose(untrained, np.full(20, 1 / 20))  # an exactly naive model uses no lag
    rng = np.random.default_rng(1)
    model.set_weights([w + 0.2 * rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])
    saliency = forecaster.lag_saliency(model, inputs)
    assert saliency.shape == (20,) and np.all(saliency >= 0)
    assert saliency.sum() == pytest.approx(1.0)
    assert not np.allclose(saliency, 1 / 20)


def test_bad_inputs_give_clear_errors(goog, tmp_path):
    no_close = tmp_path / "no_close.csv"
    goog.drop(columns=["Close", "Adj Close"], errors="ignore").to_csv(no_close)
    with pytest.raises(ValueError, match="Close"):
        train.main(["--csv", str(no_close), "--out", str(tmp_path / "a")])
    short = tmp_path / "short.csv"
    goog.iloc[:150].to_csv(short)
    with pytest.raises(ValueError, match="lookback"):
        train.main(["--csv", str(short), "--out", str(tmp_path / "b")])
    with pytest.raises(ValueError, match="horizon"):
        train.main(["--horizon", "0", "--out", str(tmp_path / "c")])
    with pytest.raises(ValueError, match="units"):
        train.run(replace(train.MemoryConfig(), units=0, out=str(tmp_path / "c")))
    assert not any((tmp_path / name).exists() for name in "abc")  # nothing written for a bad input
    with pytest.raises(FileNotFoundError, match="train"):
        evaluate.main(["--out", str(tmp_path / "never_trained")])


def test_command_line_error_is_one_clean_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "MemoryLLM" / "train.py"), "--horizon", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --horizon must be at least 1")
