"""Count-based n-gram language models: the baselines a neural language model must beat.

A model here sees a sequence of integer token ids (characters, words or BPE pieces) and gives, for
each position, a probability distribution over the whole vocabulary for the next token. Every model
gives non-zero probability to every token, so its cross-entropy on unseen text is finite.

- `UnigramModel`: p(w) from token frequencies (add-k smoothed) — knows the alphabet, not the order.
- `BigramModel`: p(w | previous token), add-k smoothed.
- `KneserNeyModel(order)`: interpolated Kneser-Ney (Chen & Goodman 1998) of any order — the classic
  strong n-gram. Lower orders use *continuation* counts (in how many different contexts a token was
  seen), which is why "Francisco" does not get a high unigram probability just because "San
  Francisco" is frequent.

Counting is vectorised: an n-gram of ids is packed into one integer `sum(id_j * V**j)` and counted
with `np.unique`, so a million-token corpus is counted in well under a second.

    model = KneserNeyModel(order=3).fit(train_ids, vocab_size)
    nats = model.mean_nll(val_ids)     # mean cross-entropy in nats per token
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_MAX_KEY = 2**62  # packed n-gram keys must fit in int64


def _as_ids(ids: Sequence[int] | np.ndarray, vocab_size: int) -> np.ndarray:
    array = np.asarray(ids, dtype=np.int64).ravel()
    if array.size and (array.min() < 0 or array.max() >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}), got [{array.min()}, {array.max()}]")
    return array


def _contexts(ids: np.ndarray, length: int) -> np.ndarray:
    """(N, length) matrix: row i holds the `length` ids before position i, -1 where the text had not begun."""
    padded = np.concatenate([np.full(length, -1, dtype=np.int64), ids])
    if length == 0:
        return np.zeros((len(ids), 0), dtype=np.int64)
    return np.lib.stride_tricks.sliding_window_view(padded, length)[: len(ids)]


class _NgramModel:
    """Shared interface: `fit`, `prob(contexts, targets)`, `distribution(context)`, `mean_nll(ids)`."""

    context_length = 0
    vocab_size = 0

    def fit(self, ids: Sequence[int] | np.ndarray, vocab_size: int) -> _NgramModel:
        raise NotImplementedError

    def prob(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """p(target | context) per row; contexts is (m, context_length) with -1 for 'before the text'."""
        raise NotImplementedError

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """The next-token distribution after `context` (its last `context_length` ids are used)."""
        tail = list(context)[-self.context_length :] if self.context_length else []
        row = np.array([-1] * (self.context_length - len(tail)) + tail, dtype=np.int64)
        contexts = np.tile(row, (self.vocab_size, 1))
        return self.prob(contexts, np.arange(self.vocab_size))

    def mean_nll(self, ids: Sequence[int] | np.ndarray) -> float:
        """Mean cross-entropy in nats per token over every position of `ids` (the first positions
        see a shorter context, as a model reading the text from its start would)."""
        array = _as_ids(ids, self.vocab_size)
        if array.size == 0:
            raise ValueError("cannot evaluate on an empty sequence")
        return float(-np.mean(np.log(self.prob(_contexts(array, self.context_length), array))))


class UnigramModel(_NgramModel):
    """p(w) = (count(w) + k) / (N + k V)."""

    def __init__(self, add_k: float = 1.0):
        if add_k <= 0:
            raise ValueError(f"add_k must be positive so unseen tokens keep some probability, got {add_k}")
        self.add_k = add_k

    def fit(self, ids: Sequence[int] | np.ndarray, vocab_size: int) -> UnigramModel:
        array = _as_ids(ids, vocab_size)
        self.vocab_size = vocab_size
        counts = np.bincount(array, minlength=vocab_size).astype(np.float64)
        self.probs = (counts + self.add_k) / (counts.sum() + self.add_k * vocab_size)
        return self

    def prob(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        return self.probs[np.asarray(targets)]


class BigramModel(_NgramModel):
    """p(w | v) = (count(v w) + k) / (count(v ·) + k V); the first token, with no v, uses the unigram."""

    context_length = 1

    def __init__(self, add_k: float = 1.0):
        if add_k <= 0:
            raise ValueError(f"add_k must be positive so unseen pairs keep some probability, got {add_k}")
        self.add_k = add_k

    def fit(self, ids: Sequence[int] | np.ndarray, vocab_size: int) -> BigramModel:
        array = _as_ids(ids, vocab_size)
        self.vocab_size = vocab_size
        # A dense V x V table is fine for characters; for big vocabularies keep the sparse pair counts.
        keys, counts = np.unique(array[:-1] * vocab_size + array[1:], return_counts=True)
        self.pair_keys, self.pair_counts = keys, counts.astype(np.float64)
        self.context_totals = np.bincount(array[:-1], minlength=vocab_size).astype(np.float64)
        self.unigram = UnigramModel(self.add_k).fit(array, vocab_size)
        return self

    def prob(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        previous, targets = np.asarray(contexts)[:, -1], np.asarray(targets)
        known = previous >= 0
        pair = _lookup(self.pair_keys, self.pair_counts,
                       np.where(known, previous, 0) * self.vocab_size + targets)
        totals = self.context_totals[np.where(known, previous, 0)]
        bigram = (pair + self.add_k) / (totals + self.add_k * self.vocab_size)
        return np.where(known, bigram, self.unigram.prob(contexts, targets))


def _lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[keys == query] per query, 0 where the key is absent (keys sorted)."""
    if keys.size == 0:
        return np.zeros(len(queries))
    where = np.clip(np.searchsorted(keys, queries), 0, keys.size - 1)
    return np.where(keys[where] == queries, values[where], 0.0)


