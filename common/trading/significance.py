"""Is a Sharpe ratio, or a win over a benchmark, more than luck? Four answers, each for a different doubt.

- `bootstrap_sharpe_interval`: the stationary bootstrap of Politis & Romano (1994) resamples blocks of
  days of random (geometric) length, so volatility clusters and autocorrelation survive the
  resampling; the mean block length is Politis & White's (2004) optimal one. It gives a percentile
  interval for the annualised Sharpe and, resampling the same days of a benchmark jointly, for the
  difference of the two Sharpes.
- `probabilistic_sharpe_ratio`: Bailey & López de Prado (2012), the probability that the true Sharpe
  exceeds a threshold, given the length of the record and the skew and fat tails of the returns.
- `deflated_sharpe_ratio`: Bailey & López de Prado (2014), the same probability against the Sharpe the
  best of N tried strategies would show by luck alone: the price of a hyperparameter search.
- `break_even_cost_bps`: the trading cost at which a policy's edge over a benchmark is gone.

Sharpe ratios here are mean / std (ddof=1) of daily simple returns with a risk-free rate of 0, taken
as 0 for a series of zero variance, as in `common.trading.performance`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, stats

from common.trading.backtest import BPS, daily_log_returns
from common.trading.performance import daily_series

SHARPE_NOTE = ("Over one year of daily data the standard error of an annualised Sharpe ratio is close to 1 "
               "(sqrt((1 + SR^2/2) / years)): differences smaller than that are noise.")

EULER_MASCHERONI = 0.5772156649015329
MAX_COST_BPS = 10_000.0  # 100 % per side: the break-even search never needs to look further


def _sharpe_daily(returns: np.ndarray) -> float:
    # Zero variance (all days equal, e.g. always flat) has Sharpe 0 by convention, never NaN.
    if np.ptp(returns) == 0.0:
        return 0.0
    return float(returns.mean() / returns.std(ddof=1))


def _block_length(*series: np.ndarray) -> float:
    """Politis & White's stationary-bootstrap block length, the longest over the series, at least 1."""
    from arch.bootstrap import optimal_block_length  # arch (and statsmodels) load on first use

    lengths = [1.0]
    for values in series:
        if np.ptp(values) == 0.0:
            continue  # a constant series has no autocorrelation to keep (and its estimate divides by 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            estimate = float(optimal_block_length(values)["stationary"].iloc[0])
        if math.isfinite(estimate):
            lengths.append(estimate)
    return max(lengths)


def bootstrap_sharpe_interval(simple_returns: ArrayLike, benchmark: ArrayLike | None = None,
                              level: float = 0.95, reps: int = 1000, seed: int = 0,
                              periods_per_year: int = 252) -> dict[str, float]:
    """Stationary-bootstrap percentile interval of the annualised Sharpe, and of its lead over a benchmark.

    `benchmark`, if given, holds the benchmark's simple returns on the same days. Both series are
    resampled with the same blocks of days (a paired bootstrap), so what the two share (the market)
    cancels in their difference. The mean block length is the larger of the two series' optimal ones.

    Returns a dict:
        sharpe, low, high           the annualised Sharpe and its percentile interval at `level`
        difference, difference_low, difference_high
                                    policy's minus benchmark's annualised Sharpe and its interval
                                    (the benchmark is cash, Sharpe 0, when none is given)
        p_value                     share of resampled differences <= 0: a one-sided bootstrap p-value
                                    for "the policy has the higher Sharpe" (small = evidence for it)
        block_length, reps, level   how it was computed

    The same seed gives the same numbers.
    """
    policy = daily_series(simple_returns, "simple_returns", min_days=10)
    paired = benchmark is not None
    reference = daily_series(benchmark, "benchmark", min_days=10) if paired else np.zeros_like(policy)
    if len(reference) != len(policy):
        raise ValueError(f"simple_returns and benchmark must cover the same days, got lengths {len(policy)} "
                         f"and {len(reference)}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1 (0.95 for a 95 % interval), got {level}")
    if reps < 1:
        raise ValueError(f"reps must be a positive number of resamples, got {reps}")

    annualiser = math.sqrt(periods_per_year)
    block_length = _block_length(policy, reference) if paired else _block_length(policy)

    def sharpes(policy_sample: np.ndarray, reference_sample: np.ndarray) -> np.ndarray:
        policy_sharpe = _sharpe_daily(policy_sample) * annualiser
        reference_sharpe = _sharpe_daily(reference_sample) * annualiser
        return np.array([policy_sharpe, policy_sharpe - reference_sharpe])

    from arch.bootstrap import StationaryBootstrap

    bootstrap = StationaryBootstrap(block_length, policy, reference, seed=np.random.default_rng(seed))
    resampled = bootstrap.apply(sharpes, reps)  # (reps, 2): policy Sharpe, difference
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(resampled[:, 0], [tail, 1.0 - tail])
    difference_low, difference_high = np.quantile(resampled[:, 1], [tail, 1.0 - tail])
    point = sharpes(policy, reference)
    return {
        "sharpe": float(point[0]),
        "low": float(low),
        "high": float(high),
        "difference": float(point[1]),
        "difference_low": float(difference_low),
        "difference_high": float(difference_high),
        "p_value": float(np.mean(resampled[:, 1] <= 0.0)),
        "block_length": float(block_length),
        "reps": reps,
        "level": level,
    }


