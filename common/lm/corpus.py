"""Corpora larger than memory: tokenise a text file once into a memory-mapped array of token ids.

    python -m common.lm.corpus --data big.txt --out data/cache/big --tokenizer char   # TinyLLM's tokens
    python -m common.lm.corpus --data big.txt --out data/cache/big_bpe --tokenizer bpe
    python TinyLLM/train.py --data data/cache/big                                  # trains from it

The folder receives `tokens.bin` (the ids of the whole text, uint16 when the vocabulary has at most
65,536 tokens, else uint32), `tokenizer.json` and `corpus.json` (counts, and where validation starts).
The text is read and encoded in pieces of about `--piece-chars` characters cut at line ends, so memory
stays flat however large the file; the tokenizer is fitted on its first `--fit-chars` characters (a
character missing from them becomes the unknown id). Training opens `tokens.bin` with `numpy.memmap`:
the operating system pages in only the windows read, so peak memory does not grow with the corpus.
Validation is the last `--val-fraction` of the text, cut where the stages cut it, and the tokenizer
sees training text only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from common.config import finite, option, parse_config, require, require_at_least, run_cli
from common.lm.tokenizer_protocol import Tokenizer
from common.lm.tokenizers import BPETokenizer, CharTokenizer, WordTokenizer, load_tokenizer
from common.paths import DATA_DIR
from common.runs import atomic_path, read_json, write_json

META_FILE, TOKENS_FILE, TOKENIZER_FILE = "corpus.json", "tokens.bin", "tokenizer.json"


@dataclass
class PrepareConfig:
    data: str = option("", "the UTF-8 text file to prepare")
    out: str = option("", "the folder to write (then: train.py --data FOLDER)")
    tokenizer: str = option("char", "char (TinyLLM), word or bpe (SmaLLM)", choices=("char", "word", "bpe"))
    min_freq: int = option(2, "word tokenizer: words seen fewer times become <unk>")
    bpe_vocab_size: int = option(2000, "bpe tokenizer: 256 bytes + merges")
    val_fraction: float = option(0.1, "the last tenth of the text validates, as in the stages")
    fit_chars: int = option(5_000_000, "the tokenizer is fitted on this many characters from the start")
    piece_chars: int = option(4_000_000, "characters read and encoded at a time: bounds memory")

    def validate(self) -> None:
        if not self.data or not Path(self.data).is_file():
            raise FileNotFoundError(f"--data {self.data!r} is not a file: give the text file to prepare")
        if not self.out:
            raise ValueError("--out is needed: the folder to write the prepared corpus to")
        require(self, 0 < finite(self.val_fraction) < 1, "val_fraction",
                "between 0 and 1 (exclusive), e.g. 0.1")
        require_at_least(self, 1, "fit_chars", "piece_chars")


def is_prepared(data: str) -> bool:
    """Whether `data` names a folder written by `prepare` (rather than a corpus name or text file)."""
    return (Path(data) / META_FILE).is_file()


def pieces(path: Path, piece_chars: int, cut: int | None = None) -> Iterator[str]:
    """The text of `path` (Windows line ends made plain) in pieces of about `piece_chars` characters,
    each ending at a line end (so no word is cut) and one ending exactly at character `cut`."""
    position = 0
    with open(path, encoding="utf-8", newline="") as handle:
        carry = ""
        while True:
            block = handle.read(piece_chars)
            text = carry + block
            end = (text.rfind("\n") + 1 or len(text)) if block else len(text)
            carry, piece = text[end:], text[:end].replace("\r\n", "\n")
            if cut is not None and position < cut < position + len(piece):
                yield piece[: cut - position]
                piece, position = piece[cut - position :], cut
            if piece:
                yield piece
            position += len(piece)
            if not block:
                return


def fit_tokenizer(config: PrepareConfig, sample: str) -> Tokenizer:
    if config.tokenizer == "bpe":
        return BPETokenizer.fit(sample, vocab_size=config.bpe_vocab_size)
    if config.tokenizer == "word":
        return WordTokenizer.fit(sample, min_freq=config.min_freq)
    return CharTokenizer.fit(sample)


def prepare(config: PrepareConfig) -> dict[str, Any]:
    """Write the prepared corpus folder; returns the content of its corpus.json."""
    config.validate()
    path, out = Path(config.data), Path(config.out)
    total_chars = sum(len(piece) for piece in pieces(path, config.piece_chars))
    if total_chars == 0:
        raise ValueError(f"{path} is empty: a corpus needs some text to learn from")
    split = int(total_chars * (1 - config.val_fraction))  # the first validation character, as in the stages
    # The vocabulary comes from training text only (its first fit_chars characters).
    sample = "".join(_first_chars(pieces(path, config.piece_chars), min(config.fit_chars, split)))
    tokenizer = fit_tokenizer(config, sample)
    dtype = np.uint16 if tokenizer.vocab_size <= 2**16 else np.uint32
    out.mkdir(parents=True, exist_ok=True)
    chars = tokens = val_start = 0
    with atomic_path(out / TOKENS_FILE) as tmp, open(tmp, "wb") as handle:
        count = math.ceil(total_chars / config.piece_chars)
        progress = tqdm(pieces(path, config.piece_chars, cut=split), total=count, unit="piece",
                        desc=f"encoding {path.name}")
        for piece in progress:
            if chars == split:
                val_start = tokens
            ids = np.asarray(tokenizer.encode(piece), dtype=dtype)
            handle.write(ids.tobytes())
            chars, tokens = chars + len(piece), tokens + len(ids)
    tokenizer.save(out / TOKENIZER_FILE)
    meta = {"source": str(path), "tokenizer": config.tokenizer, "dtype": np.dtype(dtype).name,
            "vocab_size": tokenizer.vocab_size, "chars": total_chars, "tokens": tokens,
            "val_start_token": val_start, "val_chars": total_chars - split,
            "val_fraction": config.val_fraction, "fit_chars": len(sample)}
    write_json(out / META_FILE, meta)
    print(f"{path.name}: {total_chars:,} characters -> {meta['tokens']:,} {config.tokenizer} tokens "
          f"({meta['dtype']}), validation from token {val_start:,} ({config.val_fraction:.0%} of the text); "
          f"written to {out}")
    return meta


def _first_chars(texts: Iterator[str], count: int) -> Iterator[str]:
    for text in texts:
        yield text[:count]
        count -= len(text)
        if count <= 0:
            return


@dataclass
class PreparedCorpus:
    """A prepared folder opened for training: the token ids as memory-mapped arrays (never read whole)."""

    folder: Path
    tokenizer: Tokenizer
    train_ids: np.ndarray  # (tokens,) memory-mapped
    val_ids: np.ndarray  # (tokens,) memory-mapped
    val_chars: int


def read_corpus_meta(path: Path) -> dict[str, Any]:
    """corpus.json, checked to hold what `open_prepared` reads, with the types `prepare` writes."""
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is damaged: it holds a {type(meta).__name__}, not an object; prepare the "
                         "corpus again")
    counts = ("tokens", "val_start_token", "val_chars")
    for key in counts:
        value = meta.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{path} is damaged: {key!r} must be a count (a whole number, 0 or more), got "
                             f"{value!r}; prepare the corpus again")
    if meta.get("dtype") not in ("uint16", "uint32"):
        raise ValueError(f"{path} is damaged: 'dtype' must be 'uint16' or 'uint32', got "
                         f"{meta.get('dtype')!r}; prepare the corpus again")
    if meta["val_start_token"] > meta["tokens"]:
        raise ValueError(f"{path} is damaged: validation starts at token {meta['val_start_token']:,} of "
                         f"{meta['tokens']:,}; prepare the corpus again")
    return meta


def open_prepared(folder: str | Path) -> PreparedCorpus:
    folder = Path(folder)
    meta = read_corpus_meta(folder / META_FILE)
    # mode "c" (copy-on-write): a writable view for torch.from_numpy that never writes back to the file
    tokens = np.memmap(folder / TOKENS_FILE, dtype=meta["dtype"], mode="c")
    if len(tokens) != meta["tokens"]:
        raise ValueError(f"{folder / TOKENS_FILE} holds {len(tokens):,} tokens, {META_FILE} says "
                         f"{meta['tokens']:,}: the folder is incomplete; prepare it again")
    start = meta["val_start_token"]
    return PreparedCorpus(folder, load_tokenizer(folder / TOKENIZER_FILE), tokens[:start], tokens[start:],
                          meta["val_chars"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return prepare(parse_config(PrepareConfig, argv, description=__doc__))


if __name__ == "__main__":
    run_cli(main)


def load_corpus(name: str | Path = "shakespeare") -> str:
    """The text of an embedded corpus (`"shakespeare"` -> data/shakespeare.txt) or of a UTF-8 file."""
    embedded = DATA_DIR / f"{name}.txt"
    is_embedded = isinstance(name, str) and re.fullmatch(r"\w+", name) and embedded.exists()
    path = embedded if is_embedded else Path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"corpus {name!s} not found: give 'shakespeare' or the path of a UTF-8 text file"
        )
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise ValueError(f"{path} looks binary (it contains NUL bytes): give a UTF-8 text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error}); convert it, e.g. `iconv -t UTF-8`") from error
    if not text.strip():
        raise ValueError(f"{path} is empty: a corpus needs some text to learn from")
    return text.replace("\r\n", "\n")
