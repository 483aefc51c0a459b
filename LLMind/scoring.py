"""Scores for a classifier: accuracy, macro-F1, the confusion matrix, and bootstrap 95 % intervals.

Macro-F1 is the mean over classes of F1 = 2 precision recall / (precision + recall): every class counts
the same however rare, so always answering the largest class (NYT: neutral, 46 %) scores 0.21, not 0.46.

A bootstrap interval answers "how much would this score move on another test set of the same size?":
draw the test sentences with replacement many times, score each draw, and take the 2.5th and 97.5th
percentiles. All models are scored on the *same* draws, so the interval of a difference between two
models (`paired_difference`) is narrower than their separate intervals suggest.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[i, j]: sentences of true class i predicted as class j."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


def _macro_f1_from_counts(counts: np.ndarray) -> np.ndarray:
    """Macro-F1 of confusion matrices (..., classes, classes); a class never true nor predicted scores 0."""
    true_positive = np.diagonal(counts, axis1=-2, axis2=-1)
    denominator = counts.sum(axis=-1) + counts.sum(axis=-2)  # 2 TP + FN + FP
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros(true_positive.shape), where=denominator > 0)
    return f1.mean(axis=-1)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    return float(_macro_f1_from_counts(confusion(y_true, y_pred, num_classes)))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) test-sentence indices drawn with replacement: one set of draws for every model."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def _resampled(y_true: np.ndarray, y_pred: np.ndarray, draws: np.ndarray, num_classes: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and macro-F1 on each draw: (resamples,) each."""
    cells = y_true[draws] * num_classes + y_pred[draws]  # (resamples, n)
    offsets = np.arange(len(draws))[:, None] * num_classes ** 2
    counts = np.bincount((cells + offsets).ravel(), minlength=len(draws) * num_classes ** 2)
    counts = counts.reshape(len(draws), num_classes, num_classes)
    return np.trace(counts, axis1=1, axis2=2) / draws.shape[1], _macro_f1_from_counts(counts)


def score(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, draws: np.ndarray) -> dict[str, object]:
    """Accuracy and macro-F1 with bootstrap 95 % intervals ([low, high])."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    boot_accuracy, boot_f1 = _resampled(y_true, y_pred, draws, num_classes)
    return {
        "accuracy": accuracy(y_true, y_pred),
        "accuracy_ci95": np.percentile(boot_accuracy, [2.5, 97.5]).tolist(),
        "macro_f1": macro_f1(y_true, y_pred, num_classes),
        "macro_f1_ci95": np.percentile(boot_f1, [2.5, 97.5]).tolist(),
    }


def paired_difference(y_true: np.ndarray, predictions: Mapping[str, np.ndarray], better: str, worse: str,
                      num_classes: int, draws: np.ndarray) -> dict[str, object]:
    """Macro-F1 of `better` minus that of `worse`, with the 95 % interval of the difference over the
    same draws, and the share of draws in which `better` does not win."""
    y_true = np.asarray(y_true)
    f1_better = _resampled(y_true, np.asarray(predictions[better]), draws, num_classes)[1]
    f1_worse = _resampled(y_true, np.asarray(predictions[worse]), draws, num_classes)[1]
    difference = f1_better - f1_worse
    return {
        "macro_f1_difference": macro_f1(y_true, predictions[better], num_classes)
        - macro_f1(y_true, predictions[worse], num_classes),
        "ci95": np.percentile(difference, [2.5, 97.5]).tolist(),
        "share_of_draws_not_better": float(np.mean(difference <= 0)),
    }
