"""Portfolio metrics of one policy over a span of days, from the accounting in `backtest.py`.

The inputs are three arrays of the same days (restricted to the days being scored):

    log_returns   day t's log change of NAV, marked at the close (`daily_log_returns`)
    held          the weight held during day t (`held_positions`: decided at close t-1, filled at open t)
    cost_paid     the cost paid on day t as a fraction of NAV (`daily_log_returns`)

Log returns add up over days, so the NAV path is exp(cumsum(log_returns)), starting from 1. The ratios
(Sharpe, Sortino, volatility) are the conventional ones on daily *simple* returns r_t = exp(l_t) - 1,
annualised with periods_per_year trading days (the same definitions as quantstats, which the tests use
as the oracle):

    sharpe     = mean(r) / std(r, ddof=1) * sqrt(P)                    risk-free rate 0
    sortino    = mean(r) / sqrt(sum(r_t^2 for r_t < 0) / n) * sqrt(P)  downside deviation over all n days
    volatility = std(r, ddof=1) * sqrt(P)
    cagr       = NAV_end ** (P / n) - 1                                years counted in trading days, n / P

A Sharpe ratio from one year of daily data has a standard error close to 1 (see `sharpe_standard_error`
and `common.trading.significance`): read small differences between policies as noise.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def daily_series(values: ArrayLike, name: str, min_days: int = 1) -> np.ndarray:
    """`values` as a 1-D float array of at least `min_days` finite values, or a ValueError saying why not."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per day), got shape {array.shape}")
    if len(array) == 0:
        raise ValueError(f"{name} is empty: pass the days being scored")
    if len(array) < min_days:
        raise ValueError(f"{name} has {len(array)} days; at least {min_days} are needed")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values: drop or fill those days first")
    return array


def _ratio(numerator: float, denominator: float) -> float:
    # A policy that never moves has nothing to divide by: report 0 rather than NaN, so tables of
    # flat baselines stay readable; a positive numerator over a zero risk is genuinely unbounded.
    if denominator > 0.0:
        return numerator / denominator
    if numerator == 0.0:
        return 0.0
    return math.copysign(math.inf, numerator)


