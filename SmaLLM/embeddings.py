"""Looking inside the learned word vectors: nearest neighbours by cosine, and a 2-D PCA map.

If training worked, words used alike sit close together: "king" near "duke" and "lord", "thou" near
"thee" and "you". These functions read the model's embedding matrix (vocab, embedding_dim).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MIN_PLOT_TOKENS = 3  # fewer points than this make no 2-D map: PCA of two points is a line


def nearest_neighbours(
    embeddings: np.ndarray, token_id: int, count: int = 8, skip: tuple[int, ...] = ()
) -> list[tuple[int, float]]:
    """The `count` ids whose vectors have the highest cosine similarity with `token_id`'s, best first."""
    norms = np.linalg.norm(embeddings, axis=1) + 1e-12
    cosine = embeddings @ embeddings[token_id] / (norms * norms[token_id])  # (vocab,)
    cosine[[token_id, *skip]] = -np.inf
    best = np.argsort(-cosine)[:count]
    return [(int(i), float(cosine[i])) for i in best if np.isfinite(cosine[i])]  # a tiny vocabulary has fewer


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """Project (n, d) vectors onto their two main directions of variation: (n, 2), via an SVD."""
    centred = vectors - vectors.mean(axis=0)
    _, _, directions = np.linalg.svd(centred, full_matrices=False)  # rows: principal directions
    return centred @ directions[:2].T


def plot_embeddings(
    embeddings: np.ndarray, ids: list[int], labels: list[str], path: Path, title: str
) -> None:
    """Scatter the PCA projection of the given ids' vectors, each point labelled with its word."""
    if len(ids) < MIN_PLOT_TOKENS:
        raise ValueError(f"an embedding map needs at least {MIN_PLOT_TOKENS} tokens, got {len(ids)}")
    from matplotlib.figure import Figure  # late import: matplotlib is slow to load

    from common.figures import save_figure

    points = pca_2d(embeddings[ids])
    fig = Figure(figsize=(11, 9))
    axis = fig.subplots()
    axis.scatter(points[:, 0], points[:, 1], s=8, color="tab:blue", alpha=0.6)
    for (x, y), label in zip(points, labels, strict=True):
        axis.annotate(label, (x, y), fontsize=7, alpha=0.85, xytext=(2, 2), textcoords="offset points")
    axis.set_xlabel("principal component 1")
    axis.set_ylabel("principal component 2")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    save_figure(fig, path)
