# %% [markdown]
# # Stage 2 — SmaLLM: a word-level language model with learned embeddings
#
# Stage 1 read characters; this LSTM reads whole words. Each word gets a learned vector (its
# *embedding*), and the network predicts the next word. Words seen fewer than `min_freq` times become
# `<unk>`. It is compared with a **unigram** and an interpolated **Kneser-Ney trigram** on the same
# tokens. Perplexity compares models on the same tokens; bits per character of the original text
# compares different tokenizers.
#
# `preset = ""` is the stage's defaults (a few minutes on a laptop CPU); `preset = "tiny"` trains for
# six steps, which checks the plumbing in seconds.

# %% tags=["parameters"]
preset = ""  # "" = the stage's defaults; "tiny" = seconds, checks the plumbing, not the model
runs_folder = None  # where the runs go; None = outputs/notebooks/runs

# %%
from common import runtime

runtime.prepare_environment()  # settings PyTorch's OpenMP reads as it loads: before `import torch`

from pathlib import Path

import pandas as pd
import torch
from IPython.display import Image, Markdown, display

from common.config import preset_config
from common.lm.harness import never_sample
from common.paths import output_dir
from SmaLLM.embeddings import nearest_neighbours
from SmaLLM.sample import load_run
from SmaLLM.train import TrainConfig, run

runs = Path(runs_folder) if runs_folder else output_dir("notebooks", "runs")

# %% [markdown]
# ## Train and score
#
# `preset_config` builds the config `python SmaLLM/train.py` would; only the run folder is changed, so
# this notebook never overwrites a run of the script.

# %%
config = preset_config(TrainConfig, preset, out=str(runs / "SmaLLM"))
metrics = run(config)


# %%
def score_table(metrics: dict) -> pd.DataFrame:
    """The network beside the counting baselines: loss and perplexity per token, bits per character."""
    rows = {f"network ({metrics['tokenizer']} tokens)": metrics, **metrics["baselines"]}
    return pd.DataFrame({name: {column: row[column] for column in ("val_loss", "val_ppl", "val_bpc")}
                         for name, row in rows.items()}).T.sort_values("val_loss")


score_table(metrics).style.format("{:.3f}")

# %%
trigram = metrics["baselines"]["kneser_ney_trigram"]
display(Markdown(
    f"Vocabulary: **{metrics['vocab_size']:,}** words; {metrics['val_unknown_rate']:.1%} of the validation "
    f"words are `<unk>`. The network's perplexity is **{metrics['val_ppl']:.1f}** against "
    f"**{trigram['val_ppl']:.1f}** for the trigram: it "
    f"{'beats' if metrics['val_ppl'] < trigram['val_ppl'] else 'does not yet beat'} counting, "
    f"at {metrics['val_bpc']:.3f} bits per character of the original text."
))

# %%
run_folder = Path(config.out)
display(Image(filename=str(run_folder / "loss.png")))
display(Image(filename=str(run_folder / "embeddings.png")))

# %% [markdown]
# ## Look inside: nearest words in the embedding
#
# If training worked, words used alike sit close together (cosine similarity of their vectors): "king"
# near "duke" and "lord", "thou" near "thee". Pick your own words below; a word outside the vocabulary
# is skipped.

# %%
model, tokenizer = load_run(run_folder, torch.device("cpu"))
embeddings = model.embedding.weight.detach().numpy()  # (vocab, embedding_dim)
skip = never_sample(tokenizer)
neighbours = {}
for word in ["king", "love", "thou", "night", "good"]:
    ids = tokenizer.encode(" " + word)  # with its leading space, as a word appears inside text
    if len(ids) == 1 and ids[0] not in skip:
        neighbours[word] = [f"{tokenizer.token_text(i)} ({cosine:.2f})"
                            for i, cosine in nearest_neighbours(embeddings, ids[0], count=5, skip=skip)]
pd.DataFrame(neighbours).T.rename(columns=lambda rank: f"#{rank + 1}")

# %% [markdown]
# ## Try this: byte-level BPE
#
# `tokenizer="bpe"` splits text into frequent byte pieces instead of words, so no word is ever unknown.
# Perplexities per token are not comparable across tokenizers; bits per character are. Change the
# option below (say `min_freq=3` or `tie_weights=False`) and run the cell again.

# %%
changed = {"tokenizer": "bpe"}
config_try = preset_config(TrainConfig, preset, out=str(runs / "SmaLLM-try"), **changed)
metrics_try = run(config_try)
label = ", ".join(f"{key}={value}" for key, value in changed.items())
columns = ("vocab_size", "val_unknown_rate", "val_ppl", "val_bpc")
pd.DataFrame({
    "as above": {name: metrics[name] for name in columns},
    label: {name: metrics_try[name] for name in columns},
}).T.style.format({"vocab_size": "{:,.0f}", "val_unknown_rate": "{:.1%}", "val_ppl": "{:.1f}",
                   "val_bpc": "{:.3f}"})
