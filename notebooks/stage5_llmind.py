# %% [markdown]
# # Stage 5 — LLMind: fine-tuning a pretrained BERT
#
# MiniLM, a small BERT (22.7M parameters) pretrained on a billion sentence pairs, is fine-tuned to classify
# the sentiment of New York Times editorial snippets as negative, neutral or positive, offline. The
# question is what the pretrained weights buy, so it is scored on the same test sentences (macro-F1
# with bootstrap 95 % intervals) beside the **majority class**, **TF-IDF + logistic regression**, the
# **frozen** MiniLM's sentence vectors + logistic regression, and the same network trained **from
# scratch**. Read `LLMind/README.md` for the full story.
#
# `preset = ""` is the stage's defaults (the run trains seven networks and a learning curve: about 25
# minutes on 2 busy CPU cores, see notebooks/README.md); `preset = "tiny"` uses 240 sentences and one
# epoch, which checks the plumbing in seconds.

# %% tags=["parameters"]
preset = ""  # "" = the stage's defaults; "tiny" = seconds, checks the plumbing, not the model
runs_folder = None  # where the runs go; None = outputs/notebooks/runs

# %%
from common import runtime

runtime.prepare_environment()  # settings PyTorch's OpenMP reads as it loads: before `import torch`

from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from common.config import preset_config
from common.paths import output_dir
from LLMind.config import TrainConfig
from LLMind.train import run

runs = Path(runs_folder) if runs_folder else output_dir("notebooks", "runs")

# %% [markdown]
# ## Train and score every model
#
# `preset_config` builds the config `python LLMind/train.py` would; only the run folder is changed, so
# this notebook never overwrites a run of the script.

# %%
config = preset_config(TrainConfig, preset, out=str(runs / "LLMind"))
metrics = run(config)

MODELS = ["majority", "tfidf_logreg", "frozen_logreg", "fine_tuned", "from_scratch", "small_scratch",
          "bag_scratch"]


def score_table(metrics: dict) -> pd.DataFrame:
    """Test accuracy and macro-F1 (with its bootstrap 95 % interval) of every model the run trained."""
    rows = {}
    for name in (name for name in MODELS if name in metrics):  # a rival switched off is not in metrics
        scores = metrics[name]
        low, high = scores["macro_f1_ci95"]
        rows[name] = {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"], "f1_low": low,
                      "f1_high": high}
    return pd.DataFrame(rows).T.sort_values("macro_f1", ascending=False)


score_table(metrics).style.format("{:.3f}")

# %%
task = metrics["task"]
versus = metrics["fine_tuned_vs_tfidf_logreg"]
low, high = versus["ci95"]
sentences = task["sentences"]
display(Markdown(
    f"Trained on **{sentences['train']:,}** sentences and tested on **{sentences['test']:,}**, "
    f"the fine-tuned MiniLM reaches a macro-F1 of **{metrics['fine_tuned']['macro_f1']:.3f}**, against "
    f"**{metrics['tfidf_logreg']['macro_f1']:.3f}** for TF-IDF + logistic regression and "
    f"**{metrics['majority']['macro_f1']:.3f}** for always answering the majority class. The difference "
    f"with TF-IDF is {versus['macro_f1_difference']:+.3f} (95 % interval {low:+.3f} to {high:+.3f}): "
    + ("an interval that excludes zero." if low > 0 or high < 0 else "an interval that includes zero, so "
       "this test set cannot tell them apart.")
))

# %% [markdown]
# ## The learning curve
#
# The same comparison on fewer training sentences: pretrained weights matter most when labelled data is
# scarce.

# %%
run_folder = Path(config.out)
display(Image(filename=str(run_folder / "learning_curve.png")))
curve = metrics["learning_curve"]
pd.DataFrame({name: values for name, values in curve.items()
              if name not in ("sizes", "floor_majority", "fine_tuned_steps")},
             index=pd.Index(curve["sizes"], name="training sentences")).style.format("{:.3f}")

# %% [markdown]
# ## Look inside: what each model confuses, and where attention goes
#
# The confusion matrices (rows: the true class, columns: the predicted one) show *which* mistakes each
# model makes: a model that answers "neutral" to everything has a single full column. Then how three
# tokenizers cut one sentence, and where the fine-tuned model's attention goes over it.

# %%
display(Image(filename=str(run_folder / "confusion.png")))
classes = task["classes"]
confusion = metrics["confusion"]["fine_tuned"]
display(pd.DataFrame(confusion, index=[f"true {name}" for name in classes],
                     columns=[f"predicted {name}" for name in classes]))
recalls = {name: row[i] / max(sum(row), 1) for i, (name, row) in enumerate(zip(classes, confusion))}
print("fine-tuned recall per class:", ", ".join(f"{name} {recall:.0%}" for name, recall in recalls.items()))

# %%
display(Markdown((run_folder / "tokens.md").read_text(encoding="utf-8")))
display(Image(filename=str(run_folder / "attention.png")))

# %% [markdown]
# ## Try this: fine-tune every layer
#
# By default only the top 2 of MiniLM's 6 layers are fine-tuned (the frozen ones run once per
# sentence, which makes training about three times cheaper). `trainable_layers=6` fine-tunes them all.
# Change the option below (say `epochs=5`, or `data="tweets"`) and run the cell again. The run skips
# what this option does not change (the learning curve and the two small from-scratch networks), so
# their rows stay empty; what remains costs about three times the fine-tune above.

# %%
changed = {"trainable_layers": 6}
unchanged = {"curve_sizes": "", "small_rates": "", "bag_rates": ""}  # skipped: they do not depend on it
config_try = preset_config(TrainConfig, preset, out=str(runs / "LLMind-try"), **changed, **unchanged)
metrics_try = run(config_try)
label = ", ".join(f"{key}={value}" for key, value in changed.items())
pd.DataFrame({
    "as above": score_table(metrics)["macro_f1"],
    label: score_table(metrics_try)["macro_f1"],
}).style.format("{:.3f}")