def _sharpe_and_moments(returns: np.ndarray) -> tuple[float, float, float]:
    """Daily Sharpe, skewness and (non-excess) kurtosis; a constant series counts as normal."""
    if np.ptp(returns) == 0.0:
        return 0.0, 0.0, 3.0
    # Population (biased) moments: they always satisfy kurtosis >= 1 + skew², which keeps the
    # variance term of the PSR positive.
    return (_sharpe_daily(returns), float(stats.skew(returns)),
            float(stats.kurtosis(returns, fisher=False)))


def probabilistic_sharpe_ratio(simple_returns: ArrayLike, benchmark_sharpe: float = 0.0) -> float:
    """The probability that the true Sharpe ratio exceeds `benchmark_sharpe` (Bailey & López de Prado 2012).

        PSR = Φ( (SR - SR*) · sqrt(n - 1) / sqrt(1 - γ3·SR + (γ4 - 1)/4 · SR²) )

    SR is the *daily* (non-annualised) Sharpe ratio of the n daily simple returns, and SR* =
    `benchmark_sharpe` is daily too: divide an annual threshold by sqrt(252). γ3 is the skewness and
    γ4 the non-excess kurtosis (3 for a normal) of the returns. Negative skew and fat tails widen the
    denominator, so the same Sharpe is less convincing. PSR = 0.5 when SR = SR*.
    """
    returns = daily_series(simple_returns, "simple_returns", min_days=3)
    if not math.isfinite(benchmark_sharpe):
        raise ValueError(f"benchmark_sharpe must be a finite daily Sharpe ratio, got {benchmark_sharpe}")
    sharpe, skew, kurtosis = _sharpe_and_moments(returns)
    variance_term = max(1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2, 1e-12)
    z = (sharpe - benchmark_sharpe) * math.sqrt(len(returns) - 1) / math.sqrt(variance_term)
    return float(stats.norm.cdf(z))


def expected_max_sharpe(trial_sharpes: ArrayLike) -> float:
    """The daily Sharpe the best of N trials would reach by luck if every true Sharpe were 0.

        SR*₀ = sqrt(V) · ((1 - γ)·Φ⁻¹(1 - 1/N) + γ·Φ⁻¹(1 - 1/(N e)))

    with V the sample variance (ddof=1) of the trials' daily Sharpes and γ the Euler-Mascheroni
    constant (Bailey & López de Prado 2014). One trial has nothing to select from: SR*₀ = 0.
    """
    trials = daily_series(trial_sharpes, "trial_sharpes", min_days=1)
    n_trials = len(trials)
    if n_trials == 1:
        return 0.0
    spread = math.sqrt(float(np.var(trials, ddof=1)))
    quantiles = ((1.0 - EULER_MASCHERONI) * stats.norm.ppf(1.0 - 1.0 / n_trials)
                 + EULER_MASCHERONI * stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e)))
    return spread * float(quantiles)


