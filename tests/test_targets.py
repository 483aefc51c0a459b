"""Forecasting targets (`--target volatility|direction`): each baseline is what it says (EWMA against a
hand recursion, HAR-RV against a direct least-squares fit, the base rate against a count of up days),
nothing is fitted on validation or test rows, the metrics match hand examples, and both stages (and
compare.py) run each target end to end on tiny settings."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss as sklearn_log_loss

from common import metrics
from common.forecast.target_baselines import EWMA_DECAY, ewma_variance, fit_har, fit_target_baselines
from common.forecast.target_report import target_metrics
from common.forecast.windows import prepare_forecast_data

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # Keras' numpy conversion notices
              pytest.mark.usefixtures("one_thread")]  # tests/conftest.py

LOOKBACK = 30  # short windows and a short series keep the end-to-end runs to seconds
START = "2011-01-01"


@pytest.fixture(scope="module")
def series(goog) -> pd.DataFrame:
    return goog.loc[START:]


@pytest.fixture(scope="module")
def volatility(series):
    return prepare_forecast_data(series, lookback=LOOKBACK, target="volatility")


@pytest.fixture(scope="module")
def direction(series):
    return prepare_forecast_data(series, lookback=LOOKBACK, target="direction")


@pytest.fixture(scope="module")
def direction_baselines(direction):
    return fit_target_baselines(direction)  # the logistic's penalty search takes a few seconds: once


def log_returns(data) -> np.ndarray:
    return np.diff(np.log(data.close))  # entry s - 1 is the return into row s


def test_targets_are_defined_as_documented(volatility, direction):
    returns = log_returns(volatility)
    anchor = int(volatility.splits["test"].anchors[3])
    week = returns[anchor:anchor + 5]  # r[t+1] .. r[t+5]
    assert np.isclose(volatility.actual_targets("test")[3], np.sqrt(252 / 5 * np.sum(week**2)))
    anchor = int(direction.splits["train"].anchors[7])
    up = float(direction.close[anchor + 1] > direction.close[anchor])
    assert direction.actual_targets("train")[7] == up
    assert set(np.unique(direction.actual_targets("test"))) <= {0.0, 1.0}
    # every day a volatility target reads lies inside its window's split
    for name in ("train", "validation", "test"):
        assert volatility.splits[name].anchors.max() + 5 < volatility.borders[name][1]


def test_the_validation_halves_share_no_day_of_a_volatility_week(volatility):
    """A volatility target reads the 5 days after its anchor: "select" and "guard" are 4 windows apart,
    so the guard's test is on weeks that the best epoch and the baselines' settings never saw."""
    select, guard = (volatility.splits[name].anchors for name in ("select", "guard"))
    assert volatility.target_days == 5
    assert guard[0] - select[-1] == volatility.target_days  # last select week ends the day before
    assert len(select) + len(guard) == len(volatility.splits["validation"].anchors) - 4


def test_ewma_is_the_riskmetrics_recursion_seeded_on_training_rows(volatility):
    returns = log_returns(volatility)
    train_stop = volatility.borders["train"][1]
    seed = np.mean(returns[:train_stop - 1] ** 2)  # the returns into rows 1 .. train_stop - 1
    variance = [seed]
    for value in returns:  # by hand: σ²[s] = 0.94 σ²[s-1] + 0.06 r[s]²
        variance.append(0.94 * variance[-1] + 0.06 * value**2)
    expected = np.sqrt(252 * np.array(variance))
    anchors = volatility.splits["test"].anchors
    forecast = fit_target_baselines(volatility).forecasts("test")["ewma"]
    assert EWMA_DECAY == 0.94
    np.testing.assert_allclose(forecast, expected[anchors], rtol=1e-12)
    assert np.isclose(ewma_variance(volatility)[1], seed)


def test_har_is_ols_on_daily_weekly_monthly_realised_variance_of_training_windows(volatility):
    squared = pd.Series(np.concatenate([[np.nan], log_returns(volatility)]) ** 2)  # row s: r[s]²
    regressors = pd.DataFrame({"daily": squared, "weekly": squared.rolling(5).mean(),
                               "monthly": squared.rolling(22).mean()}) * 252
    anchors = volatility.splits["train"].anchors
    future = squared.rolling(5).mean().shift(-5) * 252  # mean r² over t+1 .. t+5
    design = np.column_stack([np.ones(len(anchors)), regressors.to_numpy()[anchors]])
    expected, *_ = np.linalg.lstsq(design, future.to_numpy()[anchors], rcond=None)
    np.testing.assert_allclose(fit_har(volatility), expected, rtol=1e-6)  # pandas sums in another order
    np.testing.assert_allclose(future.to_numpy()[anchors], volatility.actual_targets("train") ** 2,
                               rtol=1e-12)
    assert expected[3] > 0  # the monthly term carries volatility's persistence


def test_base_rate_is_the_training_share_of_up_days(direction, direction_baselines):
    anchors = direction.splits["train"].anchors
    share = np.mean(direction.close[anchors + 1] > direction.close[anchors])
    forecasts = direction_baselines.forecasts("test")
    assert np.all(forecasts["base_rate"] == share)
    assert np.all((forecasts["logistic"] > 0) & (forecasts["logistic"] < 1))


def _changed(series: pd.DataFrame, data, split: str) -> pd.DataFrame:
    """`series` with every price from the start of `split` on moved (a different future)."""
    changed = series.copy()
    warmup = len(series) - len(data.dates)
    rows = changed.index[warmup + data.borders[split][0]:]
    rng = np.random.default_rng(0)
    moves = np.exp(np.cumsum(rng.normal(0, 0.03, len(rows))))
    changed.loc[rows, ["Open", "High", "Low", "Close"]] *= moves[:, None]
    return changed


@pytest.mark.parametrize("split", ["validation", "test"])
def test_nothing_is_fitted_on_validation_or_test_rows(series, volatility, direction, direction_baselines,
                                                      split):
    fitted_vol = fit_target_baselines(volatility)
    other_vol = fit_target_baselines(prepare_forecast_data(_changed(series, volatility, split),
                                                           lookback=LOOKBACK, target="volatility"))
    np.testing.assert_array_equal(fitted_vol.har, other_vol.har)
    assert fitted_vol.info["ewma"]["seed_daily_variance"] == other_vol.info["ewma"]["seed_daily_variance"]
    assert not np.array_equal(fitted_vol.forecasts("test")["ewma"], other_vol.forecasts("test")["ewma"])
    fitted_dir = direction_baselines
    other_dir = fit_target_baselines(prepare_forecast_data(_changed(series, direction, split),
                                                           lookback=LOOKBACK, target="direction"))
    assert fitted_dir.base_rate == other_dir.base_rate
    if split == "test":  # the logistic's penalty is chosen on validation: only test rows may not move it
        assert fitted_dir.info["logistic"]["C"] == other_dir.info["logistic"]["C"]
        np.testing.assert_array_equal(fitted_dir.logistic.coef_, other_dir.logistic.coef_)


def test_metrics_on_hand_examples():
    # QLIKE = mean(log h + y / h): (log 0.04 + 1) and (log 0.01 + 0.02 / 0.01)
    hand = np.mean([np.log(0.04) + 1, np.log(0.01) + 2])
    assert np.isclose(metrics.qlike([0.04, 0.02], [0.04, 0.01]), hand)
    # a correct forecast has the lowest expected QLIKE: here a too-calm forecast loses to the true variance
    assert metrics.qlike([0.04], [0.02]) > metrics.qlike([0.04], [0.04])
    outcomes, probabilities = [1, 0, 1, 1], [0.9, 0.2, 0.6, 0.4]
    assert np.isclose(metrics.brier_score(outcomes, probabilities), (0.01 + 0.04 + 0.16 + 0.36) / 4)
    assert np.isclose(metrics.brier_score(outcomes, probabilities), brier_score_loss(outcomes, probabilities))
    hand = -(np.log(0.9) + np.log(0.8) + np.log(0.6) + np.log(0.4)) / 4
    assert np.isclose(metrics.log_loss(outcomes, probabilities), hand)
    assert np.isclose(metrics.log_loss(outcomes, probabilities), sklearn_log_loss(outcomes, probabilities))
    assert np.isclose(metrics.log_loss([0, 1], [0.5, 0.5]), np.log(2))
    row = target_metrics("direction", np.array(outcomes, float), np.array(probabilities), np.full(4, 0.5))
    assert row["accuracy"] == 0.75 and row["up_share"] == 0.75  # calls up, down, up, down
    with pytest.raises(ValueError, match="0 / 1"):
        metrics.log_loss([2], [0.5])
    with pytest.raises(ValueError, match="positive"):
        metrics.qlike([0.01], [0.0])


def test_bad_target_settings_are_refused_with_the_fix(series):
    with pytest.raises(ValueError, match="--horizon must be 1"):
        prepare_forecast_data(series, target="direction", horizon=5)
    with pytest.raises(ValueError, match="--lookback 23 or more"):
        prepare_forecast_data(series, lookback=10, target="volatility")
    with pytest.raises(ValueError, match="--target must be one of"):
        prepare_forecast_data(series, target="returns")


STAGE_FLAGS = ["--preset", "tiny", "--start", START, "--lookback", str(LOOKBACK)]
KEYS = {"volatility": ({"last", "ewma", "har"}, {"rmse", "qlike"}, "volatility.png"),
        "direction": ({"base_rate", "logistic"}, {"log_loss", "brier", "accuracy"}, "reliability.png")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both stages on every target through their command lines, into the folders compare.py reads."""
    memory_train = pytest.importorskip("MemoryLLM.train")  # Keras / TensorFlow
    from CodeLLM import train as code_train

    root = tmp_path_factory.mktemp("targets")
    folders = {}
    for stage, main in (("memory", memory_train.main), ("code", code_train.main)):
        for target in ("price", "volatility", "direction"):
            out = root / (stage if target == "price" else f"{stage}-{target}")
            main([*STAGE_FLAGS, "--target", target, "--out", str(out)])
            folders[stage, target] = out
    return root, folders


