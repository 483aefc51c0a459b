# %% [markdown]
# # Stage 6 — AgentLLM: a reinforcement-learning agent trading GOOG
#
# Each evening an agent reads the market (the last ten daily returns, RSI, MACD, moving averages,
# Bollinger %B, volatility and the position it holds) and picks tomorrow's position: long, flat or
# short. The order fills at the next open and pays a cost on every change. Agents (PPO, A2C, DQN from
# stable-baselines3, several seeds each) learn on the oldest 70 % of the days; the checkpoint with the
# best Sharpe on the first half of validation is kept.
#
# It is compared with what a trader would try first: **flat** (cash), **buy-and-hold**, an **SMA
# 20/50** crossover, a **supervised** logistic policy and a **random** policy with the agent's
# turnover. A *guard* keeps the agent only if a bootstrap on the second half of validation says it beats
# buy-and-hold and cash; otherwise the stage holds buy-and-hold. Read `AgentLLM/README.md` for more.
#
# `preset = ""` is the stage's defaults (PPO, A2C, DQN × 3 seeds: a few minutes on a laptop CPU);
# `preset = "tiny"` is one short PPO run that checks the plumbing in seconds.

# %% tags=["parameters"]
preset = ""  # "" = the stage's defaults; "tiny" = seconds, checks the plumbing, not the agent
runs_folder = None  # where the runs go; None = outputs/notebooks/runs

# %%
from common import runtime

runtime.prepare_environment()  # settings PyTorch's OpenMP reads as it loads: before `import torch`

from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from AgentLLM.train import AgentConfig, run
from common.config import preset_config
from common.paths import output_dir

runs = Path(runs_folder) if runs_folder else output_dir("notebooks", "runs")

# %% [markdown]
# ## Train the agents and score every policy
#
# `preset_config` builds the config that `python AgentLLM/train.py` would; only the run folder is
# changed, so this notebook never overwrites a run of the script. The run prints its own report.

# %%
config = preset_config(AgentConfig, preset, out=str(runs / "AgentLLM"))
metrics = run(config)


# %%
def policy_table(metrics: dict, split: str = "test") -> pd.DataFrame:
    """Every policy's backtest on `split`: returns, risk-adjusted return, drawdown and trading."""
    columns = ["total_return", "sharpe", "max_drawdown", "turnover", "exposure", "costs_paid"]
    rows = {name: {column: scores[split][column] for column in columns}
            for name, scores in metrics["policies"].items()}
    return pd.DataFrame(rows).T.astype(float).sort_values("sharpe", ascending=False)


table = policy_table(metrics)
table.style.format("{:.3f}")

# %%
chosen, guard = metrics["chosen"], metrics["guard"]
test = metrics["policies"]
interval = test["as_trained"]["test"]["sharpe_interval"]
display(Markdown(
    f"The agent chosen on validation is **{chosen['agent']}**. On the {metrics['splits']['test']['days']} "
    f"test days its Sharpe ratio is **{test['as_trained']['test']['sharpe']:.2f}** "
    f"(95 % interval {interval['low']:.2f} to {interval['high']:.2f}), against "
    f"**{test['buy_and_hold']['test']['sharpe']:.2f}** for buy-and-hold. The guard "
    f"**{'kept' if guard['kept'] else 'did not keep'}** the agent (p = {guard['p_value']:.3f}), so the stage "
    f"holds {'the agent' if guard['kept'] else 'buy-and-hold'}: test Sharpe "
    f"{test['guarded']['test']['sharpe']:.2f}. After trying {metrics['deflated_sharpe']['n_trials']} "
    f"configurations, the deflated Sharpe ratio (the probability that the true Sharpe is above zero, "
    f"allowing for that many tries) is "
    f"{metrics['deflated_sharpe']['dsr']:.2f}."
))

# %% [markdown]
# ## The plots the run wrote
#
# The agents' learning curves (Sharpe on the select half as training goes on), then which inputs the
# kept agent's decisions depend on (how often its action changes when one input is shuffled).

# %%
run_folder = Path(config.out)
for name in ["training.png", "importance.png"]:
    display(Image(filename=str(run_folder / name)))

# %% [markdown]
# ## Look inside: equity curves and positions
#
# What one dollar became under each policy, day by day across the splits, and the positions behind
# it. Then, from `positions.csv` (every policy's position on every day), how each policy spent the test
# days: long, flat or short, and how often it traded.

# %%
display(Image(filename=str(run_folder / "equity.png")))
display(Image(filename=str(run_folder / "positions.png")))
positions = pd.read_csv(run_folder / "positions.csv", parse_dates=["date"])
test_days = positions[positions["split"] == "test"]
policy_columns = [column for column in positions.columns
                  if column not in ("date", "split", "open", "close")]
pd.DataFrame({
    "long": (test_days[policy_columns] > 0).mean(),
    "flat": (test_days[policy_columns] == 0).mean(),
    "short": (test_days[policy_columns] < 0).mean(),
    "changes": (test_days[policy_columns].diff().abs() > 0).sum(),
}).style.format({"long": "{:.0%}", "flat": "{:.0%}", "short": "{:.0%}", "changes": "{:d}"})

# %% [markdown]
# ## Try this: no shorting
#
# `action_mode="long_flat"` lets the agent choose only between holding GOOG and cash. While a stock
# rises, shorting is an easy way to lose; does the agent do better without it?
# Change the option below (say `cost_bps=25`, or `algorithms="dqn"`) and run the cell again.

# %%
changed = {"action_mode": "long_flat"}
config_try = preset_config(AgentConfig, preset, out=str(runs / "AgentLLM-try"), **changed)
metrics_try = run(config_try)
label = ", ".join(f"{key}={value}" for key, value in changed.items())
pd.DataFrame({
    "as above": policy_table(metrics)[["total_return", "sharpe"]].stack(),
    label: policy_table(metrics_try)[["total_return", "sharpe"]].stack(),
}).unstack().style.format("{:.3f}")