def _discount(counts: np.ndarray) -> float:
    """Ney's absolute discount D = n1 / (n1 + 2 n2) from the counts-of-counts, kept inside (0, 1)."""
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    if n1 == 0:
        return 0.5
    return float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95))


class KneserNeyModel(_NgramModel):
    """Interpolated Kneser-Ney of order n.

    Highest order:  p(w | h) = max(c(h w) - D, 0) / c(h ·)  +  D N1+(h ·) / c(h ·) * p_lower(w | h')
    Lower orders:   the same with c replaced by the continuation count N1+(· h' w), the number of
                    different tokens seen before h' w.
    Order 1 interpolates with the uniform distribution, so every token keeps some probability. A
    context never seen falls back to the lower order, so each distribution sums to 1 exactly.
    """

    def __init__(self, order: int = 3, discount: float | None = None):
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        if discount is not None and not 0 < discount < 1:
            raise ValueError(f"discount must lie in (0, 1), got {discount}")
        self.order = order
        self.context_length = order - 1
        self.fixed_discount = discount  # None: estimate D per order from the counts-of-counts

    def _pack(self, ids: np.ndarray, length: int) -> np.ndarray:
        """Keys of every `length`-gram of ids (row i = the gram ending at position i + length - 1)."""
        keys = np.zeros(len(ids) - length + 1, dtype=np.int64)
        for offset in range(length):
            keys = keys * self.vocab_size + ids[offset : len(ids) - length + 1 + offset]
        return keys

    def fit(self, ids: Sequence[int] | np.ndarray, vocab_size: int) -> KneserNeyModel:
        array = _as_ids(ids, vocab_size)
        self.vocab_size = vocab_size
        if float(vocab_size) ** self.order >= _MAX_KEY:
            raise ValueError(f"vocab_size {vocab_size} ** order {self.order} is too large to pack into int64")
        if len(array) < self.order + 1:
            raise ValueError(f"need more than {self.order} tokens to fit an order-{self.order} model")
        # For each order k: sorted k-gram keys with their counts (raw for k = n, continuation below),
        # and per context (the k-gram's first k-1 ids) the count total and the number of distinct followers.
        self.tables: list[dict[str, np.ndarray | float]] = []
        for k in range(1, self.order + 1):
            grams, raw = np.unique(self._pack(array, k), return_counts=True)
            if k == self.order:
                counts = raw.astype(np.float64)
            else:  # continuation count: distinct (k+1)-grams that end in this k-gram
                longer = np.unique(self._pack(array, k + 1))
                grams, counts = np.unique(longer % vocab_size**k, return_counts=True)
                counts = counts.astype(np.float64)
            contexts = grams // vocab_size
            context_keys, first = np.unique(contexts, return_index=True)
            totals = np.add.reduceat(counts, first)
            followers = np.diff(np.append(first, len(grams))).astype(np.float64)
            self.tables.append(
                {"grams": grams, "counts": counts, "context_keys": context_keys, "totals": totals,
                 "followers": followers,
                 "discount": self.fixed_discount or _discount(counts)}
            )
        return self

    def prob(self, contexts: np.ndarray, targets: np.ndarray) -> np.ndarray:
        contexts, targets = np.asarray(contexts, dtype=np.int64), np.asarray(targets, dtype=np.int64)
        p = np.full(len(targets), 1.0 / self.vocab_size)
        for k, table in enumerate(self.tables, start=1):
            history = contexts[:, contexts.shape[1] - (k - 1) :] if k > 1 else contexts[:, :0]
            valid = np.all(history >= 0, axis=1)
            context_key = np.zeros(len(targets), dtype=np.int64)
            for column in range(history.shape[1]):
                context_key = context_key * self.vocab_size + np.where(valid, history[:, column], 0)
            gram_key = context_key * self.vocab_size + targets
            count = _lookup(table["grams"], table["counts"], gram_key)
            total = _lookup(table["context_keys"], table["totals"], context_key)
            followers = _lookup(table["context_keys"], table["followers"], context_key)
            seen = valid & (total > 0)
            d = table["discount"]
            safe_total = np.where(seen, total, 1.0)
            interpolated = (np.maximum(count - d, 0.0) + d * followers * p) / safe_total
            p = np.where(seen, interpolated, p)
        return p


def choose_kneser_ney_order(
    ids: Sequence[int] | np.ndarray, vocab_size: int, orders: Sequence[int] = range(2, 9),
    heldout_fraction: float = 0.1,
) -> int:
    """The order whose model, fit on the first part of `ids`, scores best on its last `heldout_fraction`.

    Pass training ids only: the order is a hyperparameter, and choosing it on the validation text
    would flatter the baseline.
    """
    array = np.asarray(ids, dtype=np.int64)
    split = int(len(array) * (1 - heldout_fraction))
    fit_part, heldout = array[:split], array[split:]
    scores = {}
    for order in orders:
        if float(vocab_size) ** order >= _MAX_KEY:
            break
        scores[order] = KneserNeyModel(order).fit(fit_part, vocab_size).mean_nll(heldout)
    return min(scores, key=scores.get)