@pytest.mark.parametrize("target", ["volatility", "direction"])
@pytest.mark.parametrize("stage", ["memory", "code"])
def test_each_stage_writes_each_target_in_the_harness_shape(runs, stage, target):
    out = runs[1][stage, target]
    saved = json.loads((out / "metrics.json").read_text())
    baselines, metric_keys, plot = KEYS[target]
    assert saved["target"] == target
    assert set(saved["forecasts"]) == {"as_trained", "guarded", *baselines}
    for values in saved["forecasts"].values():
        assert metric_keys <= set(values)
    fallback = "har" if target == "volatility" else "base_rate"
    assert saved["guard"]["against"] == fallback
    if not saved["guard"]["kept"]:
        assert saved["forecasts"]["guarded"] == {**saved["forecasts"][fallback]}
    assert (out / plot).exists() and not (out / "predictions.png").exists()
    assert json.loads((out / "config.json").read_text())["target"] == target


def test_compare_reports_every_target_without_retraining(runs):
    from CodeLLM import compare

    root, folders = runs
    before = {key: (folder / "metrics.json").stat().st_mtime_ns for key, folder in folders.items()}
    result = compare.main([*STAGE_FLAGS, "--memory-out", str(root / "memory"),
                           "--code-out", str(root / "code"), "--out", str(root / "comparison"),
                           "--speed-lookbacks", "", "--threads", "1",
                           "--targets", "price,volatility,direction"])
    assert before == {key: (folder / "metrics.json").stat().st_mtime_ns for key, folder in folders.items()}
    assert list(result["targets"]) == ["volatility", "direction"]
    assert list(result["targets"]["volatility"]["table"]) == [
        "LSTM as trained", "LSTM guarded", "Transformer as trained", "Transformer guarded",
        "last", "ewma", "har"]
    assert "base_rate" in result["targets"]["direction"]["table"]
    text = (root / "comparison" / "comparison.md").read_text()
    assert "## Volatility" in text and "## Direction" in text
    for plot in ("volatility.png", "reliability.png"):
        assert (root / "comparison" / plot).exists()
    with pytest.raises(ValueError, match="--targets"):
        compare.parse_targets("price,returns")
