"""common.forecast.stats: the Diebold-Mariano and Pesaran-Timmermann tests against hand computations and
against what they must say on data whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from common.forecast.stats import diebold_mariano, long_run_variance, newey_west_lags, pesaran_timmermann


def test_long_run_variance_is_the_sample_variance_without_lags_and_adds_autocovariance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    assert math.isclose(long_run_variance(x, 0), x.var(), rel_tol=1e-12)
    trending = np.convolve(rng.normal(size=2000), np.ones(5), mode="valid")  # positively autocorrelated
    assert long_run_variance(trending, 8) > 2 * long_run_variance(trending, 0)


def test_diebold_mariano_matches_a_hand_computation():
    rng = np.random.default_rng(1)
    reference, model = rng.gamma(2.0, size=50), rng.gamma(1.8, size=50)
    d = reference - model
    n, horizon = len(d), 2
    lags = newey_west_lags(n, horizon)
    centred = d - d.mean()
    variance = centred @ centred / n + sum(2 * (1 - k / (lags + 1)) * (centred[k:] @ centred[:-k]) / n
                                           for k in range(1, lags + 1))
    hln_correction = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)  # Harvey et al.
    expected = d.mean() / math.sqrt(variance / n) * hln_correction
    statistic, p_value = diebold_mariano(reference, model, horizon)
    assert math.isclose(statistic, expected, rel_tol=1e-12)
    assert math.isclose(p_value, scipy_stats.t.sf(expected, n - 1), rel_tol=1e-12)


def test_diebold_mariano_finds_a_real_gain_and_not_a_fake_one():
    rng = np.random.default_rng(2)
    signal, noise = rng.normal(size=300), rng.normal(size=300)
    target = 0.5 * signal + noise
    naive_loss, oracle_loss = target**2, (target - 0.5 * signal) ** 2
    assert diebold_mariano(naive_loss, oracle_loss)[1] < 0.01
    assert diebold_mariano(oracle_loss, naive_loss)[1] > 0.99  # the other way round: no evidence at all
    rejections = sum(diebold_mariano(rng.normal(size=200) ** 2, rng.normal(size=200) ** 2)[1] < 0.05
                     for _ in range(400))
    assert 8 <= rejections <= 36  # ~5 % false alarms when neither is better (binomial 400 x 0.05 = 20)
    assert diebold_mariano(naive_loss, naive_loss) == (None, None)
    with pytest.raises(ValueError, match="at least 3"):
        diebold_mariano([1.0, 2.0], [1.0, 1.0])


def test_pesaran_timmermann_separates_skill_from_chance():
    rng = np.random.default_rng(3)
    actual = rng.normal(size=500)
    assert pesaran_timmermann(actual, actual + rng.normal(size=500))[1] < 1e-6
    assert pesaran_timmermann(actual, rng.normal(size=500))[1] > 0.01
    assert pesaran_timmermann(actual, np.ones(500)) == (None, None)  # always "up": nothing to test
