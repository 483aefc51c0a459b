"""Fine-tuning loop of Stage 5: tokenize, run the frozen layers once, train the rest, predict.

Fine-tuning the top k layers of an L-layer BERT leaves layers 0..L-k-1 unchanged, so their output for
a sentence never changes: `frozen_pass` computes it once per sentence and keeps it (about 40 KB per
sentence at hidden 384), and every training step runs only the top k layers and the head on it. Two
layers of six train about three times faster that way; the same pass also gives the frozen model's
mean-pooled sentence vectors for the logistic-regression baseline.

An item is one sentence: its token ids (tokens,) when training starts at the embeddings (the full
fine-tune and the from-scratch model), or the frozen layers' output (tokens, hidden) otherwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from LLMind.model import SentenceClassifier, mean_pool
from LLMind.scoring import macro_f1


def tokenize(tokenizer, texts: Sequence[str], max_tokens: int) -> list[torch.Tensor]:
    """WordPiece ids of each text, framed as [CLS] ... [SEP] and cut to `max_tokens` pieces."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
    return [torch.tensor(ids, dtype=torch.long) for ids in encoded]


def pad(items: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch padded to its longest item, and the mask (batch, tokens): 1 on real tokens, 0 on padding."""
    lengths = torch.tensor([len(item) for item in items])
    mask = (torch.arange(int(lengths.max()))[None, :] < lengths[:, None]).long()
    return pad_sequence(list(items), batch_first=True, padding_value=0), mask


def by_length(items: Sequence[torch.Tensor], batch_size: int) -> list[np.ndarray]:
    """Batches of indices of items of similar length (for inference: little padding to compute)."""
    order = np.argsort([len(item) for item in items], kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def shuffled_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches: shuffle, sort each run of 16 batches' worth by length (little padding), cut into
    batches, shuffle the batches (so consecutive steps do not all see short or all see long sentences)."""
    order = rng.permutation(len(lengths))
    pool = batch_size * 16
    batches = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


@torch.inference_mode()
def frozen_pass(model: SentenceClassifier, ids: Sequence[torch.Tensor], stop_layer: int,
                batch_size: int = 64) -> tuple[list[torch.Tensor], np.ndarray]:
    """Run every sentence through the (pretrained, unchanged) network once. Returns each sentence's
    output of layer `stop_layer` (tokens, hidden), the input of the layers to fine-tune, and the
    mean-pooled output of the last layer (sentences, hidden): the frozen model's sentence vectors."""
    model.eval()
    size = model.bert.config.hidden_size
    lengths = [len(sentence) for sentence in ids]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    # Every sentence's states in one block (tokens of all sentences, hidden): one allocation instead of
    # thousands, so the memory freed by each batch is reused rather than scattered between them.
    store = torch.empty((int(starts[-1]) if stop_layer > 0 else 0, size))
    pooled = np.zeros((len(ids), size), dtype=np.float32)
    for batch in by_length(ids, batch_size):
        inputs, mask = pad([ids[i] for i in batch])
        hidden = model.bert(inputs, mask, stop_layer=stop_layer)
        top = model.bert.run_layers(hidden, mask, stop_layer)[0]
        pooled[batch] = mean_pool(top, mask).numpy()
        if stop_layer > 0:
            for row, index in enumerate(batch):
                store[starts[index]:starts[index + 1]] = hidden[row, : lengths[index]]
    if stop_layer == 0:
        return list(ids), pooled
    return [store[starts[i]:starts[i + 1]] for i in range(len(ids))], pooled  # views into the block


@torch.inference_mode()
def predict_logits(model: SentenceClassifier, items: Sequence[torch.Tensor], start_layer: int,
                   batch_size: int = 64) -> np.ndarray:
    """Logits (sentences, classes), in the items' order."""
    model.eval()
    logits = np.zeros((len(items), model.classifier.out_features), dtype=np.float32)
    for batch in by_length(items, batch_size):
        inputs, mask = pad([items[i] for i in batch])
        logits[batch] = model(inputs, mask, start_layer).numpy()
    return logits


@dataclass
class TrainSettings:
    start_layer: int  # layers below it stay frozen (0: train everything, embeddings included)
    epochs: int
    batch_size: int
    learning_rate: float  # of the encoder layers
    head_learning_rate: float  # of the new linear head, which starts from random
    weight_decay: float
    warmup_fraction: float
    min_steps: int  # a small training set still gets this many steps (a learning curve's 100 sentences)
    seed: int
    max_steps: int = 0  # stop after this many steps (0: the epochs decide)
    patience: int = 0  # stop once validation has not improved for this many epochs (0: run every epoch)


@dataclass
class TrainResult:
    best_epoch: int
    best_val_macro_f1: float
    steps: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C stopped training before its budget was spent
    stopped_early: bool = False  # validation stopped improving before the last epoch (settings.patience)
    best_steps: int = 0  # steps taken when the kept (best) epoch ended


def _optimizer(model: SentenceClassifier, settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and LayerNorm gains (as BERT was trained); the head's own rate."""
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        rate = settings.head_learning_rate if name.startswith("classifier.") else settings.learning_rate
        decay = 0.0 if parameter.ndim == 1 else settings.weight_decay
        groups.setdefault((rate, decay), []).append(parameter)
    return torch.optim.AdamW([{"params": params, "lr": rate, "weight_decay": decay}
                              for (rate, decay), params in groups.items()])


def train_classifier(model: SentenceClassifier, train_items: Sequence[torch.Tensor], train_labels: np.ndarray,
                     val_items: Sequence[torch.Tensor], val_labels: np.ndarray, settings: TrainSettings,
                     log: Callable[[str], None] = print) -> TrainResult:
    """Train the layers from `start_layer` up and the head with cross-entropy; after every epoch score
    validation macro-F1 and keep the best epoch's weights, which the model holds on return. With
    `settings.patience` training stops once that many epochs in a row did not beat the best (the rate
    then never reaches the end of its decay: the epochs set only the longest run). Ctrl-C stops
    training early and still returns the best epoch so far."""
    torch.manual_seed(settings.seed)  # dropout masks
    rng = np.random.default_rng(settings.seed)  # batch order
    model.freeze_below(settings.start_layer)
    optimizer = _optimizer(model, settings)
    steps_per_epoch = math.ceil(len(train_items) / settings.batch_size)
    epochs = max(settings.epochs, math.ceil(settings.min_steps / steps_per_epoch))
    total_steps = epochs * steps_per_epoch
    if settings.max_steps:
        total_steps = min(total_steps, settings.max_steps)
        epochs = math.ceil(total_steps / steps_per_epoch)
    warmup = max(1, int(settings.warmup_fraction * total_steps))
    # Linear warm-up, then linear decay to zero at the last step (BERT's schedule).
    def rate_factor(step: int) -> float:
        return min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate_factor)
    lengths = np.array([len(item) for item in train_items])
    labels = torch.as_tensor(train_labels, dtype=torch.long)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    result = TrainResult(best_epoch=0, best_val_macro_f1=-1.0, steps=0, seconds=0.0)
    best_state: dict[str, torch.Tensor] = {}
    started = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            losses = []
            for batch in shuffled_batches(lengths, settings.batch_size, rng):
                if result.steps >= total_steps:
                    break
                inputs, mask = pad([train_items[i] for i in batch])
                loss = nn.functional.cross_entropy(model(inputs, mask, settings.start_layer), labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                result.steps += 1
                losses.append(loss.item())
            val_pred = predict_logits(model, val_items, settings.start_layer).argmax(axis=1)
            val_f1 = macro_f1(val_labels, val_pred, model.classifier.out_features)
            result.history.append({"epoch": epoch, "steps": result.steps,
                                   "train_loss": float(np.mean(losses)), "val_macro_f1": val_f1,
                                   "seconds": time.perf_counter() - started})
            log(f"  epoch {epoch}/{epochs}: {result.steps} steps, train loss {np.mean(losses):.3f}, "
                f"validation macro-F1 {val_f1:.3f} ({time.perf_counter() - started:.0f} s)")
            if val_f1 > result.best_val_macro_f1:
                result.best_epoch, result.best_val_macro_f1 = epoch, val_f1
                result.best_steps = result.steps
                state = model.state_dict()
                best_state = {name: state[name].detach().clone() for name in trainable}
            if settings.patience and epoch - result.best_epoch >= settings.patience and epoch < epochs:
                result.stopped_early = True
                log(f"  no gain on validation for {settings.patience} epoch(s): stopping, keeping epoch "
                    f"{result.best_epoch}")
                break
    except KeyboardInterrupt:
        result.interrupted = True
        log("  interrupted: keeping the best epoch so far")
    if best_state:
        model.load_state_dict(best_state, strict=False)
    result.seconds = time.perf_counter() - started
    return result
