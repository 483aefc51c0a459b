"""Byte-level BPE: exact round trips for any Unicode text, no unknown tokens, save/load."""

from hypothesis import given, settings
from hypothesis import strategies as st

from common.lm.bpe import BPETokenizer, pre_split
from common.lm.tokenizers import BPETokenizer as ReExported

CORPUS = "the cat sat on the mat. The cat's hat is on the mat!\n  Then   the cat ran.\n" * 20
TOKENIZER = BPETokenizer.fit(CORPUS, vocab_size=300)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_round_trip_is_exact_for_any_unicode(text):
    assert "".join(pre_split(text)) == text
    ids = TOKENIZER.encode(text)
    assert all(0 <= i < TOKENIZER.vocab_size for i in ids)
    assert TOKENIZER.decode(ids) == text


def test_merges_shorten_frequent_words_and_training_is_deterministic():
    # Training stops early once every word of this small corpus is a single token.
    assert 256 < TOKENIZER.vocab_size <= 300
    assert re_fit().merges == TOKENIZER.merges
    # " cat" is frequent: it should be one token; an unseen word still encodes, as bytes.
    assert len(TOKENIZER.encode(" cat")) == 1
    assert TOKENIZER.decode(TOKENIZER.encode("zebra 🦓")) == "zebra 🦓"


def re_fit():
    return BPETokenizer.fit(CORPUS, vocab_size=300)


def test_save_load_gives_the_same_ids(tmp_path):
    path = tmp_path / "tokenizer.json"
    TOKENIZER.save(path)
    loaded = ReExported.load(path)
    text = "The mat sat on the cat — ça va? 日本語"
    assert loaded.encode(text) == TOKENIZER.encode(text)
    assert loaded.vocab_size == TOKENIZER.vocab_size


def test_bad_inputs_give_clear_errors(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="empty"):
        BPETokenizer.fit("", vocab_size=300)
    with pytest.raises(ValueError, match="at least 256"):
        BPETokenizer.fit("abc", vocab_size=10)
    other = tmp_path / "char.json"
    other.write_text('{"type": "char", "chars": ["a"]}')
    with pytest.raises(ValueError, match="not a 'bpe'"):
        BPETokenizer.load(other)
