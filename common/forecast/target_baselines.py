"""The forecasts a network must beat on the two targets that daily prices can be expected to tell
something about (common.forecast.windows.TARGETS), computed on exactly the windows the networks see.

Volatility: the realised volatility of the next 5 days, sqrt(252 / 5 · Σ_{j=1..5} r[t+j]²) with r the
daily log returns (annualised). Volatility clusters, so yesterday's is a strong forecast of tomorrow's:
- last: the same quantity over the past 5 days t-4..t ("next week is like this week");
- ewma: RiskMetrics (J.P. Morgan, 1996): σ²[t] = λ σ²[t-1] + (1 - λ) r[t]², λ = 0.94, started from
  the mean squared return of the training rows (nothing fitted; flat over the 5 days);
- har: HAR-RV (Corsi, 2009): the next week's realised variance regressed by OLS, on the training
  windows only, on an intercept and the daily (r[t]²), weekly (mean of r² over t-4..t) and monthly
  (mean of r² over t-21..t) realised variances; the forecast is the square root of the fitted variance.
  The strongest of the three, and the one the guard compares a network with.
Every volatility forecast is floored at `ForecastData.volatility_floor()` (a forecast of zero would
make QLIKE infinite).

Direction: the probability that the next close is above today's:
- base_rate: the share of up days among the training windows, every day;
- logistic: a logistic regression on the same scaled windows the networks read (flattened, as ridge
  does for price), fitted on the training windows, its L2 penalty chosen by log-loss on the
  validation split's "select" half.
No baseline setting is ever chosen on the test split.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from common.forecast.windows import HAR_MONTH_DAYS, TRADING_DAYS, ForecastData
from common.metrics import log_loss

EWMA_DECAY = 0.94  # RiskMetrics' λ for daily returns
HAR_DAYS = {"daily": 1, "weekly": 5, "monthly": HAR_MONTH_DAYS}  # Corsi's three horizons
# Inverse L2 penalties 1e-6 .. 1e-1: on GOOG's 660 inputs a weaker penalty only fits noise (select
# log-loss 0.74 at C = 0.1, 0.80 at C = 1) and takes minutes to converge.
LOGISTIC_CS = tuple(10.0 ** power for power in range(-6, 0))
SELECT = "select"  # the validation half on which every baseline setting is chosen
VOLATILITY_BASELINES = ("last", "ewma", "har")
DIRECTION_BASELINES = ("base_rate", "logistic")


def daily_returns(data: ForecastData) -> np.ndarray:
    """(rows,) r[s] = log close[s] - log close[s-1]; r[0] = 0 (no earlier close is kept)."""
    return np.concatenate([[0.0], np.diff(np.log(data.close))])


def past_variance(data: ForecastData, split: str, days: int) -> np.ndarray:
    """(windows,) mean squared daily return over the `days` days t-days+1..t of each window, annualised."""
    anchors = data.splits[split].anchors
    if anchors.min() - days + 1 < 1:
        raise ValueError(f"a {days}-day realised variance needs {days} returns before the first window: "
                         f"use a longer --lookback")
    returns = daily_returns(data)[anchors[:, None] - np.arange(days)]  # (windows, days)
    return TRADING_DAYS * np.mean(returns**2, axis=1)


def last_volatility(data: ForecastData, split: str) -> np.ndarray:
    """(windows,) the realised volatility of the last `target_days` days: the 'no change' forecast."""
    return np.maximum(np.sqrt(past_variance(data, split, data.target_days)), data.volatility_floor())


def ewma_variance(data: ForecastData, decay: float = EWMA_DECAY) -> tuple[np.ndarray, float]:
    """((rows,) annualised variance forecast made at each row for the next day, the seed): RiskMetrics
    σ²[s] = λ σ²[s-1] + (1 - λ) r[s]², σ²[0] = mean r² over the training rows (the only fitted number)."""
    returns = daily_returns(data)
    start, stop = data.borders["train"]
    seed = float(np.mean(returns[max(start, 1):stop] ** 2))
    variance = np.empty(len(returns))
    previous = seed
    for row, value in enumerate(returns):
        previous = decay * previous + (1 - decay) * value**2 if row > 0 else seed
        variance[row] = previous
    return TRADING_DAYS * variance, seed


def har_regressors(data: ForecastData, split: str) -> np.ndarray:
    """(windows, 4): 1, then the daily, weekly and monthly realised variances up to each anchor."""
    columns = [past_variance(data, split, days) for days in HAR_DAYS.values()]
    return np.column_stack([np.ones(len(data.splits[split].anchors)), *columns])


def fit_har(data: ForecastData) -> np.ndarray:
    """(4,) OLS coefficients of the next week's realised variance on `har_regressors`, training windows
    only."""
    variance = data.actual_targets("train") ** 2
    coefficients, *_ = np.linalg.lstsq(har_regressors(data, "train"), variance, rcond=None)
    return coefficients


def har_volatility(data: ForecastData, split: str, coefficients: np.ndarray) -> np.ndarray:
    variance = har_regressors(data, split) @ coefficients
    return np.sqrt(np.maximum(variance, data.volatility_floor() ** 2))


def fit_logistic(data: ForecastData) -> tuple[object, dict]:
    """A logistic regression of up / down on the flattened windows, its C (inverse L2 penalty) chosen
    from LOGISTIC_CS by log-loss on the "select" half."""
    import copy

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    labels = data.actual_targets("train").astype(int)
    if len(np.unique(labels)) < 2:
        raise ValueError("the training windows are all up days or all down days: a direction cannot be "
                         "learned from them (use a longer series)")
    actual = data.actual_targets(SELECT)
    best = None
    scores = {}
    # From the strongest penalty to the weakest, each fit starting from the last one's weights.
    model = LogisticRegression(max_iter=1000, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # weak penalties on 660 inputs: close enough
        for c in LOGISTIC_CS:
            model.set_params(C=c).fit(data.flat_inputs("train"), labels)
            scores[c] = log_loss(actual, model.predict_proba(data.flat_inputs(SELECT))[:, 1])
            if best is None or scores[c] < scores[best[0]]:
                best = (c, copy.deepcopy(model))
    c, model = best
    edge = "top" if c == LOGISTIC_CS[-1] else "bottom" if c == LOGISTIC_CS[0] else None
    return model, {"C": c, "C_on_grid_edge": edge is not None, "edge": edge,
                   "grid": [LOGISTIC_CS[0], LOGISTIC_CS[-1]], "select_log_loss": scores[c]}


@dataclass
class TargetBaselines:
    """The baselines of a volatility or direction target, fitted once (train) and tuned once
    (validation "select"), then asked for any split."""

    data: ForecastData
    har: np.ndarray | None = None  # (4,) HAR-RV coefficients
    ewma: np.ndarray | None = None  # (rows,) annualised EWMA variance forecast made at each row
    base_rate: float | None = None
    logistic: object | None = None
    info: dict = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return VOLATILITY_BASELINES if self.data.target == "volatility" else DIRECTION_BASELINES

    @property
    def fallback(self) -> str:
        """What the guard deploys when the network does not beat it: HAR-RV, or the base rate."""
        return "har" if self.data.target == "volatility" else "base_rate"

    def forecasts(self, split: str) -> dict[str, np.ndarray]:
        """{name: (windows,) forecast}: volatilities, or probabilities of an up day."""
        data = self.data
        if data.target == "volatility":
            floor = data.volatility_floor()
            return {"last": last_volatility(data, split),
                    "ewma": np.maximum(np.sqrt(self.ewma[data.splits[split].anchors]), floor),
                    "har": har_volatility(data, split, self.har)}
        windows = len(data.splits[split].anchors)
        return {"base_rate": np.full(windows, self.base_rate),
                "logistic": self.logistic.predict_proba(data.flat_inputs(split))[:, 1]}


def fit_target_baselines(data: ForecastData) -> TargetBaselines:
    """Fit the baselines of `data.target` on the training windows (settings chosen on "select")."""
    if data.target == "volatility":
        har = fit_har(data)
        ewma, seed = ewma_variance(data)
        info = {"har": {"coefficients": dict(zip(("intercept", *HAR_DAYS), har.tolist(), strict=True)),
                        "fitted_on": "training windows (OLS on realised variance)"},
                "ewma": {"decay": EWMA_DECAY, "seed_daily_variance": seed,
                         "seeded_on": "mean squared return of the training rows"},
                "last": {"days": data.target_days}}
        return TargetBaselines(data, har=har, ewma=ewma, info=info)
    if data.target == "direction":
        base_rate = float(np.mean(data.actual_targets("train")))
        logistic, logistic_info = fit_logistic(data)
        return TargetBaselines(data, base_rate=base_rate, logistic=logistic,
                               info={"base_rate": {"up_share_train": base_rate}, "logistic": logistic_info})
    raise ValueError(f"fit_target_baselines is for the volatility and direction targets, not {data.target!r}")
