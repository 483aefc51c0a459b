"""Splits, windows, scalers and baselines: the guarantees that keep the forecasts honest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common import metrics
from common.forecast.baselines import baseline_forecasts, moving_average_forecast, naive_forecast
from common.forecast.report import score
from common.forecast.stats import diebold_mariano, pesaran_timmermann
from common.forecast.windows import (
    TRAIN_TAIL_SHARE,
    WARMUP_ROWS,
    Standardizer,
    chronological_borders,
    make_features,
    prepare_forecast_data,
    walk_forward_borders,
)


@pytest.fixture(scope="module")
def prepared(goog):
    return prepare_forecast_data(goog, lookback=60, horizon=3)


def test_splits_are_chronological_and_disjoint(prepared):
    borders = prepared.borders
    assert borders["train"][0] == 0 and borders["test"][1] == len(prepared.dates)
    assert borders["train"][1] == borders["validation"][0] and borders["validation"][1] == borders["test"][0]
    dates = prepared.split_dates()
    assert dates["train"][1] < dates["validation"][0] < dates["validation"][1] < dates["test"][0]


def test_no_target_crosses_a_border_and_every_day_is_scored(prepared):
    for name, (start, stop) in prepared.borders.items():
        anchors = prepared.splits[name].anchors
        first_target = start if name != "train" else prepared.lookback  # train: the first whole window's
        assert anchors.min() + 1 == first_target  # validation / test: every day of the split is a target
        assert anchors.max() + prepared.horizon == stop - 1  # the last target is the split's last day
        assert np.all(np.diff(anchors) == 1)
    # inputs may reach back before the border (the past is known), never after the anchor
    test = prepared.splits["test"]
    assert test.anchors[0] - prepared.lookback + 1 < prepared.borders["test"][0]


def test_validation_is_halved_in_time_order_and_the_halves_share_no_target_day(prepared):
    select, guard, validation = (prepared.splits[name] for name in ("select", "guard", "validation"))
    gap = prepared.horizon - 1  # a window's targets are its anchor's next `horizon` days
    middle = len(select.anchors)
    np.testing.assert_array_equal(select.anchors, validation.anchors[:middle])
    np.testing.assert_array_equal(guard.anchors, validation.anchors[middle + gap:])
    assert abs(len(select.anchors) - len(guard.anchors)) <= 1
    select_days = set(prepared.target_dates("select").ravel())
    guard_days = set(prepared.target_dates("guard").ravel())
    assert not select_days & guard_days
    # no more is dropped than that: the first guard target is the day after the last select target
    assert guard.anchors[0] + 1 == select.anchors[-1] + prepared.horizon + 1
    assert prepared.scored("test")["windows"] == len(prepared.splits["test"].anchors)


def test_train_tail_chooses_on_training_windows_and_the_guard_gets_all_of_validation(goog, prepared):
    """--select-on train-tail: "select" is the last 15 % of the training windows, no longer trained on
    and sharing no target day with them; "guard" is the whole validation split; nothing else moves."""
    tail = prepare_forecast_data(goog, lookback=60, horizon=3, select_on="train-tail")
    train, select, guard = (tail.splits[name] for name in ("train", "select", "guard"))
    every = prepared.splits["train"].anchors  # the training windows of the default cut
    assert len(select.anchors) == round(len(every) * TRAIN_TAIL_SHARE)
    np.testing.assert_array_equal(select.anchors, every[-len(select.anchors):])
    np.testing.assert_array_equal(train.anchors, every[:len(every) - len(select.anchors) - 2])  # gap h - 1
    assert max(tail.target_dates("train").ravel()) < min(tail.target_dates("select").ravel())
    np.testing.assert_array_equal(guard.anchors, prepared.splits["validation"].anchors)
    np.testing.assert_array_equal(tail.splits["test"].targets, prepared.splits["test"].targets)
    assert tail.target_scaler.mean == pytest.approx(prepared.target_scaler.mean)  # scalers: the whole split
    with pytest.raises(ValueError, match="--select-on"):
        prepare_forecast_data(goog, lookback=60, select_on="test")


def test_each_step_is_tested_at_its_own_horizon(prepared):
    """Step s reads the close s days ahead, so its windows overlap by s - 1 days: its Diebold-Mariano
    and Pesaran-Timmermann tests run at horizon s, the pooled ones at the full horizon."""
    actual, previous = prepared.actual_prices("test"), naive_forecast(prepared, "test")
    rng = np.random.default_rng(0)
    predicted = previous * np.exp(0.01 * rng.normal(size=previous.shape))  # moves both ways
    result = score(prepared, predicted)
    true_return, predicted_return = np.log(actual / previous), np.log(predicted / previous)
    for step in range(prepared.horizon):
        row, horizon = result["by_horizon"][step], step + 1
        dm = diebold_mariano((actual[:, step] - previous[:, step]) ** 2,
                             (actual[:, step] - predicted[:, step]) ** 2, horizon)
        pt = pesaran_timmermann(true_return[:, step], predicted_return[:, step], horizon)
        assert (row["step"], row["dm_pvalue"], row["pt_pvalue"]) == (horizon, dm[1], pt[1])
    pooled = pesaran_timmermann(true_return, predicted_return, prepared.horizon)
    assert result["pooled"]["pt_pvalue"] == pooled[1]


def test_windows_hold_the_right_rows_and_targets(goog, prepared):
    windows = prepared.splits["validation"]
    k = 17
    anchor = windows.anchors[k]
    features = make_features(goog).iloc[len(goog) - len(prepared.dates):]
    expected_inputs = prepared.feature_scaler.transform(features.to_numpy()[anchor - 59 : anchor + 1])
    np.testing.assert_allclose(windows.inputs[k], expected_inputs, rtol=1e-5, atol=1e-5)
    close = prepared.close
    expected_targets = np.log(close[anchor + 1 : anchor + 4] / close[anchor])
    np.testing.assert_allclose(prepared.target_scaler.inverse(windows.targets[k]), expected_targets,
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(prepared.actual_prices("validation")[k], close[anchor + 1 : anchor + 4])


def test_to_prices_inverts_the_targets(prepared):
    np.testing.assert_allclose(
        prepared.to_prices("test", prepared.splits["test"].targets), prepared.actual_prices("test"), rtol=1e-5
    )


def test_scalers_see_only_the_training_rows(goog):
    """Change every price after the training period: the training inputs and scalers stay the same."""
    base = prepare_forecast_data(goog, lookback=30, horizon=1)
    train_stop = base.borders["train"][1] + (len(goog) - len(base.dates))  # in rows of `goog`
    changed = goog.copy()
    changed.iloc[train_stop:, :5] *= 3.0
    changed.iloc[train_stop:, 4] += 1e6
    other = prepare_forecast_data(changed, lookback=30, horizon=1)
    np.testing.assert_array_equal(base.splits["train"].inputs, other.splits["train"].inputs)
    np.testing.assert_array_equal(base.splits["train"].targets, other.splits["train"].targets)
    np.testing.assert_array_equal(base.feature_scaler.mean, other.feature_scaler.mean)
    np.testing.assert_array_equal(base.target_scaler.std, other.target_scaler.std)
    assert not np.array_equal(base.splits["test"].inputs, other.splits["test"].inputs)


def test_features_are_causal(goog):
    full = make_features(goog)
    for cut in (200, 1000):
        pd.testing.assert_frame_equal(make_features(goog.iloc[:cut]), full.iloc[:cut])
    assert full.iloc[WARMUP_ROWS:].notna().all().all() and full.iloc[: WARMUP_ROWS].isna().any(axis=1).all()


def test_a_series_without_volume_leaves_the_volume_feature_out(goog):
    quiet = goog.assign(Volume=0.0)
    assert "volume_ratio" not in make_features(quiet).columns
    assert "volume_ratio" in make_features(goog).columns


def test_saved_scalers_are_reused_not_refitted(goog, prepared):
    scalers = (Standardizer.from_dict(prepared.feature_scaler.to_dict()), prepared.target_scaler)
    other = prepare_forecast_data(goog.iloc[500:], lookback=60, horizon=3, scalers=scalers,
                                  feature_names=prepared.feature_names)
    np.testing.assert_array_equal(other.feature_scaler.mean, prepared.feature_scaler.mean)


@pytest.mark.parametrize(("lookback", "horizon", "message"), [(60, 0, "horizon"), (0, 1, "lookback")])
def test_bad_window_settings(goog, lookback, horizon, message):
    with pytest.raises(ValueError, match=message):
        prepare_forecast_data(goog, lookback=lookback, horizon=horizon)


def test_too_short_a_series_says_how_long_it_must_be(goog):
    with pytest.raises(ValueError, match="too few for lookback 60"):
        prepare_forecast_data(goog.iloc[:150], lookback=60, horizon=1)
    with pytest.raises(ValueError, match="too few"):
        prepare_forecast_data(goog.iloc[:20], lookback=5, horizon=1)


def test_split_fractions_are_checked():
    with pytest.raises(ValueError, match="fractions"):
        chronological_borders(100, 0.9, 0.2)


def test_walk_forward_folds_expand_and_do_not_overlap():
    folds = walk_forward_borders(2000, folds=3)
    assert len(folds) == 3
    for fold in folds:
        assert fold["train"][1] == fold["validation"][0] and fold["validation"][1] == fold["test"][0]
    assert folds[-1]["test"][1] == 2000
    assert [f["test"][0] for f in folds[1:]] == [f["test"][1] for f in folds[:-1]]
    assert folds[0]["train"][1] < folds[1]["train"][1] < folds[2]["train"][1]


def test_naive_baseline_is_the_previous_close(prepared):
    naive = naive_forecast(prepared)
    anchors = prepared.splits["test"].anchors
    np.testing.assert_array_equal(naive[:, 0], prepared.close[anchors])
    actual = prepared.actual_prices("test")
    scored = score(prepared, naive)["pooled"]
    assert scored["rmse"] == metrics.rmse(actual, naive)
    assert scored["mae"] == metrics.mae(actual, naive)
    assert scored["rmse_vs_naive"] == 1.0 and scored["mae_vs_naive"] == pytest.approx(1.0)
    assert scored["r2_oos_returns"] == 0.0 and scored["dm_pvalue"] is None
    assert scored["directional_accuracy"] is None and 0 < scored["up_share"] < 1


def test_moving_average_baseline(prepared):
    average = moving_average_forecast(prepared, window=5)
    anchor = prepared.splits["test"].anchors[0]
    assert average[0, 0] == pytest.approx(prepared.close[anchor - 4 : anchor + 1].mean())
    with pytest.raises(ValueError, match="window"):
        moving_average_forecast(prepared, window=0)


def test_baselines_cover_the_same_targets(prepared):
    forecasts = baseline_forecasts(prepared)
    assert set(forecasts) == {"naive", "drift", "ar", "moving_average", "linear"}
    for values in forecasts.values():
        assert values.shape == prepared.actual_prices("test").shape
        assert np.isfinite(values).all()
    by_step = score(prepared, forecasts["linear"])["by_horizon"]
    assert [entry["step"] for entry in by_step] == [1, 2, 3]


def test_drift_is_the_training_mean_return_and_ar_recovers_a_planted_lag():
    from common.forecast.baselines import drift_forecast, fit_baselines
    from common.forecast.synthetic import lag_return_series

    prices = lag_return_series(n_days=1500, lag=3, phi=0.5, seed=0)
    data = prepare_forecast_data(prices, lookback=20)
    start, stop = data.borders["train"]
    train_targets = data.target_scaler.inverse(data.splits["train"].targets)
    np.testing.assert_allclose(drift_forecast(data, "test")[:, 0],
                               data.anchor_close("test") * np.exp(train_targets.mean()), rtol=1e-6)
    fitted = fit_baselines(data)
    assert fitted.ar_order >= 3
    coefficients = fitted.info["ar"]["lag_coefficients_step1"]
    assert abs(coefficients[2] - 0.5) < 0.1 and np.all(np.abs(np.delete(coefficients, 2)) < 0.1)
    assert not fitted.info["linear"]["alpha_on_grid_edge"] or fitted.info["linear"]["edge"] == "bottom"


@pytest.mark.parametrize(("change", "message"), [
    (lambda x: x.assign(Open=100.0, High=100.0, Low=100.0, Close=100.0), "never change"),
    (lambda x: x.assign(**{c: x[c] * 1e305 for c in ("Open", "High", "Low", "Close")}), "overflow float64"),
    (lambda x: x.assign(Close=np.where(np.arange(len(x)) == 500, 1e-9, x["Close"])),
     "more than 1000x in one day"),
])
def test_degenerate_prices_fail_early_with_the_reason(goog, change, message):
    with pytest.raises(ValueError, match=message):
        prepare_forecast_data(change(goog.copy()))