def deflated_sharpe_ratio(simple_returns: ArrayLike, trial_sharpes: ArrayLike,
                          periods_per_year: int = 252) -> dict[str, float]:
    """The PSR against the Sharpe that the best of the tried strategies would show by luck alone.

    `trial_sharpes` holds the *daily* Sharpe ratios of every configuration tried (this one included);
    `simple_returns` are the daily returns of the one that was picked. DSR = PSR(SR*₀) with SR*₀ from
    `expected_max_sharpe`: the more (and the more varied) the trials, the higher the bar. With one
    trial the DSR is the PSR against 0.

    Returns a dict: dsr, n_trials, expected_max_sharpe_daily, expected_max_sharpe_annualised.
    """
    trials = daily_series(trial_sharpes, "trial_sharpes", min_days=1)
    threshold = expected_max_sharpe(trials)
    return {
        "dsr": probabilistic_sharpe_ratio(simple_returns, threshold),
        "n_trials": len(trials),
        "expected_max_sharpe_daily": threshold,
        "expected_max_sharpe_annualised": threshold * math.sqrt(periods_per_year),
    }


def break_even_cost_bps(open_: ArrayLike, close: ArrayLike, positions: ArrayLike,
                        benchmark_positions: ArrayLike, start: int, stop: int) -> float:
    """The cost per side (bps) up to which the policy's total log return stays ahead of the benchmark's.

    Days are rows of the price series, as in `daily_log_returns`, and the total is over days
    [start, stop). Day t's return is earned by the position decided at the close of day t - 1, so to
    score the decisions made on days [a, b) pass start = a + 1 and stop = b + 1 (stop may be at most
    len(close): the decision on the last row is never scored).

    Returns
        inf    the policy is ahead at every cost up to 10 000 bps, or both trade the same amounts on
               every scored day (costs then move both totals alike and cannot erase a lead or a tie);
        0.0    the policy is not ahead even before costs: there is no edge for costs to erase;
        c > 0  the lowest cost at which the two totals are equal (found by scanning a grid of costs,
               then refined with Brent's method).
    """
    close_prices = np.asarray(close, dtype=float)
    if np.asarray(benchmark_positions).shape != np.asarray(positions).shape:
        raise ValueError(f"positions and benchmark_positions must cover the same days, got shapes "
                         f"{np.asarray(positions).shape} and {np.asarray(benchmark_positions).shape}")
    if not (isinstance(start, (int, np.integer)) and isinstance(stop, (int, np.integer))):
        raise ValueError(f"start and stop must be integer day indices, got {start!r} and {stop!r}")
    if not 0 <= start < stop <= len(close_prices):
        raise ValueError(f"need 0 <= start < stop <= {len(close_prices)} (the number of days), got "
                         f"start={start}, stop={stop}")

    def lead(cost_bps: float) -> float:
        policy, _ = daily_log_returns(open_, close, positions, cost_bps)
        reference, _ = daily_log_returns(open_, close, benchmark_positions, cost_bps)
        return float(policy[start:stop].sum() - reference[start:stop].sum())

    # At a cost of 1 (10 000 bps) the cost paid is the traded weight; if both trade alike every day,
    # no cost can change their ranking.
    _, policy_traded = daily_log_returns(open_, close, positions, 1.0 / BPS)
    _, reference_traded = daily_log_returns(open_, close, benchmark_positions, 1.0 / BPS)
    trades_alike = np.array_equal(policy_traded[start:stop], reference_traded[start:stop])

    lead_at_zero = lead(0.0)
    if trades_alike:
        return math.inf if lead_at_zero >= 0.0 else 0.0
    if lead_at_zero <= 0.0:
        return 0.0
    # The lead need not fall monotonically with cost (trading more on some days, less on others), so
    # find the first sign change on a grid before Brent's method narrows it down.
    grid = np.concatenate([[0.0], np.geomspace(0.1, MAX_COST_BPS, 61)])
    previous = 0.0
    for cost in grid[1:]:
        if lead(cost) <= 0.0:
            return float(optimize.brentq(lead, previous, cost, xtol=1e-10, rtol=1e-14))
        previous = cost
    return math.inf
