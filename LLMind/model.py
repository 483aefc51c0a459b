"""Stage 5's network: BERT, the encoder half of the Transformer, with a sentence-classification head.

BERT reads a whole sentence at once. Its WordPiece tokenizer cuts the text into sub-word pieces and
frames it as `[CLS] piece piece ... [SEP]`; each piece becomes a vector, and each of the L layers lets
every piece look at every other (self-attention) and then transforms each piece on its own (a small
feed-forward network):

    ids (batch, tokens) -> embeddings: word + position + segment, LayerNorm   (batch, tokens, hidden)
      -> L x layer:  x = LayerNorm(x + Attention(x))       every token mixes in the tokens it attends to
                     x = LayerNorm(x + W2 gelu(W1 x))      then each token is transformed alone
      -> mean over the real (non-padding) tokens                              (batch, hidden)
      -> dropout, linear                                                      (batch, classes)

Attention of one head: Q = x Wq, K = x Wk, V = x Wv split into `heads` slices of hidden / heads
dimensions; weights = softmax(Q K^T / sqrt(d) + mask), with the mask -inf on padding so no token
attends to it; out = weights V, heads concatenated, then one linear layer (Stage 4 builds the same
attention by hand in CodeLLM/model.py).

The pretrained checkpoint (all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, 22.7M parameters) was
trained to give sentences that mean the same thing nearby *mean-pooled* vectors, so the head pools by
the mean, not through the `[CLS]` token. The module names below are those of Hugging Face's BertModel,
so the checkpoint's `model.safetensors` loads with `load_state_dict` and nothing renamed; a test
compares this module's outputs with `transformers.AutoModel` on the same weights.

Fine-tuning only the top layers lets the frozen bottom ones run once per sentence: `encode(ids,
stop_layer=k)` gives their output, and `classify(hidden, mask, start_layer=k)` runs the rest.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class BertConfig:
    vocab_size: int = 30522  # WordPiece pieces of the uncased English BERT vocabulary
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536  # the feed-forward layer is 4x wider than the hidden size
    max_positions: int = 512
    type_vocab_size: int = 2  # segment A / B (sentence pairs); one sentence uses segment 0 only
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1  # on embeddings, attention weights and each sub-layer's output while training

    @classmethod
    def from_hugging_face(cls, payload: dict[str, Any]) -> BertConfig:
        """From a checkpoint's config.json."""
        if payload.get("model_type") != "bert" or payload.get("hidden_act", "gelu") != "gelu":
            raise ValueError("not a BERT checkpoint with GELU activations: "
                             f"model_type={payload.get('model_type')}, "
                             f"hidden_act={payload.get('hidden_act')}")
        return cls(
            vocab_size=payload["vocab_size"], hidden_size=payload["hidden_size"],
            num_layers=payload["num_hidden_layers"], num_heads=payload["num_attention_heads"],
            intermediate_size=payload["intermediate_size"], max_positions=payload["max_position_embeddings"],
            type_vocab_size=payload["type_vocab_size"], layer_norm_eps=payload["layer_norm_eps"],
            dropout=payload["hidden_dropout_prob"],
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Embeddings(nn.Module):
    """A token's vector = its piece's vector + its position's + its segment's, normalised."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(config.max_positions, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(batch, tokens) ids -> (batch, tokens, hidden)."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        segments = torch.zeros_like(ids)  # one sentence: segment 0 throughout
        pieces = self.word_embeddings(ids) + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(pieces + self.token_type_embeddings(segments)))


class SelfAttention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        if config.hidden_size % config.num_heads:
            raise ValueError(f"hidden_size {config.hidden_size} is not a multiple of num_heads "
                             f"{config.num_heads}")
        self.num_heads = config.num_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.dropout

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, hidden = x.shape  # -> (batch, heads, tokens, head_dim)
        return x.view(batch, tokens, self.num_heads, hidden // self.num_heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, attend: torch.Tensor, keep_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (batch, tokens, hidden); attend (batch, 1, 1, tokens) True where a key is a real token.
        Returns the mixed values (batch, tokens, hidden) and, if asked, the weights (batch, heads, tokens,
        tokens), computed by hand; otherwise PyTorch's fused kernel does the same sum faster."""
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        dropout = self.dropout_p if self.training else 0.0
        weights = None
        if keep_weights:
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (batch, heads, tokens, tokens)
            weights = scores.masked_fill(~attend, float("-inf")).softmax(dim=-1)
            mixed = F.dropout(weights, dropout, self.training) @ v
        else:
            mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=dropout)
        batch, _, tokens, _ = mixed.shape
        return mixed.transpose(1, 2).reshape(batch, tokens, -1), weights


