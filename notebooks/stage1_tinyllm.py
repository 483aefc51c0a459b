# %% [markdown]
# # Stage 1 — TinyLLM: a character-level language model
#
# A recurrent network reads Shakespeare one character at a time and learns to predict the next one.
# Its score is the validation loss in nats per character (lower is better; bits per character = nats /
# ln 2), and it is compared with models that only count: the **unigram** (how common each character
# is), the **bigram** (given the last character) and a **Kneser-Ney n-gram** (given the last few). A
# network that cannot beat the n-gram has learnt nothing the counts did not already know.
#
# `preset = ""` is the stage's defaults (a plain tanh RNN for about four minutes of training on a
# laptop CPU); `preset = "tiny"` trains for six steps, which checks the plumbing in seconds.

# %% tags=["parameters"]
preset = ""  # "" = the stage's defaults; "tiny" = seconds, checks the plumbing, not the model
runs_folder = None  # where the runs go; None = outputs/notebooks/runs

# %%
from common import runtime

runtime.prepare_environment()  # settings PyTorch's OpenMP reads as it loads: before `import torch`

import io
import math
from pathlib import Path

import pandas as pd
import torch
from IPython.display import Image, Markdown, display
from matplotlib.figure import Figure

from common.config import preset_config
from common.lm.evaluation import loss_by_position
from common.lm.harness import generate, never_sample, split_text
from common.paths import output_dir
from TinyLLM.sample import load_run
from TinyLLM.train import TrainConfig, run

runs = Path(runs_folder) if runs_folder else output_dir("notebooks", "runs")


def show(figure: Figure) -> None:
    """Show a matplotlib figure inline, whatever backend the stage code chose."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    display(Image(data=buffer.getvalue()))


# %% [markdown]
# ## Train and score
#
# `preset_config` builds the config `python TinyLLM/train.py` would; only the run folder is changed,
# so this notebook never overwrites a run of the script. The run prints its progress and a sample.

# %%
config = preset_config(TrainConfig, preset, out=str(runs / "TinyLLM"))
metrics = run(config)


# %%
def loss_table(metrics: dict) -> pd.DataFrame:
    """Validation loss of the network beside the counting baselines, in nats and bits per character."""
    rows = {f"network ({metrics['cell']})": {"val_loss": metrics["val_loss"], "val_bpc": metrics["val_bpc"]}}
    for name, baseline in metrics["baselines"].items():
        label = f"{baseline['order']}-gram Kneser-Ney" if name == "ngram" else name
        rows[label] = {"val_loss": baseline["val_loss"], "val_bpc": baseline["val_bpc"]}
    return pd.DataFrame(rows).T.sort_values("val_loss")


table = loss_table(metrics)
table.style.format("{:.3f}")

# %%
ngram = metrics["baselines"]["ngram"]
gap = metrics["val_loss"] - ngram["val_loss"]
verdict = f"**{-gap:.3f} nats better** than counting." if gap < 0 else f"still **{gap:.3f} nats worse**."
display(Markdown(
    f"The {metrics['cell']} network ({metrics['params']:,} parameters, {metrics['steps']:,} steps) scores "
    f"**{metrics['val_loss']:.3f}** nats per character on the validation text, against "
    f"**{ngram['val_loss']:.3f}** for the {ngram['order']}-gram: "
    + verdict
    + f" A perplexity of {math.exp(metrics['val_loss']):.1f} means it hesitates, on average, as if between "
    f"that many equally likely characters."
))

# %%
run_folder = Path(config.out)
display(Image(filename=str(run_folder / "loss.png")))

# %% [markdown]
# ## Look inside: temperature, and how far back the network reads
#
# **Temperature** divides the logits before sampling: below 1 the network picks its favourite
# characters (safe, repetitive), above 1 it takes risks (varied, misspelt).
#
# **Loss by position**: cut the validation text into windows, read each from a blank memory, and
# average the loss at each position. Where the curve still falls at position p, the network uses text
# p characters back.

# %%
model, tokenizer = load_run(run_folder, torch.device("cpu"))
prompt = "ROMEO:"
for temperature in (0.5, 1.2):
    generator = torch.Generator().manual_seed(0)
    new_ids = generate(model, tokenizer.encode(prompt), 200, temperature=temperature, generator=generator,
                       exclude=never_sample(tokenizer))
    print(f"--- temperature {temperature} ---\n{prompt}{tokenizer.decode(new_ids)}\n")

# %%
_, validation_text = split_text(config)
validation_ids = torch.tensor(tokenizer.encode(validation_text))
context = min(128, len(validation_ids) // 4)
by_position = loss_by_position(model, validation_ids, context=context)
figure = Figure(figsize=(7, 3.5))
axes = figure.add_subplot()
axes.plot(range(1, context + 1), by_position, label="network, read from a blank memory")
axes.axhline(ngram["val_loss"], color="grey", linestyle="--", label=f"{ngram['order']}-gram Kneser-Ney")
axes.set(xlabel="position in the window (characters read so far)", ylabel="loss (nats/char)",
         title="Loss by position")
axes.legend()
show(figure)
print(f"loss at position 1: {by_position[0]:.3f}; at position {context}: {by_position[-1]:.3f}")

# %% [markdown]
# ## Try this: a gated cell
#
# `cell="lstm"` swaps the plain tanh RNN for an LSTM, whose gates let it keep a memory across many
# steps, on the same time budget. Change the option below (say `cell="gru"` or `hidden_size=256`) and
# run the cell again.

# %%
changed = {"cell": "lstm"}
config_try = preset_config(TrainConfig, preset, out=str(runs / "TinyLLM-try"), **changed)
metrics_try = run(config_try)
label = ", ".join(f"{key}={value}" for key, value in changed.items())
pd.DataFrame({
    "as above": {name: metrics[name] for name in ("val_loss", "val_bpc", "params", "steps")},
    label: {name: metrics_try[name] for name in ("val_loss", "val_bpc", "params", "steps")},
}).T.style.format({"val_loss": "{:.3f}", "val_bpc": "{:.3f}", "params": "{:,.0f}", "steps": "{:,.0f}"})
