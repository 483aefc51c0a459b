"""A character-level recurrent language model: embedding -> recurrent layers -> linear head.

The job of a recurrent language model is to read text one token at a time and, after each token,
predict the next one. All it remembers of the past is its hidden state h, a vector updated by the
same small function at every step. For the plain ("Elman", "vanilla") RNN that function is

    h_t = tanh(x_t W_x + h_{t-1} W_h + b)

written out below in `TanhRNN`, so the whole mechanism is visible. Its weakness is the lesson of
this stage: gradients flowing back through many tanh steps shrink (or blow up), so it struggles to
use context more than a few dozen characters back. The gated cells (`gru`, `lstm`) add gates that
let information — and gradients — pass many steps unchanged; they use PyTorch's fused modules.

`CharTransformer` (`--cell transformer`) is the other answer, Stage 4's architecture as a language
model: no state at all, every character attends directly to each of the `context` characters before
it (causal self-attention), so a character 200 places back is one step away, not 200.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from common.lm.loop import RecurrentLM, State
from common.torch_utils import sinusoidal_positions

CELLS = ("rnn", "gru", "lstm", "transformer")
RECURRENT = ("rnn", "gru", "lstm")


class TanhRNN(nn.Module):
    """A stack of plain tanh RNN layers, with the recurrence written out step by step.

    Same interface as `nn.RNN(batch_first=True)`: (batch, time, input) in, (batch, time, hidden) out.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.hidden_size, self.num_layers = hidden_size, num_layers
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.input_maps = nn.ModuleList(nn.Linear(size, hidden_size) for size in sizes)  # W_x and b
        # W_h, one per layer
        self.hidden_maps = nn.ModuleList(nn.Linear(hidden_size, hidden_size, bias=False) for _ in sizes)
        self.dropout = nn.Dropout(dropout)
        for hidden_map in self.hidden_maps:
            # Start W_h orthogonal: it then neither shrinks nor stretches h, so early gradients survive
            # many steps back (a standard trick for plain RNNs).
            nn.init.orthogonal_(hidden_map.weight)

    def forward(self, inputs: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # inputs: (batch, time, input_size); state: (layers, batch, hidden)
        layer_input, final_states = inputs, []
        for layer, (input_map, hidden_map) in enumerate(zip(self.input_maps, self.hidden_maps, strict=True)):
            if layer > 0:
                layer_input = self.dropout(layer_input)
            # The input part x_t W_x + b does not depend on h: compute it for all steps in one matmul.
            projected = input_map(layer_input)  # (batch, time, hidden)
            h = state[layer]  # (batch, hidden)
            outputs = []
            # unbind, not projected[:, t]: indexing would make backward fill a full-size gradient per step.
            for projected_t in projected.unbind(dim=1):  # (batch, hidden) each
                h = torch.tanh(projected_t + hidden_map(h))  # h_t = tanh(x_t W_x + b + h_{t-1} W_h)
                outputs.append(h)
            layer_input = torch.stack(outputs, dim=1)  # (batch, time, hidden)
            final_states.append(h)
        return layer_input, torch.stack(final_states)


class CharRNN(RecurrentLM):
    """Embedding -> `num_layers` recurrent layers of cell `cell` -> linear head over the vocabulary."""

    def __init__(
        self, vocab_size: int, embedding_dim: int = 64, hidden_size: int = 256, num_layers: int = 1,
        cell: str = "rnn", dropout: float = 0.0,
    ):
        super().__init__()
        if cell not in RECURRENT:
            raise ValueError(f"unknown cell {cell!r}: choose one of {', '.join(RECURRENT)}")
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        recurrent_dropout = dropout if num_layers > 1 else 0.0  # between layers only
        if cell == "rnn":
            self.rnn: nn.Module = TanhRNN(embedding_dim, hidden_size, num_layers, recurrent_dropout)
        else:
            fused = nn.GRU if cell == "gru" else nn.LSTM
            self.rnn = fused(embedding_dim, hidden_size, num_layers, batch_first=True,
                             dropout=recurrent_dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        # ids: (batch, time) -> logits (batch, time, vocab), and the state after the last step.
        if state is None:
            state = self.init_state(ids.shape[0], ids.device)
        hidden, state = self.rnn(self.embedding(ids), state)  # hidden: (batch, time, hidden_size)
        return self.head(self.dropout(hidden)), state



class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t sees positions <= t only."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        if width % heads:
            raise ValueError(f"the width {width} must be divisible by the {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)  # queries, keys and values in one matrix product
        self.proj = nn.Linear(width, width)
        self.residual_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, time, width = x.shape  # (batch, time, width)
        q, k, v = self.qkv(x).split(width, dim=2)
        # (batch, heads, time, width / heads): each head attends in its own slice of the width
        q, k, v = (z.view(batch, time, self.heads, width // self.heads).transpose(1, 2) for z in (q, k, v))
        # softmax(q k^T / sqrt(d)) v with the future masked, in PyTorch's fused kernel (no weights kept)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.residual_dropout(self.proj(y.transpose(1, 2).reshape(batch, time, width)))


class Block(nn.Module):
    """Pre-norm Transformer block (GPT-2): x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, width: int, mlp_width: int, heads: int, dropout: float):
        super().__init__()
        self.attention_norm, self.mlp_norm = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_width), nn.GELU(), nn.Linear(mlp_width, width),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x))
        return x + self.mlp(self.mlp_norm(x))


def read_in_windows(
    read: Callable[[torch.Tensor], torch.Tensor], ids: torch.Tensor, state: torch.Tensor | None, context: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for `ids` (batch, new) after the characters `state` (batch, <= context) read before, with
    `read` mapping (batch, time <= context) ids to (batch, time, vocab) logits from scratch; returns them
    and the last `context` characters (the next call's state). A text longer than `context` is read in
    overlapping windows: each scores `context / 2` new characters after at least as many old ones."""
    text = ids if state is None else torch.cat([state, ids], dim=1)
    new = ids.shape[1]
    if text.shape[1] <= context:
        return read(text)[:, -new:], text[:, -context:]
    stride, pieces = context // 2, []
    for start in range(text.shape[1] - new, text.shape[1], stride):
        stop = min(start + stride, text.shape[1])
        pieces.append(read(text[:, max(0, stop - context) : stop])[:, start - stop :])
    return torch.cat(pieces, dim=1), text[:, -context:]


class CharTransformer(nn.Module):
    """A decoder-only Transformer over characters: embedding + position code -> `num_layers` pre-norm
    blocks of causal self-attention and an MLP -> layer norm -> a head tied to the embedding.

    Same call as the RNNs, `model(ids, state) -> (logits, state)`, so the same loop, sampler and
    evaluation serve it. Its "state" is no memory but the last `context` characters read: training
    reads windows of at most `context` characters from scratch (returns no state), while evaluation
    and sampling pass the previous characters along, and a text longer than `context` is read in
    overlapping windows in which every character sees at least `context / 2` characters before it.
    """

    cell = "transformer"

    def __init__(
        self, vocab_size: int, width: int = 64, mlp_width: int = 256, num_layers: int = 2, heads: int = 4,
        context: int = 128, dropout: float = 0.0, positions: str = "learned",
    ):
        super().__init__()
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}")
        self.context, self.num_layers, self.positions = context, num_layers, positions
        self.embedding = nn.Embedding(vocab_size, width)
        if positions == "learned":  # one trained vector per place in the window
            self.position_embedding = nn.Embedding(context, width)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(width, mlp_width, heads, dropout) for _ in range(num_layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        self.head.weight = self.embedding.weight  # tied: one (vocab, width) matrix reads and predicts
        for name, parameter in self.named_parameters():  # GPT-2's initialisation
            if name.endswith("weight") and parameter.dim() == 2:
                # Each block adds its projections to the residual stream: scaled so the sum stays ~1.
                scale = (2 * num_layers) ** -0.5 if name.endswith(("proj.weight", "mlp.2.weight")) else 1.0
                nn.init.normal_(parameter, std=0.02 * scale)
            elif name.endswith("bias"):
                nn.init.zeros_(parameter)

    def read(self, ids: torch.Tensor) -> torch.Tensor:
        """(batch, time <= context) ids read from scratch -> (batch, time, vocab) logits."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        if self.positions == "learned":
            code = self.position_embedding(positions)
        else:
            code = sinusoidal_positions(positions, self.embedding.embedding_dim)
        x = self.dropout(self.embedding(ids) + code)  # (batch, time, width)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))

    def forward(
        self, ids: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # ids: (batch, time); state: (batch, <= context) the characters read before, or None.
        logits, text = read_in_windows(self.read, ids, state, self.context)
        return logits, None if self.training else text
