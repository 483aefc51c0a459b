"""The networks without pretraining: what the task's 3,600 sentences teach a network on their own.

A fair rival gets its own recipe, not the fine-tune's: it trains until validation stops improving
(`--scratch-patience` epochs without a gain, at most `--scratch-max-epochs`), and its learning rate is
chosen on validation among a few. Three sizes:

- **the same network** (MiniLM's shape, 22.7M parameters) from BERT's random initialisation: what the
  pretrained weights are worth to this very network (`Experiment.from_scratch` gives it a budget);
- **a small BERT** sized for a few thousand sentences: 2 layers, 128 wide, 2 heads, 512-wide feed-forward
  (4.4M parameters, 3.9M of them the WordPiece table, of which the training sentences touch a few
  thousand rows);
- **a bag of WordPieces**: each piece a learnt 128-number vector, the sentence their mean, then dropout
  and a linear layer (fastText's recipe): no word order and no attention, so little to learn.

Each is built by a function of the seed, so every rate starts from the same random weights.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from LLMind.finetune import TrainResult, TrainSettings, predict_logits, train_classifier
from LLMind.model import BertConfig, SentenceClassifier, init_weights, mean_pool

SMALL_LAYERS, SMALL_HIDDEN, SMALL_HEADS = 2, 128, 2  # sized for ~3,600 sentences, not for Wikipedia
BAG_WIDTH = 128  # numbers per WordPiece in the bag


class BagOfPieces(nn.Module):
    """Mean of learnt WordPiece vectors, dropout, linear: ids (batch, tokens) -> logits (batch, classes).
    It has `train_classifier`'s interface: `classifier` is the head, and every weight trains."""

    def __init__(self, vocab_size: int, width: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.embeddings = nn.Embedding(vocab_size, width, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, start_layer: int = 0) -> torch.Tensor:
        return self.classifier(self.dropout(mean_pool(self.embeddings(ids), mask)))

    def freeze_below(self, start_layer: int) -> None:
        """Nothing is frozen: the bag has no pretrained layers."""


def small_bert_config(base: BertConfig) -> BertConfig:
    """MiniLM's vocabulary and positions with 2 layers of 128 (feed-forward 4x wider, as in BERT)."""
    return dataclasses.replace(base, num_layers=SMALL_LAYERS, hidden_size=SMALL_HIDDEN, num_heads=SMALL_HEADS,
                               intermediate_size=4 * SMALL_HIDDEN)


def _seeded(model: nn.Module, seed: int) -> nn.Module:
    """`model` with BERT's random initialisation drawn with `seed` (the global random state is kept)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.apply(init_weights)
    return model


def small_bert(base: BertConfig, num_classes: int, head_dropout: float, seed: int) -> SentenceClassifier:
    return _seeded(SentenceClassifier(small_bert_config(base), num_classes, head_dropout), seed)  # type: ignore[return-value]


def bag_of_pieces(base: BertConfig, num_classes: int, head_dropout: float, seed: int) -> BagOfPieces:
    return _seeded(BagOfPieces(base.vocab_size, BAG_WIDTH, num_classes, head_dropout), seed)  # type: ignore[return-value]


@dataclass
class Tuned:
    """A from-scratch network trained at each rate; the one validation liked best is kept."""

    rate: float
    result: TrainResult
    parameters: int
    test_predictions: np.ndarray  # class ids of the test sentences, by the kept network
    val_macro_f1_by_rate: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # all rates together

    def summary(self) -> dict[str, object]:
        """What metrics.json reports of it beside its test scores."""
        return {"parameters": self.parameters, "chosen_on_validation": {"learning_rate": self.rate},
                "val_macro_f1_by_rate": self.val_macro_f1_by_rate, "steps": self.result.steps,
                "best_epoch": self.result.best_epoch, "steps_to_best_epoch": self.result.best_steps,
                "epochs_run": len(self.result.history), "stopped_early": self.result.stopped_early,
                "best_val_macro_f1": self.result.best_val_macro_f1, "train_seconds": self.result.seconds,
                "train_seconds_all_rates": self.seconds, "interrupted": self.result.interrupted}


def tune_on_validation(build: Callable[[], nn.Module], rates: Sequence[float],
                       settings: Callable[[float], TrainSettings], train_ids: Sequence[torch.Tensor],
                       train_labels: np.ndarray, val_ids: Sequence[torch.Tensor], val_labels: np.ndarray,
                       test_ids: Sequence[torch.Tensor], log: Callable[[str], None] = print) -> Tuned:
    """Train a fresh `build()` at every rate (settings(rate) says how long); keep the one with the best
    validation macro-F1 (ties: the first rate) and its test predictions. Test labels are never seen."""
    best: Tuned | None = None
    scores: dict[str, float] = {}
    seconds = 0.0
    for rate in rates:
        model = build()
        result = train_classifier(model, train_ids, train_labels, val_ids, val_labels,  # type: ignore[arg-type]
                                  settings(rate), log=lambda _: None)
        seconds += result.seconds
        scores[f"{rate:g}"] = result.best_val_macro_f1
        log(f"  rate {rate:g}: validation macro-F1 {result.best_val_macro_f1:.3f} at epoch "
            f"{result.best_epoch} of {len(result.history)} ({result.best_steps} steps, "
            f"{result.seconds:.0f} s)")
        if best is None or result.best_val_macro_f1 > best.result.best_val_macro_f1:
            predicted = predict_logits(model, test_ids, 0).argmax(1)  # type: ignore[arg-type]
            best = Tuned(rate, result, sum(p.numel() for p in model.parameters()), predicted)
        if result.interrupted:
            break
    assert best is not None, "tune_on_validation needs at least one rate"
    best.val_macro_f1_by_rate, best.seconds = scores, seconds
    return best
