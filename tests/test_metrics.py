"""common.metrics against scikit-learn, and the errors that protect a report from wrong numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from common import metrics

# allow_subnormal=False: a script run in-process may have set flush-to-zero on this CPU.
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False)
positive = st.floats(min_value=1e-3, max_value=1e6)


@given(arrays(np.float64, st.integers(2, 50), elements=finite), st.data())
def test_rmse_mae_r2_match_sklearn(y_true, data):
    y_pred = data.draw(arrays(np.float64, len(y_true), elements=finite))
    assert metrics.rmse(y_true, y_pred) == pytest.approx(math.sqrt(skm.mean_squared_error(y_true, y_pred)),
                                                         rel=1e-9, abs=1e-9)
    assert metrics.mae(y_true, y_pred) == pytest.approx(skm.mean_absolute_error(y_true, y_pred),
                                                        rel=1e-9, abs=1e-9)
    assert metrics.r2(y_true, y_pred) == pytest.approx(skm.r2_score(y_true, y_pred), rel=1e-9, abs=1e-9)


@given(arrays(np.float64, st.integers(1, 50), elements=positive), st.data())
def test_mape_is_sklearn_in_percent(y_true, data):
    y_pred = data.draw(arrays(np.float64, len(y_true), elements=finite))
    expected = 100.0 * skm.mean_absolute_percentage_error(y_true, y_pred)
    assert metrics.mape(y_true, y_pred) == pytest.approx(expected, rel=1e-9)


def test_known_values():
    y_true, y_pred = [1.0, 2.0, 4.0], [1.0, 3.0, 2.0]
    assert metrics.rmse(y_true, y_pred) == pytest.approx(math.sqrt(5 / 3))
    assert metrics.mae(y_true, y_pred) == pytest.approx(1.0)
    assert metrics.mape([100.0, 200.0], [102.0, 195.0]) == pytest.approx(2.25)  # (2 % + 2.5 %) / 2


def test_r2_of_constant_truth_follows_sklearn():
    assert metrics.r2([3.0, 3.0], [3.0, 3.0]) == skm.r2_score([3.0, 3.0], [3.0, 3.0])
    assert metrics.r2([3.0, 3.0], [2.0, 3.0]) == skm.r2_score([3.0, 3.0], [2.0, 3.0])


def test_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="same length"):
        metrics.rmse([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.mae([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.r2([1.0, 2.0], [1.0, float("inf")])
    with pytest.raises(ValueError, match="zeros"):
        metrics.mape([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="empty"):
        metrics.rmse([], [])


def test_mase_against_the_naive_forecast():
    actual, previous = np.array([10.0, 11.0, 12.0, 11.0]), np.array([9.0, 10.0, 11.0, 12.0])
    assert metrics.mase(actual, previous, y_naive=previous) == pytest.approx(1.0)
    assert metrics.mase(actual, actual + 0.5, y_naive=previous) == pytest.approx(0.5)
    # Without y_naive: Hyndman's in-sample one-step naive scale, mean |diff(y_true)| = 1.
    assert metrics.mase(actual, actual + 2.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="perfect"):
        metrics.mase(actual, actual + 1.0, y_naive=actual)


def test_directional_accuracy():
    previous = [10.0, 10.0, 10.0, 10.0]
    actual = [11.0, 9.0, 12.0, 8.0]
    predicted = [10.5, 9.5, 9.0, 10.0]  # right, right, wrong, no move (wrong)
    assert metrics.directional_accuracy(actual, predicted, previous) == pytest.approx(0.5)


def test_language_model_conversions():
    assert metrics.perplexity(math.log(65)) == pytest.approx(65.0)
    assert metrics.bits_per_char(math.log(2)) == pytest.approx(1.0)
    # 0.25 word tokens per character at 4 nats/token is 1 nat/char.
    assert metrics.bits_per_char(4.0, tokens_per_char=0.25) == pytest.approx(1 / math.log(2))
    with pytest.raises(ValueError):
        metrics.perplexity(float("nan"))
    with pytest.raises(ValueError):
        metrics.bits_per_char(1.0, tokens_per_char=0.0)
