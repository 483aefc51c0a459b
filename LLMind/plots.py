"""Stage 5's figures, drawn with matplotlib's object API (a `Figure` needs no backend and no global state)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from common.runs import atomic_path

COLOURS = {"tfidf_logreg": "tab:gray", "frozen_logreg": "tab:blue", "fine_tuned": "tab:red",
           "from_scratch": "tab:orange", "majority": "black"}
NAMES = {"majority": "majority class", "tfidf_logreg": "TF-IDF + LR", "frozen_logreg": "frozen MiniLM + LR",
         "fine_tuned": "fine-tuned MiniLM", "from_scratch": "same network from scratch",
         "small_scratch": "small BERT (2 x 128)", "bag_scratch": "bag of WordPieces"}


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    return path


def plot_confusions(matrices: Mapping[str, np.ndarray], labels: Sequence[str], path: Path,
                    title: str) -> Path:
    """One confusion matrix per model, side by side: rows the true class, columns the prediction."""
    fig = Figure(figsize=(4.2 * len(matrices), 4.0))
    axes = fig.subplots(1, len(matrices), squeeze=False)[0]
    for axis, (name, counts) in zip(axes, matrices.items(), strict=True):
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(labels)):
            for j in range(len(labels)):
                axis.text(j, i, f"{counts[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center",
                          color="white" if shares[i, j] > 0.6 else "black", fontsize=9)
        axis.set_xticks(range(len(labels)), labels, rotation=30)
        axis.set_yticks(range(len(labels)), labels)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        axis.set_title(NAMES.get(name, name))
    fig.suptitle(title)
    return _save(fig, path)


def plot_learning_curve(sizes: Sequence[int], curves: Mapping[str, Sequence[float]], floor: float, path: Path,
                        title: str, draws: Mapping[str, Sequence[Sequence[float]]] | None = None) -> Path:
    """Test macro-F1 against the number of training sentences (log scale): the mean per size, and where
    `draws` holds each size's scores over several subsets (all sizes but the last), their range."""
    fig = Figure(figsize=(6.5, 4.2))
    axis = fig.subplots()
    for name, values in curves.items():
        axis.plot(sizes, values, marker="o", color=COLOURS.get(name), label=NAMES.get(name, name))
        for size, scores in zip(sizes, (draws or {}).get(name, []), strict=False):
            if len(scores) > 1:  # the range over subsets: how much a point owes to the draw
                axis.vlines(size, min(scores), max(scores), color=COLOURS.get(name), alpha=0.6, linewidth=3)
    axis.axhline(floor, color="black", linestyle=":", label=NAMES["majority"])
    axis.set_xscale("log")
    axis.set_xticks(list(sizes), [f"{size:,}" for size in sizes])
    axis.set_xlabel("training sentences")
    axis.set_ylabel("test macro-F1" + (" (bars: range over subsets)" if draws else ""))
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    return _save(fig, path)


def plot_attention(tokens: Sequence[str], maps: Mapping[str, np.ndarray], path: Path, title: str) -> Path:
    """Attention weights (tokens, tokens), averaged over heads, one panel per model: row i shows where
    token i looks."""
    fig = Figure(figsize=(5.2 * len(maps), 5.0))
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    for axis, (name, weights) in zip(axes, maps.items(), strict=True):
        image = axis.imshow(weights, cmap="viridis", vmin=0)
        axis.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=8)
        axis.set_yticks(range(len(tokens)), tokens, fontsize=8)
        axis.set_xlabel("attends to")
        axis.set_title(name)
        fig.colorbar(image, ax=axis, fraction=0.046)
    fig.suptitle(title)
    return _save(fig, path)
