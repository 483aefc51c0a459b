"""common.forecast.harness: the harness's rules, checked with a tiny numpy forecaster (no framework), on
synthetic series whose answer is known: the best epoch is chosen on the "select" half, the guard
keeps a model with real skill and drops one without, every forecast of the metrics.json contract is
written, and the whole test block is scored."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from common.forecast import harness
from common.forecast.harness import ForecastConfig, Stage, learning_rate_at
from common.forecast.synthetic import lag_return_series
from common.forecast.walk_forward import walk_forward
from common.forecast.windows import prepare_forecast_data


class LinearForecaster:
    """A linear model of the window's last days, trained by full-batch gradient steps: fast and exact."""

    label = "linear-net"
    weights_file = "weights.json"

    def __init__(self, config: ForecastConfig, data) -> None:
        self.days = 3
        self.weights = np.zeros((self.days * data.n_features + 1, data.horizon))

    def _design(self, inputs: np.ndarray) -> np.ndarray:
        flat = inputs[:, -self.days:].reshape(len(inputs), -1)
        return np.hstack([flat, np.ones((len(inputs), 1))])

    def train_epoch(self, train, learning_rate: float, epoch: int) -> float:
        design = self._design(train.inputs)
        residual = design @ self.weights - train.targets
        self.weights -= 2 * learning_rate * design.T @ residual / len(design)
        return float(np.mean(residual**2))

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self._design(inputs) @ self.weights

    def get_state(self):
        return self.weights.copy()

    def set_state(self, state) -> None:
        self.weights = state.copy()

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.weights.tolist()))

    def load(self, path: Path) -> None:
        self.weights = np.array(json.loads(path.read_text()))

    def params(self) -> int:
        return self.weights.size

    def lag_profiles(self, inputs: np.ndarray) -> dict[str, np.ndarray]:
        share = np.zeros(inputs.shape[1])
        share[-self.days:] = 1 / self.days
        return {"weights": share}

    def describe(self) -> dict:
        return {"framework": "numpy"}


@dataclass
class LinearConfig(ForecastConfig):
    pass


STAGE = Stage(name="TestStage", model="linear", label="linear-net", config_cls=LinearConfig,
              make=LinearForecaster)


def write_series(path: Path, **kwargs) -> str:
    prices = lag_return_series(n_days=1200, **kwargs)
    prices.to_csv(path, index_label="Date")
    return str(path)


def config_for(tmp_path: Path, csv: str, **changes) -> LinearConfig:
    settings = dict(csv=csv, lookback=10, epochs=60, learning_rate=0.05, patience=0, warmup_epochs=0,
                    out=str(tmp_path / "run"))
    settings.update(changes)
    return LinearConfig(**settings)


def test_learning_rate_warms_up_then_decays_to_the_floor():
    config = ForecastConfig(epochs=20, warmup_epochs=2, learning_rate=1.0, min_lr_ratio=0.1)
    rates = [learning_rate_at(config, epoch) for epoch in range(1, 21)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[2:], rates[3:])) and rates[-1] == pytest.approx(0.1)


def test_a_real_signal_is_learned_kept_and_scored_on_the_whole_test_block(tmp_path):
    csv = write_series(tmp_path / "lag1.csv", lag=1, phi=0.5, seed=0)
    metrics = harness.run(STAGE, config_for(tmp_path, csv), verbose=False)
    forecasts = metrics["forecasts"]
    for name in ("as_trained", "guarded", "naive", "drift", "ar", "moving_average", "linear"):
        for key in ("rmse", "mae", "mape", "r2", "rmse_vs_naive", "r2_oos_returns", "directional_accuracy",
                    "dm_stat", "dm_pvalue"):
            assert key in forecasts[name], (name, key)
    assert metrics["guard"]["kept"] and metrics["guard"]["dm_pvalue_validation"] < 0.05
    assert forecasts["guarded"] == forecasts["as_trained"]
    assert forecasts["as_trained"]["rmse_vs_naive"] < 0.92  # the oracle is at sqrt(0.75) = 0.87
    assert forecasts["ar"]["rmse_vs_naive"] < 0.92  # AR(p) finds lag 1 too
    assert metrics["test"] == forecasts["guarded"]
    assert metrics["rmse_vs_naive"] == forecasts["guarded"]["rmse_vs_naive"]
    # every day of the test split is a target: the first scored date is the split's first row
    assert metrics["scored"]["first"] == metrics["split"]["test"][0]
    assert metrics["scored"]["last"] == metrics["split"]["test"][1]
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] == 60
    for name in ("metrics.json", "predictions.csv", "config.json", "scalers.json", "history.csv",
                 "weights.json", "predictions.png", "cumulative_error.png", "returns_scatter.png", "loss.png",
                 "interpretability.png"):
        assert (tmp_path / "run" / name).exists(), name
    reloaded, data, _, _ = harness.load_run(STAGE, tmp_path / "run")
    np.testing.assert_allclose(harness.network_prices(reloaded, data, "test")[:, 0],
                               np.loadtxt(tmp_path / "run" / "predictions.csv", delimiter=",", skiprows=1,
                                          usecols=4), rtol=1e-12)


