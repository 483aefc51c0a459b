"""Figures written to files (`savefig`, atomically): nothing here opens a window.

Figures are built with matplotlib's object API (`Figure`, `fig.subplots`), not `pyplot`: a `Figure`
saves to a file without a backend, so importing this module changes no process-wide setting (a notebook
that imports it keeps its own backend), and no figure is left open in pyplot's registry. The plots of each
family live in its package (`common/lm/plots.py`, `common/forecast/plots.py`); this module holds what
they share.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from common.runs import atomic_path

COLORS = {"actual": "black", "naive": "tab:gray", "LSTM": "tab:blue", "Transformer": "tab:orange"}


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Save a figure atomically at 120 dpi (a `Figure` made without pyplot needs no closing: it is
    freed with its last reference)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
    return path
