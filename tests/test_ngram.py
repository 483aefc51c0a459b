"""N-gram baselines: distributions sum to 1, and the numbers match a toy example worked by hand."""

import numpy as np
import pytest

from common.lm.ngram import BigramModel, KneserNeyModel, UnigramModel, choose_kneser_ney_order

# "a b a b c a b" with a=0, b=1, c=2.
TOY = [0, 1, 0, 1, 2, 0, 1]


def test_unigram_and_bigram_match_hand_computed_add_one():
    unigram = UnigramModel(add_k=1.0).fit(TOY, vocab_size=3)
    assert unigram.distribution([]) == pytest.approx([4 / 10, 4 / 10, 2 / 10])
    bigram = BigramModel(add_k=1.0).fit(TOY, vocab_size=3)
    # a is followed by b three times out of three: (3 + 1) / (3 + 3).
    assert bigram.distribution([0]) == pytest.approx([1 / 6, 4 / 6, 1 / 6])
    # b is followed by a once and c once: (1 + 1) / (2 + 3).
    assert bigram.distribution([1]) == pytest.approx([2 / 5, 1 / 5, 2 / 5])


def test_kneser_ney_bigram_matches_hand_computed_values():
    model = KneserNeyModel(order=2, discount=0.5).fit(TOY, vocab_size=3)
    # Continuation counts: a follows {b, c} -> 2, b follows {a} -> 1, c follows {b} -> 1; total 4, 3 types.
    # p1(a) = (2 - 0.5 + 0.5 * 3 / 3) / 4 = 0.5, p1(b) = p1(c) = (1 - 0.5 + 0.5) / 4 = 0.25.
    # After a: c(ab) = 3, c(a.) = 3, one follower type:
    # p(b|a) = (3 - 0.5 + 0.5 * 1 * 0.25) / 3, p(a|a) = 0.5 * 0.5 / 3, p(c|a) = 0.5 * 0.25 / 3.
    assert model.distribution([0]) == pytest.approx([0.25 / 3, 2.625 / 3, 0.125 / 3])
    # c is followed by a once, one follower type: p(a|c) = (1 - 0.5 + 0.5 * 1 * 0.5) / 1 = 0.75.
    assert model.distribution([2])[0] == pytest.approx(0.75)
    # The first token has no history: it gets the lower-order (continuation) distribution.
    assert model.distribution([]) == pytest.approx([0.5, 0.25, 0.25])


@pytest.mark.parametrize(
    "model", [UnigramModel(), BigramModel(0.1), KneserNeyModel(2), KneserNeyModel(3), KneserNeyModel(5)]
)
def test_every_distribution_sums_to_one(model):
    rng = np.random.default_rng(0)
    vocab_size = 7
    ids = rng.integers(0, vocab_size, size=400)
    ids[::5] = 3  # some structure so contexts repeat
    model.fit(ids, vocab_size)
    for context in ([], [3], [6, 6, 6, 6], list(ids[10:14]), [0, 1, 2, 3, 4, 5]):
        distribution = model.distribution(context)
        assert distribution.shape == (vocab_size,)
        assert np.all(distribution > 0)
        assert distribution.sum() == pytest.approx(1.0, abs=1e-12)


def test_higher_order_beats_lower_order_on_repetitive_text():
    ids = np.tile([0, 1, 2, 3, 1, 2, 0, 3], 50)
    train, heldout = ids[:300], ids[300:]
    scores = [KneserNeyModel(order).fit(train, 4).mean_nll(heldout) for order in (1, 2, 4)]
    assert scores[0] > scores[1] > scores[2]
    assert choose_kneser_ney_order(train, 4, orders=(1, 2, 4)) == 4


def test_bad_ids_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="token ids must lie"):
        KneserNeyModel(2).fit([0, 1, 5], vocab_size=3)
    with pytest.raises(ValueError, match="empty"):
        UnigramModel().fit(TOY, 3).mean_nll([])
