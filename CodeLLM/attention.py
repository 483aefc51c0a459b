"""Which past days does the Transformer look at? Its attention weights, read out and drawn.

Two summaries per lag day (index 0 = the oldest day of the window, the last index = the last known
day, as MemoryLLM's gradient saliency):
- `cross`: the decoder's cross-attention from the forecast slots to the encoder positions, averaged
  over heads, layers and windows. Direct, but an encoder position has already mixed in other days.
- `rollout` (Abnar & Zuidema, 2020): the same cross-attention pushed back through the encoder's
  self-attention layers (each taken as half attention, half residual), so it credits the input
  days rather than the encoder positions.
Attention says where the model *reads*, not how much a day changes the forecast: treat it as a
view of the mechanism, and the LSTM's gradient saliency as a view of sensitivity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from CodeLLM.model import Attention, TransformerForecaster
from common.forecast.windows import ForecastData

METHODS = ("cross", "rollout")


def collect_attention(
    model: TransformerForecaster, inputs: np.ndarray, batch_size: int = 256
) -> list[Attention]:
    """Run the model over (windows, lookback, features) in eval mode and keep every attention map."""
    device = next(model.parameters()).device
    model.eval()
    maps = []
    with torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(inputs[start:start + batch_size])).to(device)
            maps.append(model.forward_with_attention(batch)[1])
    return maps


def _lag_weights(attention: Attention, horizon: int, method: str) -> torch.Tensor:
    """(batch, lookback) attention from the forecast slots onto each input day, rows summing to 1."""
    # (batch, horizon, lookback): the forecast slots' rows, averaged over heads and decoder layers
    cross = torch.stack([w[:, :, -horizon:, :].mean(dim=1) for w in attention.decoder_cross]).mean(dim=0)
    if method == "rollout":
        lookback = cross.shape[-1]
        identity = torch.eye(lookback, device=cross.device)
        flow = identity.expand(cross.shape[0], lookback, lookback)
        for weights in attention.encoder:
            # The residual path carries half of each position through unchanged.
            layer = 0.5 * weights.mean(dim=1) + 0.5 * identity  # (batch, lookback, lookback)
            flow = layer @ flow
        cross = cross @ flow
    weights = cross.mean(dim=1)  # (batch, lookback), average over forecast steps
    return weights / weights.sum(dim=1, keepdim=True)


def attention_per_lag(model: TransformerForecaster, inputs: np.ndarray, method: str = "cross") -> np.ndarray:
    """(lookback,) mean attention each lag day receives over all windows; sums to 1, index 0 = oldest."""
    if method not in METHODS:
        raise ValueError(f"unknown attention summary {method!r}: choose one of {METHODS}")
    # (batch, lookback) per batch of windows; a patch's weight is shared by its days
    per_window = [model.tokens_to_days(_lag_weights(maps, model.horizon, method), inputs.shape[1])
                  for maps in collect_attention(model, inputs)]
    mean = torch.cat(per_window).mean(dim=0).cpu().numpy().astype(np.float64)
    return mean / mean.sum()


def gradient_saliency(model: TransformerForecaster, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(lookback,) share of |input × gradient| per lag day, the measure MemoryLLM uses for its LSTM,
    so the two architectures can also be compared with one yardstick.

    It also counts the decoder's direct path: the last `label_len` days enter the decoder as well as
    the encoder, and attention to the encoder misses that path. A network that ignores its inputs
    has no gradient: every day then gets 1 / lookback.
    """
    device = next(model.parameters()).device
    model.eval()
    totals = np.zeros(inputs.shape[1], dtype=np.float64)
    try:
        for start in range(0, len(inputs), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(inputs[start:start + batch_size])).to(device)
            batch.requires_grad_(True)
            # windows are independent: one backward gives every window's gradient
            model(batch).sum().backward()
            totals += (batch.grad * batch).abs().sum(dim=(0, 2)).detach().cpu().numpy()  # (lookback,)
    finally:
        model.zero_grad(set_to_none=True)
    total = totals.sum()
    if not np.isfinite(total) or total <= 0:
        return np.full(inputs.shape[1], 1.0 / inputs.shape[1])
    return totals / total


def plot_attention(
    model: TransformerForecaster, data: ForecastData, path: str | Path, split: str = "test"
) -> Path:
    """attention.png: encoder self-attention and decoder cross-attention for the last window of
    `split`, and the average attention each lag day receives over the whole split."""
    from matplotlib.figure import Figure

    from common.figures import save_figure

    inputs = data.splits[split].inputs
    lookback = inputs.shape[1]
    last = collect_attention(model, inputs[-1:])[0]
    encoder = last.encoder[-1][0].mean(dim=0).cpu().numpy()  # (lookback, lookback), last layer, mean of heads
    cross = last.decoder_cross[-1][0].mean(dim=0).cpu().numpy()  # (label_len + horizon, lookback)
    day = np.arange(-lookback + 1, 1)  # 0 = the last known day
    # Encoder tokens are days, or patches of patch_len days numbered back from the newest (0).
    unit = "day" if model.patch_len == 1 else f"patch of {model.patch_len} days"
    extent = [-encoder.shape[0] + 0.5, 0.5]
    window_date = str(data.dates[data.splits[split].anchors[-1]].date())

    fig = Figure(figsize=(13, 9))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.3, 1])
    encoder_ax, cross_ax = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    lag_ax = fig.add_subplot(grid[1, :])
    image = encoder_ax.imshow(encoder, cmap="viridis", aspect="auto", extent=[*extent, extent[1], extent[0]])
    fig.colorbar(image, ax=encoder_ax, fraction=0.046)
    encoder_ax.set(title=f"encoder self-attention (last layer), window ending {window_date}",
                   xlabel=f"key: {unit} (0 = last known)", ylabel=f"query: {unit}")
    known = cross.shape[0] - data.horizon
    image = cross_ax.imshow(cross, cmap="viridis", aspect="auto",
                            extent=[*extent, cross.shape[0] - 0.5, -0.5])
    fig.colorbar(image, ax=cross_ax, fraction=0.046)
    labels = ([f"known {d}" for d in range(-known + 1, 1)]
              + [f"forecast +{h}" for h in range(1, data.horizon + 1)])
    step = max(1, len(labels) // 12)
    cross_ax.set_yticks(range(0, len(labels), step), labels[::step], fontsize=8)
    cross_ax.set(title="decoder cross-attention (last layer)", xlabel=f"encoder {unit} (0 = last known)")

    for method, style in (("cross", "-"), ("rollout", "--")):
        lag_ax.plot(day, attention_per_lag(model, inputs, method), ls=style, marker=".", color="tab:orange",
                    alpha=1.0 if method == "cross" else 0.6, label=f"{method}")
    lag_ax.axhline(1 / lookback, color="gray", lw=0.8, ls=":", label="uniform (1 / lookback)")
    lag_ax.set(title=f"average attention each lag day receives from the forecast, "
                     f"all {len(inputs)} {split} windows",
               xlabel="day relative to the last known day", ylabel="share of attention")
    lag_ax.grid(alpha=0.3)
    lag_ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)
