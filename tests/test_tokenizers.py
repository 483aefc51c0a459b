"""Character and word tokenizers: exact round trips, unknowns, save/load."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.lm.corpus import load_corpus
from common.lm.tokenizers import CharTokenizer, WordTokenizer

ALPHABET = "abcdefgh XYZ,.!?'\n\u00e9\u4e2d\U0001f600"


@given(st.text(alphabet=ALPHABET, min_size=1), st.text(alphabet=ALPHABET))
def test_char_round_trip_on_seen_characters(corpus, text):
    tokenizer = CharTokenizer.fit(corpus + ALPHABET)
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_char_unknown_character_gets_the_reserved_id():
    tokenizer = CharTokenizer.fit("hello")
    ids = tokenizer.encode("help!")
    assert ids[-1] == 0 and ids[0] != 0
    assert tokenizer.decode(ids) == "hel\ufffd\ufffd"
    assert tokenizer.vocab_size == 1 + len(set("hello"))


def test_char_save_load(tmp_path):
    tokenizer = CharTokenizer.fit("To be, or not to be")
    tokenizer.save(tmp_path / "tok.json")
    loaded = CharTokenizer.load(tmp_path / "tok.json")
    assert loaded.encode("not to be") == tokenizer.encode("not to be")
    assert loaded.vocab_size == tokenizer.vocab_size


def test_fit_on_empty_text_is_refused():
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.fit("")
    with pytest.raises(ValueError, match="empty"):
        WordTokenizer.fit("")


@pytest.mark.parametrize("text", ["Before we proceed", "Speak, speak.", "I'll go; 'tis late!",
                                  "O Romeo, Romeo!\nWherefore art thou?"])
def test_word_round_trip(text):
    tokenizer = WordTokenizer.fit(text)
    assert tokenizer.decode(tokenizer.encode(text)) == text


words = st.text(alphabet="abcdefXYZ", min_size=1, max_size=8)


@given(st.lists(words, min_size=1, max_size=30))
def test_plain_words_round_trip_exactly(word_list):
    text = " ".join(word_list)
    tokenizer = WordTokenizer.fit(text)
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_word_unknowns_and_min_freq():
    tokenizer = WordTokenizer.fit("the cat and the dog and the bird", min_freq=2)
    assert set(tokenizer.itos) == {"<unk>", "the", "and"}
    assert tokenizer.encode("the fox") == [tokenizer.stoi["the"], 0]
    assert tokenizer.decode(tokenizer.encode("the fox")) == "the <unk>"


def test_word_lowercase_and_save_load(tmp_path):
    tokenizer = WordTokenizer.fit("Speak, SPEAK. speak!", lowercase=True)
    assert tokenizer.encode("Speak") == tokenizer.encode("speak")
    tokenizer.save(tmp_path / "words.json")
    loaded = WordTokenizer.load(tmp_path / "words.json")
    assert loaded.lowercase and loaded.encode("SPEAK, speak") == tokenizer.encode("speak, speak")


def test_loading_the_wrong_kind_is_a_clear_error(tmp_path):
    CharTokenizer.fit("abc").save(tmp_path / "tok.json")
    with pytest.raises(ValueError, match="not a 'word'"):
        WordTokenizer.load(tmp_path / "tok.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="could not read"):
        CharTokenizer.load(tmp_path / "broken.json")


def test_shakespeare_round_trips_through_the_char_tokenizer():
    text = load_corpus("shakespeare")
    tokenizer = CharTokenizer.fit(text)
    assert tokenizer.decode(tokenizer.encode(text[:20000])) == text[:20000]
    assert tokenizer.vocab_size < 100
