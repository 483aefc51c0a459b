"""The trading family (Stage 6, AgentLLM): positions in, net asset value and honest metrics out.

    backtest.py      the accounting every policy shares: decided at the close of day t, filled at the
                     open of day t+1, costs on every change of position, log NAV marked at each close
    performance.py   total return, CAGR, volatility, Sharpe, Sortino, drawdown, Calmar, turnover, ...
    significance.py  stationary-bootstrap intervals, probabilistic and deflated Sharpe, break-even cost

Import rule: this package imports only the plumbing in `common/` (never `common.lm`, `common.forecast`
or a stage), so a backtest can be checked without any model.
"""
