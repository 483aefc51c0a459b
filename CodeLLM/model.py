"""A small Transformer encoder-decoder that forecasts the next `horizon` closes, written from its
parts so each one can be read on its own:

    day features ──► embedding + position ──► encoder layers (self-attention over the lookback)
                                                      │ memory
    last `label_len` known days + `horizon` blanks ──► decoder layers (masked self-attention,
                                                      cross-attention to the memory) ──► head

The decoder input follows Informer (Zhou et al., 2021): it starts with the last few *known* days
(a "start token" that tells the decoder where the series is) followed by one zero placeholder per
day to forecast, and every forecast step comes out of one forward pass (direct multi-horizon, no
feeding predictions back in).

Every attention block can return its weights, so a run can show which past days the model looked at.

Three options, all off by default (the default model is exactly the one the lag-k recipes chose),
for long windows (benchmarks/bench_long_range.py measured what each buys; see CodeLLM/README.md):
- `attention="fused"`: when no weights are asked for (training, forecasting) the blocks call
  `torch.nn.functional.scaled_dot_product_attention`, which never writes the (tokens x tokens)
  weight matrix out; the same numbers as the explicit formula, and `forward_with_attention` still
  uses the explicit one;
- `patch_len=P` (PatchTST, Nie et al., 2023): the encoder reads the window as non-overlapping
  patches of P days, one token per patch, so self-attention costs (lookback / P)² instead of
  lookback²; the decoder's known days stay one token per day;
- `linear_skip=True`: a linear map from the whole window straight to the forecast, added to the
  head (as DLinear's single layer; zero at the start), so a lag that a linear model can read does
  not have to be found by attention first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from common.torch_utils import sinusoidal_positions

ATTENTION_KINDS = ("explicit", "fused")


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention in `heads` parallel subspaces, returning its weights.

    Each query asks "which keys are like me?": scores = Q·Kᵀ / sqrt(head_dim), a softmax over the
    keys turns them into weights that sum to 1, and the output is the weighted mean of the values.
    Splitting d_model into heads lets different heads look at different days for different reasons.
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, fused: bool = False) -> None:
        super().__init__()
        if d_model % heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads}): "
                             "each head gets d_model / heads channels")
        self.heads = heads
        self.head_dim = d_model // heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.output = nn.Linear(d_model, d_model)  # mixes the heads back into one vector per token
        self.dropout = nn.Dropout(dropout)
        self.fused = fused  # scaled_dot_product_attention when the weights are not needed

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        # (batch, heads, tokens, head_dim)
        return x.view(batch, tokens, self.heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        queries: torch.Tensor,
        keys_values: torch.Tensor,
        causal: bool = False,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """queries (batch, Tq, d_model), keys_values (batch, Tk, d_model) ->
        output (batch, Tq, d_model) and weights (batch, heads, Tq, Tk), each row summing to 1.

        `causal` hides key j from query i when j > i (the decoder must not see later slots). A fused
        block asked for no weights returns None for them and lets PyTorch's kernel do the work.
        """
        q = self._split_heads(self.query(queries))  # (batch, heads, Tq, head_dim)
        k = self._split_heads(self.key(keys_values))  # (batch, heads, Tk, head_dim)
        v = self._split_heads(self.value(keys_values))  # (batch, heads, Tk, head_dim)
        if self.fused and not need_weights:
            # The same softmax(Q·Kᵀ / sqrt(head_dim))·V, without materialising the weights.
            dropout = self.dropout.p if self.training else 0.0
            mixed = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=causal)  # like v
            return self.output(self._merge_heads(mixed)), None
        # Dividing by sqrt(head_dim) keeps the scores' spread independent of the head size, so the
        # softmax does not saturate into one-hot weights with vanishing gradients.
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (batch, heads, Tq, Tk)
        if causal:
            later = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).triu(diagonal=1)
            scores = scores.masked_fill(later, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (batch, heads, Tq, Tk)
        mixed = self.dropout(weights) @ v  # (batch, heads, Tq, head_dim)
        return self.output(self._merge_heads(mixed)), weights

    def _merge_heads(self, mixed: torch.Tensor) -> torch.Tensor:
        batch, _, tokens, _ = mixed.shape
        # (batch, Tq, d_model)
        return mixed.transpose(1, 2).reshape(batch, tokens, self.heads * self.head_dim)


class FeedForward(nn.Module):
    """The same two-layer MLP applied to every day on its own: attention mixes days, this mixes channels."""

    def __init__(self, d_model: int, ff_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (batch, tokens, d_model)


class EncoderLayer(nn.Module):
    """Self-attention over the lookback window, then the feed-forward block.

    Each block is wrapped as x + block(norm(x)) ("pre-norm"): the residual path carries the input
    through untouched, which keeps small models stable without a learning-rate warm-up.
    """

    def __init__(self, d_model: int, heads: int, ff_dim: int, dropout: float, fused: bool = False) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, heads, dropout, fused)
        self.ff_norm = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, ff_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, need_weights: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        normed = self.attention_norm(x)
        attended, weights = self.attention(normed, normed, need_weights=need_weights)
        x = x + self.dropout(attended)  # (batch, lookback, d_model)
        x = x + self.dropout(self.ff(self.ff_norm(x)))
        return x, weights  # weights: (batch, heads, lookback, lookback)


class DecoderLayer(nn.Module):
    """Masked self-attention among the decoder's slots, cross-attention to the encoder's memory,
    feed-forward."""

    def __init__(self, d_model: int, heads: int, ff_dim: int, dropout: float, fused: bool = False) -> None:
        super().__init__()
        self.self_norm = nn.LayerNorm(d_model)
        self.self_attention = MultiHeadAttention(d_model, heads, dropout, fused)
        self.cross_norm = nn.LayerNorm(d_model)
        self.cross_attention = MultiHeadAttention(d_model, heads, dropout, fused)
        self.ff_norm = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, ff_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, need_weights: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        normed = self.self_norm(x)
        attended, self_weights = self.self_attention(normed, normed, causal=True, need_weights=need_weights)
        x = x + self.dropout(attended)  # (batch, decoder_tokens, d_model)
        # Queries from the decoder, keys and values from the encoder: "which input days matter here?"
        attended, cross_weights = self.cross_attention(self.cross_norm(x), memory, need_weights=need_weights)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.ff(self.ff_norm(x)))
        return x, self_weights, cross_weights  # (batch, heads, Td, Td), (batch, heads, Td, encoder tokens)


@dataclass
class Attention:
    """Every attention map of one forward pass, one tensor per layer."""

    # tokens = lookback days, or the patches when patch_len > 1
    encoder: list[torch.Tensor]  # (batch, heads, tokens, tokens) per encoder layer
    decoder_self: list[torch.Tensor]  # (batch, heads, label_len + horizon, label_len + horizon)
    decoder_cross: list[torch.Tensor]  # (batch, heads, label_len + horizon, tokens)


class TransformerForecaster(nn.Module):
    """(batch, lookback, features) scaled inputs -> (batch, horizon) scaled log returns.

    Positions are *learned* by default: one trainable vector per day of the window (std 1 at the
    start), added to the day's embedding. To forecast from "the return k days ago" a query must single
    out one day; with a learned table the query/key maps can match day numbers directly. Measured on
    lag-k series (benchmarks/lag_recipes.md): sinusoidal codes captured 35-60% of the oracle's skill
    at k = 20/50, learned ones about 90%. The embedding is not scaled by sqrt(d_model) (≈ 5.7 at
    d_model = 32): that would make each day's features several times louder than its position.

    Two choices keep it honest on prices that are close to a random walk:
    - the network predicts a *departure* from the naive forecast: forecast = naive_output + head(x),
      where `naive_output` (horizon,) is the scaled value of a zero log return for each step; the
      head starts with small random weights (std `head_init_std`) and a zero bias, so the untrained
      model is close to the naive forecast (exactly it with head_init_std = 0, which however leaves
      every other weight without a gradient at the first step);
    - whether the trained network beats naive is then judged outside the model, by the forecasting
      harness's guard (common/forecast/harness.py), and the network is always reported as trained too.
    """

    def __init__(
        self,
        n_features: int,
        horizon: int = 1,
        d_model: int = 32,
        heads: int = 4,
        encoder_layers: int = 1,
        decoder_layers: int = 1,
        ff_dim: int = 64,
        dropout: float = 0.1,
        label_len: int = 10,
        naive_output: list[float] | None = None,
        positions: str = "learned",
        max_lookback: int = 512,
        head_init_std: float = 0.01,
        attention: str = "explicit",
        patch_len: int = 1,
        linear_skip: bool = False,
    ) -> None:
        super().__init__()
        if horizon < 1 or label_len < 0:
            raise ValueError(f"horizon must be >= 1 and label_len >= 0, got horizon={horizon}, "
                             f"label_len={label_len}")
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}")
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
        if not 1 <= patch_len <= max_lookback:
            raise ValueError(f"patch_len must be between 1 (one token per day) and max_lookback "
                             f"({max_lookback}), got {patch_len}")
        fused = attention == "fused"
        self.patch_len = patch_len
        self.max_lookback = max_lookback
        self.positions = positions
        self.horizon = horizon
        self.label_len = label_len
        self.d_model = d_model
        self.embedding = nn.Linear(n_features, d_model)  # one day's feature vector -> one token
        self.encoder = nn.ModuleList(
            EncoderLayer(d_model, heads, ff_dim, dropout, fused) for _ in range(encoder_layers)
        )
        self.encoder_norm = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList(
            DecoderLayer(d_model, heads, ff_dim, dropout, fused) for _ in range(decoder_layers)
        )
        self.decoder_norm = nn.LayerNorm(d_model)
        self.input_dropout = nn.Dropout(dropout)
        if positions == "learned":
            # Rows 0 .. max_lookback + horizon - 1: the window's days, then the forecast days.
            self.position_table = nn.Parameter(torch.randn(max_lookback + horizon, d_model))
        self.head = nn.Linear(d_model, 1)  # one number per forecast slot: its departure from naive
        if head_init_std > 0:
            nn.init.normal_(self.head.weight, std=head_init_std)
        else:
            nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        naive = (torch.zeros(horizon) if naive_output is None
                 else torch.as_tensor(naive_output, dtype=torch.float32))
        if naive.shape != (horizon,):
            raise ValueError(f"naive_output needs one value per horizon step ({horizon}), "
                             f"got shape {tuple(naive.shape)}")
        self.register_buffer("naive_output", naive)  # (horizon,)
        # The options' weights are made last and only when asked for, so the default model draws the
        # same random numbers whatever options exist: a seed gives the same default network.
        if patch_len > 1:
            # One token per patch of `patch_len` days: all of the patch's features, flattened, in one map.
            self.patch_embedding = nn.Linear(patch_len * n_features, d_model)
            if positions == "learned":
                self.patch_position_table = nn.Parameter(torch.randn(self.patches(max_lookback), d_model))
        self.skip = None
        if linear_skip:
            # (lookback * features) -> horizon, zero at the start: the untrained model is still ~naive.
            self.skip = nn.Linear(max_lookback * n_features, horizon)
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.skip.bias)

    def patches(self, lookback: int) -> int:
        """Encoder tokens for a window of `lookback` days: one per day, or one per (partly padded) patch."""
        return -(-lookback // self.patch_len)

    def _embed(self, days: torch.Tensor, first_position: int) -> torch.Tensor:
        """(batch, tokens, features) -> (batch, tokens, d_model), positions counted from the window's
        first day."""
        code = self._position_code(first_position, days.shape[1], days.device, "position_table",
                                   f"lookback + horizon is {first_position + days.shape[1]} days")
        # No sqrt(d_model) scaling: it would make the day's features ~6x louder than its position.
        return self.input_dropout(self.embedding(days) + code)

    def _embed_patches(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, lookback, features) -> (batch, patches, d_model). Patches end at the last day, so the
        newest patch is whole; the oldest is padded in front with zeros (an average day once scaled)."""
        batch, lookback, features = inputs.shape
        patches = self.patches(lookback)
        padding = patches * self.patch_len - lookback
        padded = torch.cat([inputs.new_zeros(batch, padding, features), inputs], dim=1) if padding else inputs
        flat = padded.reshape(batch, patches, self.patch_len * features)  # (batch, patches, patch_len * F)
        code = self._position_code(0, patches, inputs.device, "patch_position_table",
                                   f"the window has {patches} patches")
        return self.input_dropout(self.patch_embedding(flat) + code)

    def _position_code(
        self, first: int, tokens: int, device: torch.device, table_name: str, needed: str
    ) -> torch.Tensor:
        """Positions first .. first + tokens - 1 -> (tokens, d_model): rows of the learned table
        `table_name` (refusing a position beyond it; `needed` says what asked for it), or sinusoidal codes."""
        positions = torch.arange(first, first + tokens, device=device)  # (tokens,)
        if self.positions != "learned":
            return sinusoidal_positions(positions, self.d_model)
        table = getattr(self, table_name)
        if first + tokens > len(table):
            what = table_name.replace("_", " ")
            raise ValueError(f"{needed} but the {what} has {len(table)}: build the model with a larger "
                             "max_lookback")
        return table[positions]

    def tokens_to_days(self, weights: torch.Tensor, lookback: int) -> torch.Tensor:
        """(..., tokens) weights on encoder tokens -> (..., lookback) on days: a patch's weight is shared
        equally by its days (the padding's share is dropped). The identity without patching."""
        if self.patch_len == 1:
            return weights
        per_day = weights.repeat_interleave(self.patch_len, dim=-1) / self.patch_len  # (..., patches * P)
        return per_day[..., per_day.shape[-1] - lookback:]

    def decoder_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, lookback, features) -> (batch, label_len + horizon, features): the last known
        days, then one zero placeholder per forecast day (zero = an average day once scaled)."""
        known = inputs[:, inputs.shape[1] - min(self.label_len, inputs.shape[1]):]  # (batch, label_len, F)
        blanks = inputs.new_zeros(inputs.shape[0], self.horizon, inputs.shape[2])  # (batch, horizon, F)
        return torch.cat([known, blanks], dim=1)

    def forward_with_attention(
        self, inputs: torch.Tensor, decoder_inputs: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Attention]:
        """Forecast and every attention map. `decoder_inputs` overrides the Informer-style default
        (the causality test changes a placeholder through it)."""
        return self._forward(inputs, decoder_inputs, need_weights=True)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch, lookback, features) -> (batch, horizon) scaled log returns."""
        return self._forward(inputs, None, need_weights=False)[0]

    def _forward(
        self, inputs: torch.Tensor, decoder_inputs: torch.Tensor | None, need_weights: bool
    ) -> tuple[torch.Tensor, Attention]:
        """The forward pass; explicit attention blocks always return their weights, fused ones only
        when `need_weights`."""
        lookback = inputs.shape[1]
        if self.skip is not None and lookback != self.max_lookback:
            raise ValueError(f"the linear skip path reads exactly {self.max_lookback} days, "
                             f"got a window of {lookback}")
        if self.patch_len > 1:
            memory = self._embed_patches(inputs)  # (batch, patches, d_model)
        else:
            memory = self._embed(inputs, first_position=0)  # (batch, lookback, d_model)
        encoder_weights = []
        for layer in self.encoder:
            memory, weights = layer(memory, need_weights)
            encoder_weights.append(weights)
        memory = self.encoder_norm(memory)

        if decoder_inputs is None:
            decoder_inputs = self.decoder_inputs(inputs)
        known_days = decoder_inputs.shape[1] - self.horizon
        # Decoder positions continue the encoder's: the known days keep their own day numbers and
        # the placeholders are lookback, lookback + 1, ... so "tomorrow" is one step after "today".
        # (batch, known + horizon, d_model)
        x = self._embed(decoder_inputs, first_position=lookback - known_days)
        self_weights, cross_weights = [], []
        for layer in self.decoder:
            x, weights_self, weights_cross = layer(x, memory, need_weights)
            self_weights.append(weights_self)
            cross_weights.append(weights_cross)
        x = self.decoder_norm(x)
        departure = self.head(x[:, -self.horizon:]).squeeze(-1)  # (batch, horizon)
        if self.skip is not None:
            departure = departure + self.skip(inputs.reshape(len(inputs), -1))  # (batch, horizon)
        forecast = self.naive_output + departure
        return forecast, Attention(encoder_weights, self_weights, cross_weights)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
