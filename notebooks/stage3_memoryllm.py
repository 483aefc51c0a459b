# %% [markdown]
# # Stage 3 — MemoryLLM: an LSTM forecasting GOOG
#
# A Keras LSTM reads 60 days of technical indicators (log return, RSI, MACD, Bollinger bands, …) one
# day at a time, carrying a memory cell from day to day, and forecasts the next close. It is scored
# beside the forecasts that need no network at all: **naive** (tomorrow = today), **drift**, an **AR**
# model, a **moving average** and a **ridge** regression.
#
# What to look for: a daily close is close to a random walk, so naive is very hard to beat. The
# *guard* keeps the network only if it beat naive on held-out validation days; otherwise the stage
# forecasts naive. Read `MemoryLLM/README.md` for the full story, and Stage 4's notebook for the
# Transformer on the same windows.
#
# The cell below picks the settings: `preset = ""` is the stage's defaults (a few minutes on a laptop
# CPU); `preset = "tiny"` checks the plumbing in seconds (the tests run it that way).

# %% tags=["parameters"]
preset = ""  # "" = the stage's defaults; "tiny" = seconds, checks the plumbing, not the model
runs_folder = None  # where the runs go; None = outputs/notebooks/runs

# %%
from common import runtime

runtime.prepare_environment()  # settings TensorFlow reads as it loads: before `import keras`

import json
import time
from pathlib import Path

from IPython.display import Image, Markdown, display

from common.config import preset_config
from common.forecast.notebook import compare_runs, describe_run, headline, lag_profile_peaks, metrics_table
from common.paths import output_dir
from MemoryLLM.train import MemoryConfig, run

runs = Path(runs_folder) if runs_folder else output_dir("notebooks", "runs")

# %% [markdown]
# ## Train and score
#
# `preset_config` builds the same config the command line would (`python MemoryLLM/train.py`); only the
# output folder is changed here, so this notebook never overwrites a run of the script.

# %%
config = preset_config(MemoryConfig, preset, out=str(runs / "MemoryLLM"))
started = time.perf_counter()
metrics = run(config, verbose=False)
seconds = time.perf_counter() - started
print(describe_run(metrics, seconds))

# %% [markdown]
# Every forecast on the test days, best RMSE first: the network as trained, the network behind the guard,
# and the baselines (`metrics_table` and the other helpers of this notebook are in
# `common/forecast/notebook.py`).

# %%
metrics_table(metrics).style.format("{:.3f}", na_rep="—")

# %%
display(Markdown(headline(metrics, network="the LSTM")))

# %% [markdown]
# ## The plots the run wrote
#
# Forecasts against the actual close on the test days, the training and validation loss per epoch,
# and predicted against actual daily returns (a cloud with no slope means no skill on returns).

# %%
run_folder = Path(config.out)
for name in ["predictions.png", "loss.png", "returns_scatter.png"]:
    display(Image(filename=str(run_folder / name)))

# %% [markdown]
# ## Look inside
#
# **Where the score is won or lost**: the running sum of naive's squared error minus each forecast's,
# as a share of naive's total. A line that rises beats naive over that stretch, a jump is one day that
# decided the score, and the last point is 1 − (RMSE / naive RMSE)².
#
# **Where the network looks**: gradient saliency, how much the forecast moves with each day of the
# window. A model that found a real lag would peak there; a profile near the uniform share reads no
# day in particular.

# %%
display(Image(filename=str(run_folder / "cumulative_error.png")))
display(Image(filename=str(run_folder / "interpretability.png")))
profiles = json.loads((run_folder / "lag_profiles.json").read_text())
lag_profile_peaks(profiles).style.format("{:.3g}")

# %% [markdown]
# ## Try this: take away the day clock
#
# By default each day carries a one-hot "day of the window" beside its indicators: an LSTM cannot
# count, and without the clock it never found a lag of 20 or 50 days (`benchmarks/lag_recipes.md`).
# `day_clock=False` takes it away. Change the option below (say `units=16` or `horizon=5`) and run the
# cell again.

# %%
changed = {"day_clock": False}
config_try = preset_config(MemoryConfig, preset, out=str(runs / "MemoryLLM-try"), **changed)
metrics_try = run(config_try, verbose=False)
compare_runs(metrics, metrics_try, changed).style.format("{:.3f}", na_rep="—")
