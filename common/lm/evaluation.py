"""How a language model is scored: on held-out text with the state carried from start to end, in
independent windows of a fixed context, and as the loss at each position of a window.

    batchify                (length,) -> (streams, length // streams): contiguous streams read in parallel
    evaluate_carried        mean nats/token, the state carried over the whole text
    evaluate_fixed_context  mean nats/token, each window of `context` tokens starting from a zero state
    loss_by_position        the mean loss at positions 1..context of such windows: what longer context buys
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def batchify(ids: torch.Tensor, streams: int) -> torch.Tensor:
    """(length,) -> (streams, length // streams): `streams` contiguous pieces of the text, one per row."""
    if streams < 1:
        raise ValueError(f"need at least one stream, got {streams}")
    length = len(ids) // streams
    if length < 2:
        raise ValueError(f"a text of {len(ids)} tokens is too short for {streams} streams: use a longer text")
    return ids[: streams * length].view(streams, length)


def fixed_blocks(ids: torch.Tensor, context: int) -> torch.Tensor:
    """(length,) -> (blocks, context + 1): the text cut into independent windows of `context` inputs
    plus the token after the last (the tail that does not fill a block is left out)."""
    blocks = ids[: len(ids) // (context + 1) * (context + 1)].view(-1, context + 1)
    if len(blocks) == 0:
        raise ValueError(f"the text is shorter than {context + 1} tokens")
    return blocks


def summed_loss(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Total cross-entropy (nats) of logits (batch, time, vocab) against targets (batch, time)."""
    flat = logits.reshape(-1, logits.shape[-1]).float()
    return F.cross_entropy(flat, targets.reshape(-1), reduction="sum").item()


@torch.no_grad()
def evaluate_carried(model: nn.Module, ids: torch.Tensor, streams: int = 1, chunk_len: int = 512) -> float:
    """Mean cross-entropy (nats/token) over the whole of `ids`, the state carried from start to end.

    With `streams` > 1 the text is read as that many contiguous pieces in parallel (faster; each
    piece starts from a zero state, which costs a little at `streams` places).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    data = batchify(ids, streams).to(device)  # (streams, length)
    state, total, count = None, 0.0, 0
    for start in range(0, data.shape[1] - 1, chunk_len):
        inputs = data[:, start : start + chunk_len].long()
        targets = data[:, start + 1 : start + 1 + chunk_len].long()
        inputs = inputs[:, : targets.shape[1]]
        logits, state = model(inputs, state)
        total += summed_loss(logits, targets)
        count += targets.numel()
    model.train(was_training)
    return total / count


@torch.no_grad()
def evaluate_fixed_context(
    model: nn.Module, ids: torch.Tensor, context: int = 64, batch_size: int = 256
) -> float:
    """Mean cross-entropy when the model only ever sees the last <= `context` tokens.

    The text is cut into blocks of `context` + 1 tokens, each read from a zero state, and every
    position of a block is scored (it sees 1 to `context` earlier tokens) — the way small-context
    models such as nanoGPT with block_size 64 measure their validation loss.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    blocks = fixed_blocks(ids, context)
    total, count = 0.0, 0
    for start in range(0, len(blocks), batch_size):
        batch = blocks[start : start + batch_size].to(device).long()
        logits, _ = model(batch[:, :-1])
        total += summed_loss(logits, batch[:, 1:])
        count += batch[:, 1:].numel()
    model.train(was_training)
    return total / count


@torch.no_grad()
def loss_by_position(
    model: nn.Module, ids: torch.Tensor, context: int = 256, batch_size: int = 64
) -> list[float]:
    """Mean cross-entropy (nats/token) at each position 1..`context` of a window read from scratch.

    The text is cut into blocks of `context` + 1 tokens, each read with no earlier text (a zero state
    for an RNN, an empty context for a Transformer); the loss at position p is that of predicting the
    p-th token from the p tokens before it. Where the curve still falls at p, the model uses text p
    tokens back: the direct measurement of "long-range".
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    blocks = fixed_blocks(ids, context)
    total = torch.zeros(context, dtype=torch.float64)
    for start in range(0, len(blocks), batch_size):
        batch = blocks[start : start + batch_size].to(device).long()  # (batch, context + 1)
        logits, _ = model(batch[:, :-1])  # (batch, context, vocab)
        # (batch, context): one loss per position of every block
        losses = F.cross_entropy(logits.float().transpose(1, 2), batch[:, 1:], reduction="none")
        total += losses.sum(dim=0).double().cpu()
    model.train(was_training)
    return (total / len(blocks)).tolist()
