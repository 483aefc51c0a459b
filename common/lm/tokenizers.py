"""Tokenizers: text -> list of integer ids -> text.

`CharTokenizer` (Stage 1) maps each character to an id; `WordTokenizer` (Stage 2) splits words and
punctuation; `BPETokenizer` (common/lm/bpe.py, Stage 2) learns byte-pair merges. Char and word reserve
id 0 for anything unseen at fit time, so encoding never crashes; BPE has nothing unseen. Each saves to
a small JSON file that travels with a checkpoint, and `load_tokenizer` reads back whichever it holds.
All three follow the `Tokenizer` protocol of common/lm/tokenizer_protocol.py.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from common.lm.bpe import BPETokenizer
from common.lm.tokenizer_protocol import (
    Tokenizer,
    distinct_strings,
    read_tokenizer_file,
    require_text,
    tokenizer_field,
)
from common.runs import write_json

UNK = "<unk>"
# What an unknown id decodes to in character text: the Unicode replacement character.
UNK_CHAR = "\ufffd"


class CharTokenizer:
    """One id per character seen at fit time; id 0 is the reserved unknown."""

    unk_id = 0

    def __init__(self, chars: list[str]):
        self.itos = [UNK_CHAR, *chars]  # id -> character
        self.stoi = {ch: i for i, ch in enumerate(chars, start=1)}  # character -> id

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        require_text(text)
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(ch, 0) for ch in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.itos[i] if 0 < i < len(self.itos) else UNK_CHAR for i in ids)

    def token_text(self, token_id: int) -> str:
        return self.itos[token_id]

    def save(self, path: str | Path) -> None:
        write_json(path, {"type": "char", "chars": self.itos[1:]})

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        chars = tokenizer_field(read_tokenizer_file(path, "char"), path, "chars",
                                lambda value: distinct_strings(value, single_characters=True),
                                "a list of distinct single characters")
        return cls(chars)


# A word (letters/digits, with inner apostrophes or hyphens: "I'll", "fiend-like", and a leading
# elision: "'tis"), a newline (kept so generated text has lines), or a run of other punctuation.
WORD_PATTERN = re.compile(r"'?\w+(?:['\-]\w+)*|\n|[^\w\s]+")
NO_SPACE_BEFORE = set(",.;:!?)]}'\"") | {"\n"}
NO_SPACE_AFTER = set("([{") | {"\n"}


class WordTokenizer:
    """Words and punctuation as separate tokens; rare or unseen words become one `<unk>` id."""

    unk_id = 0

    def __init__(self, words: list[str], lowercase: bool = False):
        self.lowercase = lowercase
        self.itos = [UNK, *words]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @staticmethod
    def split(text: str) -> list[str]:
        """The token strings of `text`, before mapping to ids."""
        return WORD_PATTERN.findall(text)

    @classmethod
    def fit(cls, text: str, min_freq: int = 1, lowercase: bool = False) -> WordTokenizer:
        require_text(text)
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        counts = Counter(cls.split(text.lower() if lowercase else text))
        if not counts:
            raise ValueError("the text has no words or punctuation to build a vocabulary from")
        # Most frequent first (ties alphabetical) so ids are stable and small ids are common words.
        words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if not [w for w in words if w != UNK]:
            raise ValueError(f"no word of the training text appears {min_freq} or more times (the most "
                             f"frequent appears {max(counts.values())}), so every word would become <unk>: "
                             "lower --min-freq or give a longer text")
        return cls([w for w in words if w != UNK], lowercase=lowercase)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        text = text.lower() if self.lowercase else text
        return [self.stoi.get(token, 0) for token in self.split(text)]

    def decode(self, ids: list[int]) -> str:
        pieces: list[str] = []
        previous = "\n"  # nothing goes before the first token
        for i in ids:
            token = self.itos[i] if 0 <= i < len(self.itos) else UNK
            # Closing punctuation hugs the word before it; a word such as "'tis" does not.
            hugs_left = token[0] in NO_SPACE_BEFORE and not any(ch.isalnum() for ch in token)
            if pieces and previous[-1] not in NO_SPACE_AFTER and not hugs_left:
                pieces.append(" ")
            pieces.append(token)
            previous = token
        return "".join(pieces)

    def token_text(self, token_id: int) -> str:
        return self.itos[token_id]

    def save(self, path: str | Path) -> None:
        write_json(path, {"type": "word", "lowercase": self.lowercase, "words": self.itos[1:]})

    @classmethod
    def load(cls, path: str | Path) -> WordTokenizer:
        payload = read_tokenizer_file(path, "word")
        words = tokenizer_field(payload, path, "words", distinct_strings,
                                "a list of distinct non-empty words")
        lowercase = tokenizer_field(payload, path, "lowercase", lambda value: isinstance(value, bool),
                                    "true or false")
        return cls(words, lowercase=lowercase)


TOKENIZERS: dict[str, type] = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer}


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The tokenizer saved at `path`, whichever kind it is."""
    kind = read_tokenizer_file(path)["type"]
    if kind not in TOKENIZERS:
        raise ValueError(f"{path} holds a {kind!r} tokenizer; known kinds: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[kind].load(path)


__all__ = ["BPETokenizer", "CharTokenizer", "Tokenizer", "WordTokenizer", "load_tokenizer"]
