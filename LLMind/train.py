"""Stage 5, LLMind: fine-tune a pretrained BERT (MiniLM, 22.7M parameters) to classify the sentiment of
New York Times editorial snippets, offline, and measure what the pretrained weights buy.

    python LLMind/train.py                          # NYT, 3 classes; a few minutes on 2 CPU cores
    python LLMind/train.py --trainable-layers 6     # fine-tune every layer (about 3x slower per step)
    python LLMind/train.py --csv my_sentences.csv   # your own: columns text,label (--text-column ...)
    python LLMind/train.py --csv Sentences_AllAgree.txt   # Financial PhraseBank (sentence@label)
    python LLMind/train.py --preset tiny            # seconds: checks the plumbing, not the model
    python LLMind/predict.py "The plan is a disgrace."     # classify with the fine-tuned model

Every model sees the same train / validation / test split (stratified, fixed by --seed) and is scored
on the same test sentences with bootstrap 95 % intervals: the majority class, TF-IDF + logistic
regression, the frozen MiniLM's sentence vectors + logistic regression, the fine-tuned MiniLM, and the
same network from random initialisation at the same budget. Settings are chosen on validation only. A
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
from dataclasses import dataclass
from typing import Any, ClassVar

from common.config import option, parse_config, run_cli
from common.paths import output_dir
from LLMind.prepare_data import LABELS, VADER_SETS, LabelledText

STAGE = "LLMind"


@dataclass
class TrainConfig:
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"max_sentences": 240, "max_tokens": 32, "epochs": 1, "batch_size": 16, "curve_sizes": "40",
                 "curve_min_steps": 2, "ood_sentences": 30, "bootstrap": 50},
    }
    data: str = option("nyt", "the VADER set to train on (the other three are the out-of-domain tests)",
                       choices=list(VADER_SETS))
    csv: str = option("", "your labelled sentences instead: a .csv with a header, or a Financial "
                      "PhraseBank .txt (one sentence@label per line)")
    text_column: str = option("text", "--csv: the column holding the sentence")
    label_column: str = option("label", "--csv: the column holding its class")
    max_sentences: int = option(0, "use a stratified subset of this many sentences (0: all)")
    test_fraction: float = option(0.2, "share of sentences held out for the test (NYT: 1,038)")
    val_fraction: float = option(0.1, "share held out to choose epochs and settings (NYT: 519)")
    max_tokens: int = option(128, "WordPiece pieces kept per sentence: the longest NYT snippet has 112")
    trainable_layers: int = option(2, "top layers fine-tuned (of 6): the frozen ones run once per sentence, "
                                   "so a step costs a third of a full fine-tune's; 6 = all, embeddings "
                                   "included")
    epochs: int = option(2, "passes over the training sentences; validation picks the best one (a third "
                         "epoch moved validation macro-F1 by 0.002 and cost a minute)")
    batch_size: int = option(32, "sentences per step")
    learning_rate: float = option(3e-4, "peak AdamW rate of the fine-tuned layers (chosen on validation "
                                  "among 3e-5, 1e-4, 3e-4: LLMind/sweep.py)")
    head_learning_rate: float = option(1e-3, "peak rate of the new linear head: it starts from random, so it "
                                       "moves faster than the pretrained layers")
    weight_decay: float = option(0.01, "AdamW decay of weight matrices (BERT's value)")
    warmup_fraction: float = option(0.1, "share of steps with a linear warm-up, then linear decay to zero")
    head_dropout: float = option(0.1, "dropout before the linear head (BERT's rate)")
    scratch_learning_rate: float = option(3e-4, "peak rate of the from-scratch network (3e-4 and 1e-3 tie on "
                                          "validation: at this budget both end at the majority class)")
    scratch_budget: str = option("compute", "what the from-scratch network gets: 'steps' = the fine-tune's "
                                 "steps over all 6 layers (3x its compute), 'compute' = the same arithmetic, "
                                 "so trainable_layers/6 of the steps", choices=["compute", "steps"])
    curve_sizes: str = option("100,300,1000", "learning curve: training sentences (comma-separated), "
                              "plus all")
    curve_min_steps: int = option(40, "learning curve: at least this many steps however few the sentences")
    ood_sentences: int = option(1000, "sentences drawn from each out-of-domain set (0: all 18,513, about "
                                "3 minutes more)")
    bootstrap: int = option(1000, "bootstrap draws of the test sentences for the 95 % intervals")
    seed: int = option(0, "splits, initialisation, dropout and batch order")
    threads: int = option(0, "PyTorch CPU threads (0: one per physical core)")
    out: str = option(str(output_dir(STAGE)), "folder for metrics, plots, predictions and weights")
    preset: str = option("", "named settings resolved first (tiny: seconds, checks the plumbing)")

    def validate(self) -> None:
        held_out = self.test_fraction + self.val_fraction
        if not (0 < self.test_fraction < 1 and 0 < self.val_fraction < 1 and held_out < 1):
            raise ValueError(f"--test-fraction {self.test_fraction} and --val-fraction {self.val_fraction} "
                             "must be in (0, 1) and leave sentences to train on")
        if not 1 <= self.trainable_layers <= 6:
            raise ValueError(f"--trainable-layers must be 1..6 (MiniLM has 6 layers), got "
                             f"{self.trainable_layers}")
        for name in ("epochs", "batch_size", "bootstrap"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_tokens < 3 or self.max_tokens > 512:
            raise ValueError(f"--max-tokens must be 3..512 (BERT has 512 positions), got {self.max_tokens}")
        if self.max_sentences < 0 or self.ood_sentences < 0:
            raise ValueError("--max-sentences and --ood-sentences must be 0 (all) or more")
        self.curve()

    def curve(self) -> list[int]:
        try:
            sizes = sorted({int(size) for size in self.curve_sizes.split(",") if size.strip()})
        except ValueError:
            raise ValueError(f"--curve-sizes takes comma-separated counts such as 100,300,1000, "
                             f"got {self.curve_sizes!r}") from None
        if any(size < 2 for size in sizes):
            raise ValueError(f"--curve-sizes must be at least 2 sentences each, got {self.curve_sizes!r}")
        return sizes


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

    with runtime.torch_settings(config.threads) as threads, run_transaction(config.out) as staging:
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
