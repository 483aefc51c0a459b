"""A word-level recurrent language model: word embeddings -> LSTM/GRU -> linear head.

The job of the embedding is to give every word a learned vector; words used in similar contexts
("king", "duke", "lord") end up with similar vectors, which is what lets the model share what it
learned about one word with the others. The head turns the recurrent state back into a score for
every word of the vocabulary.

Tying input and output embeddings (Press & Wolf 2017, Inan et al. 2017) uses the same matrix to read
a word and to predict it: fewer parameters and, on small corpora like ours, a clearly lower
perplexity. When the recurrent size differs from the embedding size, a small projection bridges them.
"""

from __future__ import annotations

import torch
from torch import nn

from common.lm.loop import RecurrentLM, State

CELLS = ("lstm", "gru")


class WordRNN(RecurrentLM):
    """Embedding -> dropout -> `num_layers` LSTM/GRU layers -> dropout -> (projection) -> head."""

    def __init__(
        self, vocab_size: int, embedding_dim: int = 256, hidden_size: int = 512, num_layers: int = 1,
        cell: str = "lstm", dropout: float = 0.3, tie_weights: bool = True,
    ):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}: choose one of {', '.join(CELLS)}")
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        fused = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = fused(embedding_dim, hidden_size, num_layers, batch_first=True,
                         dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        # With tied weights the head's input must have the embedding's size.
        head_input = embedding_dim if tie_weights else hidden_size
        self.projection = nn.Linear(hidden_size, head_input) if head_input != hidden_size else nn.Identity()
        self.head = nn.Linear(head_input, vocab_size)
        nn.init.normal_(self.embedding.weight, std=0.05)  # small start: the tied head's logits begin near 0
        if tie_weights:
            self.head.weight = self.embedding.weight  # one (vocab, embedding_dim) matrix, read and written

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        # ids: (batch, time) -> logits (batch, time, vocab), and the state after the last step.
        if state is None:
            state = self.init_state(ids.shape[0], ids.device)
        embedded = self.dropout(self.embedding(ids))  # (batch, time, embedding_dim)
        hidden, state = self.rnn(embedded, state)  # (batch, time, hidden_size)
        return self.head(self.projection(self.dropout(hidden))), state