def performance(log_returns: ArrayLike, held: ArrayLike, cost_paid: ArrayLike, periods_per_year: int = 252,
                *, held_before: float | None = None) -> dict[str, float]:
    """The usual portfolio metrics of one policy over the days given (NAV starts at 1 the evening before).

    Returns a dict of floats:

        total_return   NAV_end - 1
        cagr           NAV_end ** (periods_per_year / n) - 1
        volatility     annualised sample std (ddof=1) of daily simple returns
        sharpe         annualised mean / std of daily simple returns, risk-free 0; 0.0 when every day's
                       return is the same (zero variance, e.g. a flat policy), so the dict is NaN-free
        sortino        quantstats' definition: mean / sqrt(sum of squared losses / n), annualised;
                       0.0 for a policy that neither gains nor loses, +inf if it gains and never loses
        max_drawdown   worst fall from a peak, a negative fraction (0.0 if NAV never falls), on the NAV
                       marked at each close, the starting NAV of 1 included as the first peak
        calmar         cagr / |max_drawdown| (0.0 / +inf by the same rule as sortino)
        turnover       mean |held[t] - held[t-1]| per day, times periods_per_year: how many times a
                       year the whole NAV is traded. The first day's change needs the weight held the
                       day before the span: pass `held_before`, or it counts as no change
        exposure       mean |held|: the average share of NAV at risk
        costs_paid     sum of cost_paid, as a fraction of NAV
        hit_rate       share of the days in the market (held != 0) whose net return is > 0;
                       NaN if the policy is never in the market
        n_days         number of days scored

    Raises ValueError on empty input, NaN, unequal lengths or fewer than 2 days.
    """
    log_returns = daily_series(log_returns, "log_returns")
    held = daily_series(held, "held")
    cost_paid = daily_series(cost_paid, "cost_paid")
    if not (len(log_returns) == len(held) == len(cost_paid)):
        raise ValueError(f"log_returns, held and cost_paid must cover the same days, got lengths "
                         f"{len(log_returns)}, {len(held)} and {len(cost_paid)}")
    n = len(log_returns)
    if n < 2:
        raise ValueError("performance needs at least 2 days (a volatility needs two returns): "
                         "score a longer span")
    if periods_per_year <= 0:
        raise ValueError(f"periods_per_year must be positive (252 for daily bars), got {periods_per_year}")
    if held_before is not None and not math.isfinite(held_before):
        raise ValueError(f"held_before must be a finite weight, got {held_before}")

    simple = np.expm1(log_returns)
    total_log = float(log_returns.sum())
    total_return = math.expm1(total_log)
    cagr = math.expm1(total_log * periods_per_year / n)

    mean = float(simple.mean())
    # Zero variance is tested exactly (all days equal), not with std == 0, which rounding can miss.
    std = 0.0 if np.ptp(simple) == 0.0 else float(simple.std(ddof=1))
    annualiser = math.sqrt(periods_per_year)
    downside = math.sqrt(float(np.sum(simple[simple < 0] ** 2)) / n)

    # NAV at each close, with the starting NAV of 1 in front so a loss on the first day is a drawdown.
    log_nav = np.concatenate([[0.0], np.cumsum(log_returns)])
    drawdown = np.expm1(log_nav - np.maximum.accumulate(log_nav))
    max_drawdown = float(drawdown.min())

    previous_held = np.concatenate([[held[0] if held_before is None else held_before], held[:-1]])
    in_market = held != 0.0

    return {
        "total_return": total_return,
        "cagr": cagr,
        "volatility": std * annualiser,
        "sharpe": _ratio(mean, std) * annualiser,
        "sortino": _ratio(mean, downside) * annualiser,
        "max_drawdown": max_drawdown,
        "calmar": _ratio(cagr, abs(max_drawdown)),
        "turnover": float(np.abs(held - previous_held).mean()) * periods_per_year,
        "exposure": float(np.abs(held).mean()),
        "costs_paid": float(cost_paid.sum()),
        "hit_rate": float((simple[in_market] > 0).mean()) if in_market.any() else math.nan,
        "n_days": n,
    }


def sharpe_standard_error(sharpe_daily: float, n: int, skew: float, kurtosis: float) -> float:
    """Standard error of a daily (non-annualised) Sharpe ratio estimated from n returns.

    Mertens (2002), after Lo (2002): with γ3 the skewness and γ4 the kurtosis (non-excess: 3 for a
    normal) of the daily returns,

        se(SR) = sqrt((1 - γ3·SR + (γ4 - 1)/4·SR²) / (n - 1)),

    which is sqrt((1 + SR²/2) / (n - 1)) for normal returns. Multiply by sqrt(252) for the standard
    error of the annualised Sharpe: about 1 after one year of data, whatever the strategy.
    """
    values = {"sharpe_daily": sharpe_daily, "skew": skew, "kurtosis": kurtosis}
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    if n < 2:
        raise ValueError(f"n must be at least 2 returns, got {n}")
    # Every distribution has kurtosis >= 1 + skew² (which also keeps the square root real); less means
    # the excess kurtosis (0 for a normal) was passed where the plain one (3) belongs.
    if kurtosis < 1.0 + skew**2 - 1e-12:
        raise ValueError(f"kurtosis {kurtosis} < 1 + skew² = {1.0 + skew**2}, impossible for any "
                         "distribution: pass the non-excess kurtosis (3 for a normal), not the excess (0)")
    variance_term = 1.0 - skew * sharpe_daily + (kurtosis - 1.0) / 4.0 * sharpe_daily**2
    return math.sqrt(max(variance_term, 0.0) / (n - 1))