class SubLayerOutput(nn.Module):
    """x + dropout(W h), normalised: the residual connection around each sub-layer."""

    def __init__(self, in_features: int, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(residual + self.dropout(self.dense(h)))


class Attention(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.self = SelfAttention(config)
        self.output = SubLayerOutput(config.hidden_size, config)


class Intermediate(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))  # the exact (erf) GELU that BERT was trained with


class Layer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.attention = Attention(config)
        self.intermediate = Intermediate(config)
        self.output = SubLayerOutput(config.intermediate_size, config)

    def forward(self, x: torch.Tensor, attend: torch.Tensor, keep_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        mixed, weights = self.attention.self(x, attend, keep_weights)
        x = self.attention.output(mixed, x)
        return self.output(self.intermediate(x), x), weights


class Encoder(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(config) for _ in range(config.num_layers))


class Bert(nn.Module):
    """Embeddings and L layers; `encode` can stop early and `run_layers` start late."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)

    def run_layers(self, hidden: torch.Tensor, mask: torch.Tensor, start_layer: int = 0,
                   stop_layer: int | None = None, attention_of: int | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Layers start_layer..stop_layer-1 over hidden (batch, tokens, hidden); mask (batch, tokens) is 1
        on real tokens. Returns the hidden states and, when `attention_of` names a layer in the range,
        that layer's attention weights (batch, heads, tokens, tokens)."""
        attend = mask.bool()[:, None, None, :]
        weights = None
        stop_layer = self.config.num_layers if stop_layer is None else stop_layer
        for index in range(start_layer, stop_layer):
            layer = self.encoder.layer[index]
            hidden, layer_weights = layer(hidden, attend, keep_weights=index == attention_of)
            if layer_weights is not None:
                weights = layer_weights
        return hidden, weights

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, stop_layer: int | None = None) -> torch.Tensor:
        """(batch, tokens) ids -> (batch, tokens, hidden) after `stop_layer` layers (default: all)."""
        return self.run_layers(self.embeddings(ids), mask, 0, stop_layer)[0]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of the real tokens' vectors: (batch, tokens, hidden), (batch, tokens) -> (batch, hidden)."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class SentenceClassifier(nn.Module):
    """BERT, mean pooling, dropout and one linear layer: logits over `num_classes`."""

    def __init__(self, config: BertConfig, num_classes: int, head_dropout: float = 0.1) -> None:
        super().__init__()
        self.bert = Bert(config)
        self.dropout = nn.Dropout(head_dropout)
        self.classifier = nn.Linear(config.hidden_size, num_classes)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor, start_layer: int = 0) -> torch.Tensor:
        """Logits (batch, classes). With start_layer 0 `inputs` are token ids (batch, tokens); with
        start_layer k > 0 they are the output of layer k (batch, tokens, hidden), as `Bert.forward`
        with stop_layer=k gives it."""
        hidden = self.bert.embeddings(inputs) if start_layer == 0 else inputs
        hidden = self.bert.run_layers(hidden, mask, start_layer)[0]
        return self.classifier(self.dropout(mean_pool(hidden, mask)))

    def freeze_below(self, start_layer: int) -> None:
        """Train only layers start_layer.. and the head (start_layer 0: everything, embeddings included)."""
        for name, parameter in self.named_parameters():
            if name.startswith("bert.embeddings."):
                parameter.requires_grad_(start_layer == 0)
            elif name.startswith("bert.encoder.layer."):
                parameter.requires_grad_(int(name.split(".")[3]) >= start_layer)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's random initialisation (for the from-scratch model): N(0, 0.02) weights, zero biases,
    LayerNorm at identity. Apply with `model.apply(init_weights)`."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
