"""LLMind's options: what `train.py` reads, `experiment.py` runs and `sweep.py` varies, each with the
reason for its default. (`python LLMind/train.py --help` lists them.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from common.config import (
    finite,
    flag,
    option,
    require,
    require_at_least,
    require_learning_rate,
    require_types,
)
from common.paths import output_dir
from LLMind.prepare_data import VADER_SETS

STAGE = "LLMind"


@dataclass
class TrainConfig:
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "tiny": {"max_sentences": 240, "max_tokens": 32, "epochs": 1, "batch_size": 16, "curve_sizes": "40",
                 "curve_repeats": 2, "curve_min_steps": 2, "ood_sentences": 30, "bootstrap": 50,
                 "scratch_max_epochs": 2, "scratch_patience": 1, "small_rates": "1e-3",
                 "bag_rates": "1e-3,3e-3"},
    }
    data: str = option("nyt", "the VADER set to train on (the other three are the out-of-domain tests)",
                       choices=list(VADER_SETS))
    csv: str = option("", "your labelled sentences instead: a .csv with a header, or a Financial "
                      "PhraseBank .txt (one sentence@label per line)")
    text_column: str = option("text", "--csv: the column holding the sentence")
    label_column: str = option("label", "--csv: the column holding its class")
    deduplicate: bool = option(True, "keep one sentence per normalised text (case folded, whitespace "
                               "collapsed) before splitting, and drop repeats whose labels disagree, so no "
                               "sentence is in two splits (NYT: 79 of 5,190 dropped)")
    max_sentences: int = option(0, "use a stratified subset of this many sentences (0: all)")
    test_fraction: float = option(0.2, "share of sentences held out for the test (NYT: 1,038)")
    val_fraction: float = option(0.1, "share held out to choose epochs and settings (NYT: 519)")
    max_tokens: int = option(128, "WordPiece pieces kept per sentence: the longest NYT snippet has 112")
    trainable_layers: int = option(2, "top layers fine-tuned (of 6): the frozen ones run once per sentence, "
                                   "so a step costs a third of a full fine-tune's; 6 = all, embeddings "
                                   "included")
    epochs: int = option(2, "passes over the training sentences; validation picks the best one (a third "
                         "epoch gained next to nothing on validation: LLMind/README.md)")
    batch_size: int = option(32, "sentences per step")
    learning_rate: float = option(3e-4, "peak AdamW rate of the fine-tuned layers (chosen on validation "
                                  "among 3e-5, 1e-4, 3e-4: LLMind/sweep.py)")
    head_learning_rate: float = option(1e-3, "peak rate of the new linear head: it starts from random, so it "
                                       "moves faster than the pretrained layers")
    weight_decay: float = option(0.01, "AdamW decay of weight matrices (BERT's value)")
    warmup_fraction: float = option(0.1, "share of steps with a linear warm-up, then linear decay to zero")
    head_dropout: float = option(0.1, "dropout before the linear head (BERT's rate)")
    scratch_learning_rate: float = option(3e-4, "peak rate of the same network from scratch (3e-4 and 1e-3 "
                                          "tie on validation at the 'compute' budget)")
    scratch_budget: str = option("compute", "what the same network from scratch gets: 'compute' = the "
                                 "fine-tune's arithmetic (trainable_layers/6 of its steps), 'steps' = its "
                                 "steps over all 6 layers (3x the compute), 'converge' = epochs until "
                                 "validation stops improving (up to an hour on 2 CPU cores)",
                                 choices=["compute", "steps", "converge"])
    scratch_max_epochs: int = option(30, "from-scratch networks trained to convergence stop after this many "
                                     "epochs at the latest (their rate decays to zero over them)")
    scratch_patience: int = option(3, "... or once this many epochs in a row did not beat the best "
                                   "validation macro-F1; the best epoch is kept")
    small_rates: str = option("3e-4,1e-3", "the small from-scratch BERT (2 layers x 128): rates tried, "
                              "validation picks one (empty: skip it)")
    bag_rates: str = option("3e-4,1e-3,3e-3", "the from-scratch bag of WordPieces: rates tried, validation "
                            "picks one (empty: skip it)")
    curve_sizes: str = option("100,300,1000", "learning curve: training sentences (comma-separated), "
                              "plus all")
    curve_repeats: int = option(3, "learning curve: subsets drawn per size, each with a validation subset of "
                                "matching size to choose its settings on (the mean is plotted, the spread "
                                "drawn)")
    curve_min_steps: int = option(40, "learning curve: at least this many steps however few the sentences")
    ood_sentences: int = option(1000, "sentences drawn from each out-of-domain set (0: all 18,513, "
                                "which takes minutes longer)")
    bootstrap: int = option(1000, "bootstrap draws of the test sentences for the 95 % intervals")
    seed: int = option(0, "splits, subsets and bootstrap draws (and training, unless --train-seed)")
    train_seed: int = option(-1, "initialisation, dropout and batch order of every network (-1: --seed); "
                             "vary it with the split fixed to see how much a score owes to luck "
                             "(benchmarks/bench_llmind.py)")
    threads: int = option(0, "PyTorch CPU threads (0: one per physical core)")
    out: str = option(str(output_dir(STAGE)), "folder for metrics, plots, predictions and weights")
    preset: str = option("", "named settings resolved first (tiny: seconds, checks the plumbing)")

    def validate(self) -> None:
        require_types(self)
        require(self, 0 < finite(self.test_fraction) < 1, "test_fraction", "in (0, 1), e.g. 0.2")
        held_out = self.test_fraction + self.val_fraction
        require(self, 0 < finite(self.val_fraction) < 1 and held_out < 1, "val_fraction",
                f"in (0, 1) and leave sentences to train on after --test-fraction {self.test_fraction}")
        require(self, 1 <= self.trainable_layers <= 6, "trainable_layers", "1..6 (MiniLM has 6 layers)")
        require_at_least(self, 1, "epochs", "batch_size", "bootstrap", "scratch_max_epochs", "curve_repeats")
        require_at_least(self, 0, "scratch_patience")
        require(self, 3 <= self.max_tokens <= 512, "max_tokens", "3..512 (BERT has 512 positions)")
        require(self, self.max_sentences >= 0, "max_sentences", "0 (all) or more")
        require(self, self.ood_sentences >= 0, "ood_sentences", "0 (all) or more")
        require_learning_rate(self, "learning_rate", "head_learning_rate", "scratch_learning_rate")
        require(self, finite(self.weight_decay) >= 0, "weight_decay", "0 or more, e.g. 0.01")
        require(self, 0 <= finite(self.warmup_fraction) < 1, "warmup_fraction", "in [0, 1), e.g. 0.1")
        require(self, 0 <= finite(self.head_dropout) < 1, "head_dropout", "in [0, 1), e.g. 0.1")
        self.curve()
        self.rates("small_rates")
        self.rates("bag_rates")

    def training_seed(self) -> int:
        """The seed of every network's initialisation, dropout and batch order."""
        return self.seed if self.train_seed < 0 else self.train_seed

    def rates(self, name: str) -> list[float]:
        """The learning rates option `name` lists (comma-separated; empty: none)."""
        text = getattr(self, name)
        try:
            rates = [float(rate) for rate in text.split(",") if rate.strip()]
        except ValueError:
            raise ValueError(f"{flag(name)} takes comma-separated rates such as 3e-4,1e-3, "
                             f"got {text!r}") from None
        if not all(0 < rate <= 1 for rate in rates):
            raise ValueError(f"{flag(name)} rates must be positive and at most 1, got {text!r}")
        return rates

    def curve(self) -> list[int]:
        try:
            sizes = sorted({int(size) for size in self.curve_sizes.split(",") if size.strip()})
        except ValueError:
            raise ValueError(f"--curve-sizes takes comma-separated counts such as 100,300,1000, "
                             f"got {self.curve_sizes!r}") from None
        if any(size < 2 for size in sizes):
            raise ValueError(f"--curve-sizes must be at least 2 sentences each, got {self.curve_sizes!r}")
        return sizes
