"""Prepared corpora: a text tokenised once into a memory-mapped array trains exactly like the text."""

from __future__ import annotations

import json

import numpy as np
import pytest

from common.lm import corpus
from common.lm.tokenizers import CharTokenizer
from TinyLLM import train as tiny_train

TEXT = "".join(f"Line {i}: some text to learn from, said the king.\r\nAnd the queen agreed {i % 7} times.\n"
               for i in range(300))


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_bytes(TEXT.encode("utf-8"))
    return path


def test_prepare_writes_the_ids_of_the_text_split_where_the_stages_split_it(text_file, tmp_path):
    out = tmp_path / "prepared"
    meta = corpus.main(["--data", str(text_file), "--out", str(out), "--piece-chars", "500"])
    plain = TEXT.replace("\r\n", "\n")
    split = int(len(plain) * 0.9)
    tokenizer = CharTokenizer.fit(plain[:split])  # fitted on training text only
    prepared = corpus.open_prepared(tmp_path / "prepared")
    assert meta["dtype"] == "uint16" and meta["chars"] == len(plain)
    assert meta["val_chars"] == len(plain) - split
    np.testing.assert_array_equal(prepared.train_ids, tokenizer.encode(plain[:split]))
    np.testing.assert_array_equal(prepared.val_ids, tokenizer.encode(plain[split:]))
    assert isinstance(prepared.train_ids, np.memmap)  # read from disk as needed, never loaded whole
    assert corpus.is_prepared(str(tmp_path / "prepared")) and not corpus.is_prepared(str(text_file))


def test_training_from_a_prepared_corpus_equals_training_from_the_text(text_file, tmp_path):
    corpus.main(["--data", str(text_file), "--out", str(tmp_path / "prepared"), "--piece-chars", "700"])
    flags = ["--hidden-size", "16", "--embedding-dim", "8", "--batch-size", "4", "--seq-len", "16",
             "--max-minutes", "0", "--max-steps", "4", "--eval-every", "2", "--sample-every", "0",
             "--threads", "1", "--ngram-orders", "2-3"]
    from_text = tiny_train.main(["--data", str(text_file), "--out", str(tmp_path / "a"), *flags])
    prepared = str(tmp_path / "prepared")
    from_prepared = tiny_train.main(["--data", prepared, "--out", str(tmp_path / "b"), *flags])
    for key in ("val_loss", "val_loss_ctx64", "baselines", "steps", "tokens_seen"):
        assert from_prepared[key] == from_text[key], key
    with pytest.raises(ValueError, match="--max-chars cuts a text file"):
        tiny_train.main(["--data", str(tmp_path / "prepared"), "--out", str(tmp_path / "c"), *flags,
                         "--max-chars", "1000"])


def test_an_incomplete_prepared_folder_is_a_clear_error(text_file, tmp_path):
    folder = tmp_path / "prepared"
    corpus.main(["--data", str(text_file), "--out", str(folder)])
    tokens = folder / corpus.TOKENS_FILE
    tokens.write_bytes(tokens.read_bytes()[:100])
    with pytest.raises(ValueError, match="incomplete; prepare it again"):
        corpus.open_prepared(folder)
    meta = json.loads((folder / corpus.META_FILE).read_text())
    assert meta["tokens"] > 50


def test_prepare_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a file"):
        corpus.main(["--data", str(tmp_path / "nothing.txt"), "--out", str(tmp_path / "x")])
