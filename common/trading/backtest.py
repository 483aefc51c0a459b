"""The accounting of a daily strategy, written once and shared by the environment and every baseline.

Timing (no day sees its future):
- `positions[t]` is the target weight decided at the close of day t, from rows <= t only;
- it is filled at the open of day t+1 and held until the next fill, so the weight held during day t
  is `held[t] = positions[t - 1]` (`held[0]` = the starting position, flat by default);
- net asset value (NAV) is marked at each close. Day t's log change of NAV has three legs:

      overnight   log(1 + held[t-1] * (open[t] / close[t-1] - 1))   the old weight, close t-1 -> open t
      fill        log(1 - cost * |held[t] - held[t-1]|)             cost per side on the traded weight
      intraday    log(1 + held[t]   * (close[t] / open[t] - 1))     the new weight, open t -> close t

  so day t's return uses rows <= t only, and the reward for the decision made at close t-1 is known
  at close t. A weight is a fraction of NAV (1 long, -1 short, 0 flat), rebalanced at each fill;
  costs are charged on changes of the target weight only.
- Long and held from the first fill, this is exactly buy-and-hold: NAV = (1 - cost) * close / open_fill.
- Without an Open column pass `open_ = close`: the fill is then at the next close (the overnight leg
  carries the whole day's return and the intraday leg is zero).
"""

from __future__ import annotations

import numpy as np

BPS = 1e-4  # one basis point as a fraction


def _log1p_floor(x: np.ndarray | float) -> np.ndarray | float:
    # A weight of -1 through a doubling would leave nothing: floor the NAV ratio instead of log(<=0).
    return np.log(np.maximum(1.0 + np.asarray(x, dtype=float), 1e-12))


def step_log_return(prev_held: float, held: float, open_t: float, close_prev: float, close_t: float,
                    cost: float) -> tuple[float, float]:
    """One day's log change of NAV and the cost paid (as a fraction of NAV). `cost` is a fraction per side."""
    traded = abs(held - prev_held)
    overnight = _log1p_floor(prev_held * (open_t / close_prev - 1.0))
    fill = _log1p_floor(-cost * traded)
    intraday = _log1p_floor(held * (close_t / open_t - 1.0))
    return float(overnight + fill + intraday), float(cost * traded)


def held_positions(positions: np.ndarray, initial: float = 0.0) -> np.ndarray:
    """The weight held during each day: positions shifted one day later (decided at t, held on t+1)."""
    positions = np.asarray(positions, dtype=float)
    return np.concatenate([[initial], positions[:-1]])


def daily_log_returns(open_: np.ndarray, close: np.ndarray, positions: np.ndarray, cost_bps: float,
                      initial: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised `step_log_return` over a whole series: (log NAV change per day, cost paid per day).

    Day 0 has no previous close, so its return is 0 and its position is only decided, not held.
    Every array has the length of the series.
    """
    open_, close, positions = (np.asarray(a, dtype=float) for a in (open_, close, positions))
    if not (len(open_) == len(close) == len(positions)):
        raise ValueError(f"open, close and positions differ in length: {len(open_)}, {len(close)}, "
                         f"{len(positions)}")
    if len(close) < 2:
        raise ValueError("a backtest needs at least 2 days")
    prices = np.concatenate([open_, close])
    if not (np.isfinite(prices).all() and (prices > 0).all()):
        raise ValueError("prices must be finite and positive: drop or fill the bad rows first")
    if not np.isfinite(positions).all() or np.abs(positions).max() > 1.0 + 1e-12:
        raise ValueError("positions must be finite weights in [-1, 1]")
    cost = cost_bps * BPS
    held = held_positions(positions, initial)
    prev = np.concatenate([[initial], held[:-1]])
    log_ret = np.zeros(len(close))
    log_ret[1:] = (_log1p_floor(prev[1:] * (open_[1:] / close[:-1] - 1.0))
                   + _log1p_floor(-cost * np.abs(held[1:] - prev[1:]))
                   + _log1p_floor(held[1:] * (close[1:] / open_[1:] - 1.0)))
    cost_paid = np.zeros(len(close))
    cost_paid[1:] = cost * np.abs(held[1:] - prev[1:])
    return log_ret, cost_paid


def span_log_returns(open_: np.ndarray, close: np.ndarray, positions: np.ndarray, start: int, stop: int,
                     cost_bps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score the decisions of days [start, stop) alone, from a flat start: what one evaluation pass of
    the environment over that span earns.

    `positions` covers the whole series (only [start, stop) is read). Returns three arrays over the
    days the span's decisions are held, start+1 .. stop: (log NAV change, held weight, cost paid).
    The entry fill is paid; the position is not closed after the span, so no exit cost is charged.
    """
    if not 0 <= start < stop <= len(close) - 1:
        raise ValueError(f"need 0 <= start < stop <= n_days - 1 = {len(close) - 1}, got start={start}, "
                         f"stop={stop}")
    span_positions = np.zeros(len(close))
    span_positions[start:stop] = np.asarray(positions, dtype=float)[start:stop]
    log_ret, cost_paid = daily_log_returns(open_, close, span_positions, cost_bps)
    held = held_positions(span_positions)
    days = slice(start + 1, stop + 1)
    return log_ret[days], held[days], cost_paid[days]
