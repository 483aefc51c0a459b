"""Byte-level byte-pair encoding (BPE), the tokenizer of GPT-2 and most modern language models.

The job of BPE is to give a model a vocabulary with no unknown tokens at all: every text is first
turned into its UTF-8 bytes (256 base tokens cover any Unicode string), and training then learns
*merges* — "the pair (t, h) becomes one new token th" — most frequent pair first, until the vocabulary
has the size asked for. Frequent words end up as one token, rare words as a few pieces.

Training is fast because it works on counted word types, not on the raw text: the corpus is pre-split
into words (a space stays glued to the word after it, as GPT-2 does), identical words are counted
once, and after each merge only the pair counts of the words that contained the merged pair change.

    tokenizer = BPETokenizer.fit(text, vocab_size=2000)
    assert tokenizer.decode(tokenizer.encode(s)) == s   # for any str s
"""

from __future__ import annotations

import heapq
import re
from collections import Counter, defaultdict
from pathlib import Path

from common.lm.tokenizer_protocol import read_tokenizer_file, require_text, tokenizer_field
from common.runs import write_json

# GPT-2's pre-split pattern with Python's `re` classes: English contractions, an optional space plus
# a run of letters / digits / other symbols, and whitespace (a trailing space is left for the next word).
PRE_SPLIT = re.compile(
    r"""'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
)
BYTE_VOCAB = 256


def pre_split(text: str) -> list[str]:
    """Cut text into the chunks that merges never cross; the chunks join back to `text` exactly."""
    chunks: list[str] = []
    position = 0
    for match in PRE_SPLIT.finditer(text):
        if match.start() > position:  # a character no alternative matched still travels, as its own chunk
            chunks.append(text[position : match.start()])
        chunks.append(match.group())
        position = match.end()
    if position < len(text):
        chunks.append(text[position:])
    return chunks


def _pairs(word: tuple[int, ...]) -> Counter[tuple[int, int]]:
    return Counter(zip(word, word[1:], strict=False))


def _merge_word(word: tuple[int, ...], pair: tuple[int, int], new_id: int) -> tuple[int, ...]:
    """Replace every non-overlapping occurrence of `pair` in `word`, left to right."""
    merged: list[int] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return tuple(merged)


def learn_merges(text: str, num_merges: int) -> list[tuple[int, int]]:
    """The first `num_merges` merges of byte-level BPE on `text`, most frequent pair first.

    Ties are broken by the smaller pair, so the result is deterministic.
    """
    word_counts = Counter(pre_split(text))
    words = [tuple(w.encode("utf-8")) for w in word_counts]
    freqs = list(word_counts.values())
    pair_counts: Counter[tuple[int, int]] = Counter()
    where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> indices of words holding it
    for index, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair, n in _pairs(word).items():
            pair_counts[pair] += n * freq
            where[pair].add(index)
    # A max-heap of (-count, pair); entries go stale when counts change and are skipped when popped.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    while len(merges) < num_merges and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative_count or negative_count == 0:
            continue  # stale entry
        new_id = BYTE_VOCAB + len(merges)
        merges.append(pair)
        changed: set[tuple[int, int]] = set()
        for index in where.pop(pair):
            old, freq = words[index], freqs[index]
            new = _merge_word(old, pair, new_id)
            for p, n in _pairs(old).items():
                pair_counts[p] -= n * freq
                changed.add(p)
            for p, n in _pairs(new).items():
                pair_counts[p] += n * freq
                where[p].add(index)
                changed.add(p)
            words[index] = new
        pair_counts.pop(pair, None)
        for p in changed:
            count = pair_counts.get(p, 0)
            if count > 0:
                heapq.heappush(heap, (-count, p))
            else:
                pair_counts.pop(p, None)
    return merges


class BPETokenizer:
    """Byte-level BPE: ids 0-255 are the bytes, id 256 + k is the k-th learned merge. Nothing is unknown."""

    unk_id = None

    def __init__(self, merges: list[tuple[int, int]]):
        self.merges = [tuple(pair) for pair in merges]
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}  # earlier merge = applied first
        self.vocab = [bytes([b]) for b in range(BYTE_VOCAB)]  # id -> the bytes it stands for
        for left, right in self.merges:
            self.vocab.append(self.vocab[left] + self.vocab[right])
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def fit(cls, text: str, vocab_size: int = 2000) -> BPETokenizer:
        require_text(text)
        if vocab_size < BYTE_VOCAB:
            raise ValueError(f"vocab_size must be at least {BYTE_VOCAB} (the byte alphabet), "
                             f"got {vocab_size}")
        return cls(learn_merges(text, vocab_size - BYTE_VOCAB))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _encode_chunk(self, chunk: str) -> list[int]:
        if chunk in self._cache:
            return self._cache[chunk]
        word = list(chunk.encode("utf-8"))
        while len(word) > 1:
            # Apply the earliest-learned merge present, as training did.
            pairs = zip(word, word[1:], strict=False)
            rank, pair = min((self.ranks.get(p, len(self.ranks)), p) for p in pairs)
            if rank == len(self.ranks):
                break
            word = list(_merge_word(tuple(word), pair, BYTE_VOCAB + rank))
        if len(self._cache) < 100_000:  # bounded so a long stream of new words cannot grow it forever
            self._cache[chunk] = word
        return word

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in pre_split(text):
            ids.extend(self._encode_chunk(chunk))
        return ids

    def decode(self, ids: list[int]) -> str:
        """Ids back to text; a byte sequence cut inside a character (from sampling) shows as U+FFFD."""
        data = b"".join(self.vocab[i] for i in ids if 0 <= i < len(self.vocab))
        return data.decode("utf-8", errors="replace")

    def token_text(self, token_id: int) -> str:
        """How one token reads, for printing vocabularies and nearest neighbours."""
        return self.vocab[token_id].decode("utf-8", errors="replace")

    def save(self, path: str | Path) -> None:
        write_json(path, {"type": "bpe", "merges": [list(pair) for pair in self.merges]})

    @classmethod
    def load(cls, path: str | Path) -> BPETokenizer:
        merges = tokenizer_field(read_tokenizer_file(path, "bpe"), path, "merges", _valid_merges,
                                 "a list of [left id, right id] pairs of earlier tokens")
        return cls([tuple(pair) for pair in merges])


def _valid_merges(merges: object) -> bool:
    """Whether `merges` is a list of pairs of ids, each naming a byte or the token of an earlier merge."""
    if not isinstance(merges, list):
        return False
    for rank, pair in enumerate(merges):
        ids_so_far = BYTE_VOCAB + rank
        if not (isinstance(pair, list) and len(pair) == 2):
            return False
        if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < ids_so_far for i in pair):
            return False
    return True
