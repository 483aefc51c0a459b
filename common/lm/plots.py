"""The language models' plots: the loss curves of a run beside its n-gram baselines."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from common.figures import save_figure


def plot_losses(
    history: list[dict[str, float]], path: Path, title: str, unit: str = "nats/char",
    baselines: dict[str, float] | None = None,
) -> None:
    """Train and validation loss against steps (left) and against wall-clock seconds (right),
    with each baseline's validation loss as a dotted horizontal line."""
    fig = Figure(figsize=(11, 4))
    axes = fig.subplots(1, 2, sharey=True)
    for axis, x_key, x_label in ((axes[0], "step", "step"), (axes[1], "seconds", "seconds of training")):
        x = [row[x_key] for row in history]
        axis.plot(x, [row["train_loss"] for row in history], "o-", ms=3,
                  label="train (mean since last point)")
        axis.plot(x, [row["val_loss"] for row in history], "s--", ms=3, label="validation (carried state)")
        baseline_colors = ("gray", "tab:red", "tab:green")
        for (name, loss), color in zip((baselines or {}).items(), baseline_colors, strict=False):
            axis.axhline(loss, color=color, ls=":", lw=1.2, label=f"{name} (validation)")
        axis.set_xlabel(x_label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(f"cross-entropy ({unit})")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
