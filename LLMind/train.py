"""Stage 5, LLMind: fine-tune a pretrained BERT (MiniLM, 22.7M parameters) to classify the sentiment of
New York Times editorial snippets, offline, and measure what the pretrained weights buy.

    python LLMind/train.py                          # NYT, 3 classes; a few minutes on 2 CPU cores
    python LLMind/train.py --trainable-layers 6     # fine-tune every layer (about 3x slower per step)
    python LLMind/train.py --csv my_sentences.csv   # your own: columns text,label (--text-column ...)
    python LLMind/train.py --csv Sentences_AllAgree.txt   # Financial PhraseBank (sentence@label)
    python LLMind/train.py --preset tiny            # seconds: checks the plumbing, not the model
    python LLMind/predict.py "The plan is a disgrace."     # classify with the fine-tuned model

Repeated sentences are dropped first (--no-deduplicate keeps them), so that none is in two splits.
Every model sees the same train / validation / test split (stratified, fixed by --seed) and is scored
on the same test sentences with bootstrap 95 % intervals: the majority class, TF-IDF + logistic
regression, the frozen MiniLM's sentence vectors + logistic regression, the fine-tuned MiniLM, the
same network from random initialisation at the same budget, and two networks from scratch sized for
the data (a small BERT, a bag of WordPieces) trained until validation stops improving. Settings are
chosen on validation only. A
learning curve repeats the comparison on 100 / 300 / 1,000 training sentences, and the NYT-trained
models are scored on tweets, movie reviews and product reviews (out of domain).

The run folder receives config.json, metrics.json, predictions.csv, history.json, tokens.md,
confusion.png, learning_curve.png, attention.png and fine_tuned.safetensors (the weights training
changed; predict.py adds the pretrained rest). A run replaces --out only when it finishes.
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import time
from typing import Any

from common.config import parse_config, run_cli
from LLMind.config import TrainConfig
from LLMind.prepare_data import LABELS, LabelledText


def load_task(config: TrainConfig) -> tuple[LabelledText, dict[str, LabelledText], list[str]]:
    """The sentences to train and test on, the out-of-domain sets, and the class names in id order."""
    from LLMind.prepare_data import load_vader_sets, read_labelled_csv

    if config.csv:
        data = read_labelled_csv(config.csv, config.text_column, config.label_column)
        classes = sorted(set(data.labels))
        if len(classes) < 2:
            raise ValueError(f"{config.csv} has one class only ({classes[0]!r}): a classifier needs two or "
                             "more")
        # Sentences labelled with the same three classes can be tested on all four VADER sets.
        out_of_domain = {}
        if set(classes) == set(LABELS):
            classes = list(LABELS)
            try:
                out_of_domain = load_vader_sets()
            except FileNotFoundError as missing:
                print(f"no out-of-domain tests: {missing}")
        return data, out_of_domain, classes
    sets = load_vader_sets()
    return sets.pop(config.data), sets, list(LABELS)


def run(config: TrainConfig) -> dict[str, Any]:
    """Train and score every model as `config` says; returns metrics.json's content."""
    config.validate()
    data, out_of_domain, classes = load_task(config)  # bad input fails here, before any model loads
    from LLMind import pretrained

    pretrained.model_dir()  # a missing package fails here, with what to install
    from common.runs import run_transaction
    from LLMind.experiment import Experiment

    with (runtime.torch_settings(config.threads) as threads,
          run_transaction(config.out, stage="LLMind") as staging):
        started = time.perf_counter()
        experiment = Experiment(config, data, out_of_domain, classes, staging)
        metrics = experiment.run()
        metrics["run"] = {
            "seconds": time.perf_counter() - started,
            "peak_rss_mib": runtime.peak_rss_mb(),
            "threads": threads, "cpu": runtime.cpu_model(),
        }
        experiment.write(metrics)
    run_info = metrics["run"]
    print(f"done in {run_info['seconds']:.0f} s, peak memory {run_info['peak_rss_mib']:.0f} MiB; results in "
          f"{config.out}")
    return metrics


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run(parse_config(TrainConfig, argv, description=__doc__))


if __name__ == "__main__":
    run_cli(main)
