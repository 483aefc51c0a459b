"""common.forecast.stats: the Diebold-Mariano and Pesaran-Timmermann tests against hand computations and
against what they must say on data whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.tsa.stattools import diebold_mariano_test

from common.forecast.stats import (
    cosine_bases,
    cosine_variance,
    diebold_mariano,
    long_run_variance,
    newey_west_lags,
    pesaran_timmermann,
)


def test_long_run_variance_is_the_sample_variance_without_lags_and_adds_autocovariance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    assert math.isclose(long_run_variance(x, 0), x.var(), rel_tol=1e-12)
    trending = np.convolve(rng.normal(size=2000), np.ones(5), mode="valid")  # positively autocorrelated
    assert long_run_variance(trending, 8) > 2 * long_run_variance(trending, 0)


def test_diebold_mariano_at_horizon_1_matches_statsmodels():
    """Without overlap the test is statsmodels' DM: Newey-West variance, HLN correction, t(n - 1)."""
    rng = np.random.default_rng(1)
    truth = rng.normal(size=158)
    reference, model = truth + 1.1 * rng.normal(size=158), truth + rng.normal(size=158)
    oracle = diebold_mariano_test(truth, reference, model, lags=newey_west_lags(158), harvey_adj=True)
    statistic, p_value = diebold_mariano((truth - reference) ** 2, (truth - model) ** 2, horizon=1)
    assert math.isclose(statistic, oracle.statistic, rel_tol=1e-10)
    one_sided = oracle.pvalue / 2 if oracle.statistic > 0 else 1 - oracle.pvalue / 2
    assert math.isclose(p_value, one_sided, rel_tol=1e-10)


def test_diebold_mariano_with_overlap_matches_a_hand_computed_cosine_variance():
    rng = np.random.default_rng(1)
    reference, model = rng.gamma(2.0, size=50), rng.gamma(1.8, size=50)
    d = reference - model
    n, horizon = len(d), 5
    bases = cosine_bases(n, horizon)
    assert bases == 5  # min(0.4 x 50^(2/3) = 5.4, 50 / (2 x 5) = 5)
    t = np.arange(1, n + 1)
    transforms = [math.sqrt(2 / n) * np.sum(d * np.cos(math.pi * j * (t - 0.5) / n))
                  for j in range(1, bases + 1)]
    assert math.isclose(cosine_variance(d, bases), np.mean(np.square(transforms)), rel_tol=1e-12)
    expected = d.mean() / math.sqrt(np.mean(np.square(transforms)) / n)
    statistic, p_value = diebold_mariano(reference, model, horizon)
    assert math.isclose(statistic, expected, rel_tol=1e-12)
    assert math.isclose(p_value, scipy_stats.t.sf(expected, bases), rel_tol=1e-12)
    assert cosine_bases(158, 20) == 3 and cosine_bases(10, 20) == 1  # never fewer than one


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


# ------------------------------------------------------------------ size: false alarms under the null
#
# A test "at 5 %" must reject a true null about 5 % of the time, also when an h-day forecast's windows
# overlap by h - 1 days. The null series below are built from a random walk's h-step changes, sums of
# h iid shocks, so neighbouring windows share h - 1 shocks, as the harness's windows share days. With
# 2,000 replications a rejection rate's standard error is sqrt(0.05 x 0.95 / 2000) = 0.5 points: the
# band [3 %, 7 %] is 4 standard errors either side of 5 %, so an honest test passes it whatever the
# seed (simulated over seeds, these tests reject 3.6-6.5 %), while the former Bartlett variance
# (9-10 % at h = 5, 20 with 158 windows) and the pooled 1992 Pesaran-Timmermann (23 % at h = 5) fail.
# 158 and 317 windows are the sizes of the GOOG guard half and of the whole validation split.

SIZE_REPLICATIONS = 2000
SIZE_BAND = (0.03, 0.07)


def overlapping_sums(rng: np.random.Generator, replications: int, n: int, horizon: int,
                     drift: float = 0.0) -> np.ndarray:
    """(replications, n) h-step changes of random walks: window t sums shocks t+1..t+h."""
    walks = np.cumsum(rng.standard_normal((replications, n + horizon)) + drift, axis=1)
    return walks[:, horizon:] - walks[:, :-horizon]


def rejection_rate(p_values: list[float | None], alpha: float = 0.05) -> float:
    """Share of replications rejected at `alpha`; no p-value (nothing testable) is no rejection, as in
    the guard."""
    return float(np.mean([p is not None and p < alpha for p in p_values]))


@pytest.mark.parametrize("n", [158, 317])
@pytest.mark.parametrize("horizon", [1, 5, 20])
def test_diebold_mariano_holds_its_size_when_windows_overlap(horizon, n):
    rng = np.random.default_rng(1000 * horizon + n)
    zero = np.zeros(n)
    # the loss differential itself an overlapping sum: the strongest overlap an MA(h - 1) can carry
    differentials = overlapping_sums(rng, SIZE_REPLICATIONS, n, horizon)
    rate = rejection_rate([diebold_mariano(d, zero, horizon)[1] for d in differentials])
    assert SIZE_BAND[0] <= rate <= SIZE_BAND[1], rate
    # two equally good forecasts: independent h-step random-walk errors, squared-error losses
    loss_a = overlapping_sums(rng, SIZE_REPLICATIONS, n, horizon) ** 2
    loss_b = overlapping_sums(rng, SIZE_REPLICATIONS, n, horizon) ** 2
    rate = rejection_rate([diebold_mariano(a, b, horizon)[1] for a, b in zip(loss_a, loss_b)])
    assert SIZE_BAND[0] <= rate <= SIZE_BAND[1], rate


@pytest.mark.parametrize("n", [158, 317])
@pytest.mark.parametrize("horizon", [1, 5, 20])
def test_pesaran_timmermann_holds_its_size_when_windows_overlap(horizon, n):
    rng = np.random.default_rng(2000 * horizon + n)
    # outcomes and calls from independent drifting walks (up shares above a half, as in prices)
    actual = overlapping_sums(rng, SIZE_REPLICATIONS, n, horizon, drift=0.05)
    predicted = overlapping_sums(rng, SIZE_REPLICATIONS, n, horizon, drift=0.05)
    rate = rejection_rate([pesaran_timmermann(a, p, horizon)[1] for a, p in zip(actual, predicted)])
    assert SIZE_BAND[0] <= rate <= SIZE_BAND[1], rate


def test_pesaran_timmermann_with_overlap_still_finds_real_skill():
    rng = np.random.default_rng(4)
    moves = overlapping_sums(rng, 1, 300, 5)[0]
    assert pesaran_timmermann(moves, moves + 2 * overlapping_sums(rng, 1, 300, 5)[0], 5)[1] < 0.01
    # pooled over steps: (windows, steps) moves, one covariance per window
    steps = np.stack([overlapping_sums(rng, 1, 300, 1)[0] for _ in range(3)], axis=1)
    assert pesaran_timmermann(steps, steps + rng.normal(size=steps.shape), 3)[1] < 0.01
    assert pesaran_timmermann(moves, np.ones(300), 5) == (None, None)
