"""What every tokenizer of the project is: the `Tokenizer` protocol, and the two checks they share.

A language-model loop (common/lm/harness.py) needs nothing of a tokenizer but these six members,
so a stage picks characters, words or BPE pieces without the loop knowing which:

    ids = tokenizer.encode("ROMEO: what light")      # text -> list of ids in [0, vocab_size)
    tokenizer.decode(ids)                             # ids -> text
    tokenizer.token_text(ids[0])                      # how one token reads
    tokenizer.unk_id                                  # the id unseen text maps to (None: nothing is unknown)
    tokenizer.save(path); load_tokenizer(path)        # a small JSON file beside the checkpoint
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from common.runs import read_json


class Tokenizer(Protocol):
    unk_id: int | None  # the id of text unseen at fit time; never sampled (None: every text encodes exactly)

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def token_text(self, token_id: int) -> str: ...

    def save(self, path: str | Path) -> None: ...


def require_text(text: Any) -> None:
    """Refuse to fit a tokenizer on anything but a non-empty string."""
    if not isinstance(text, str):
        raise TypeError(f"expected text (str), got {type(text).__name__}")
    if not text:
        raise ValueError("cannot fit a tokenizer on empty text: give it a non-empty corpus")


def read_tokenizer_file(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """The JSON a tokenizer saved, checked to hold a tokenizer (of `kind`, when given)."""
    try:
        payload = read_json(path)
    except ValueError as error:
        raise ValueError(f"could not read a tokenizer from {path}: {error}") from None
    if not isinstance(payload, dict) or "type" not in payload:
        raise ValueError(f"{path} is not a tokenizer file (no 'type'): re-train to recreate it")
    if kind is not None and payload["type"] != kind:
        raise ValueError(f"{path} holds a {payload['type']!r} tokenizer, not a {kind!r} one")
    return payload


def tokenizer_field(payload: dict[str, Any], path: str | Path, key: str, valid: Callable[[Any], bool],
                    what: str) -> Any:
    """`payload[key]` of the tokenizer file `path`, refused with one line naming the file unless the
    field is there and `valid` (it is `what`): a damaged file must not load and sample garbage."""
    if key not in payload:
        raise ValueError(f"{path} is damaged: the tokenizer has no {key!r}; re-train to recreate it")
    if not valid(payload[key]):
        raise ValueError(f"{path} is damaged: the tokenizer's {key!r} must be {what}; re-train to "
                         "recreate it")
    return payload[key]


def distinct_strings(value: Any, single_characters: bool = False) -> bool:
    """Whether `value` is a list of distinct non-empty strings (each one character long, if asked)."""
    return (isinstance(value, list) and all(isinstance(item, str) and item for item in value)
            and len(set(value)) == len(value)
            and not (single_characters and any(len(item) != 1 for item in value)))
