"""A character-level recurrent language model: embedding -> recurrent layers -> linear head.

The job of a recurrent language model is to read text one token at a time and, after each token,
predict the next one. All it remembers of the past is its hidden state h, a vector updated by the
same small function at every step. For the plain ("Elman", "vanilla") RNN that function is

    h_t = tanh(x_t W_x + h_{t-1} W_h + b)

written out below in `TanhRNN`, so the whole mechanism is visible. Its weakness is the lesson of
this stage: gradients flowing back through many tanh steps shrink (or blow up), so it struggles to
use context more than a few dozen characters back. The gated cells (`gru`, `lstm`) add gates that
let information — and gradients — pass many steps unchanged; they use PyTorch's fused modules.
"""

from __future__ import annotations

import torch
from torch import nn

from common.lm_training import RecurrentLM, State

CELLS = ("rnn", "gru", "lstm")


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
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}: choose one of {', '.join(CELLS)}")
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