def test_a_random_walk_ends_guarded_at_naive(tmp_path):
    csv = write_series(tmp_path / "walk.csv", lag=1, phi=0.0, seed=1)
    metrics = harness.run(STAGE, config_for(tmp_path, csv), verbose=False)
    assert not metrics["guard"]["kept"]
    assert metrics["forecasts"]["guarded"]["rmse"] == metrics["forecasts"]["naive"]["rmse"]
    assert metrics["forecasts"]["as_trained"]["rmse"] != metrics["forecasts"]["naive"]["rmse"]  # still shown


def test_the_best_epoch_is_chosen_on_the_select_half_only(tmp_path):
    csv = write_series(tmp_path / "lag1.csv", lag=1, phi=0.5, seed=2)
    config = config_for(tmp_path, csv, epochs=8)
    data = prepare_forecast_data(lag_return_series(n_days=1200, lag=1, phi=0.5, seed=2), lookback=10)
    forecaster = LinearForecaster(config, data)
    result = harness.fit(forecaster, data, config, verbose=False)
    losses = result.history["val_loss"]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert harness.scaled_loss(forecaster, data.splits["select"]) == pytest.approx(min(losses))
    halves = len(data.splits["select"].anchors) + len(data.splits["guard"].anchors)
    assert halves == len(data.splits["validation"].anchors)  # horizon 1: no window between the halves
    assert data.splits["select"].anchors[-1] < data.splits["guard"].anchors[0]


def test_walk_forward_refits_every_fold_and_pools_a_dm_test(tmp_path):
    csv = write_series(tmp_path / "lag1.csv", lag=1, phi=0.5, seed=3)
    result = walk_forward([(STAGE, config_for(tmp_path, csv, epochs=20))], folds=3, verbose=False)
    assert [row["fold"] for row in result["folds"]] == [1, 2, 3]
    starts = [row["test"][0] for row in result["folds"]]
    assert starts == sorted(starts) and result["folds"][0]["test"][1] < starts[1]
    assert any(row["overlaps_headline"] for row in result["folds"])
    summary = result["summary"]["linear-net as trained"]
    assert summary["mean"] < 0.95 and summary["pooled_dm_pvalue"] < 0.01


class FailingForecaster(LinearForecaster):
    def train_epoch(self, train, learning_rate: float, epoch: int) -> float:
        if epoch == 3:
            raise RuntimeError("the machine fell over")
        return super().train_epoch(train, learning_rate, epoch)


def test_a_failed_run_leaves_the_previous_run_exactly_as_it_was(tmp_path):
    csv = write_series(tmp_path / "lag1.csv", lag=1, phi=0.5, seed=4)
    config = config_for(tmp_path, csv, epochs=5)
    harness.run(STAGE, config, verbose=False)
    out = tmp_path / "run"
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    failing = Stage(name="TestStage", model="linear", label="linear-net", config_cls=LinearConfig,
                    make=FailingForecaster)
    with pytest.raises(RuntimeError, match="fell over"):
        harness.run(failing, config, verbose=False)
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before
    with pytest.raises(ValueError, match="--learning-rate"):
        harness.run(STAGE, config_for(tmp_path, csv, learning_rate=0.0), verbose=False)
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before
