"""LLMind's options: what `train.py` reads, `experiment.py` runs and `sweep.py` varies, each with the
reason for its default. (`python LLMind/train.py --help` lists them.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from common.config import finite, option, require, require_at_least, require_learning_rate, require_types
from common.paths import output_dir
from LLMind.prepare_data import VADER_SETS

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
                         "epoch gained next to nothing on validation: LLMind/README.md)")
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
    ood_sentences: int = option(1000, "sentences drawn from each out-of-domain set (0: all 18,513, "
                                "which takes minutes longer)")
    bootstrap: int = option(1000, "bootstrap draws of the test sentences for the 95 % intervals")
    seed: int = option(0, "splits, initialisation, dropout and batch order")
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
        require_at_least(self, 1, "epochs", "batch_size", "bootstrap")
        require(self, 3 <= self.max_tokens <= 512, "max_tokens", "3..512 (BERT has 512 positions)")
        require(self, self.max_sentences >= 0, "max_sentences", "0 (all) or more")
        require(self, self.ood_sentences >= 0, "ood_sentences", "0 (all) or more")
        require_learning_rate(self, "learning_rate", "head_learning_rate", "scratch_learning_rate")
        require(self, finite(self.weight_decay) >= 0, "weight_decay", "0 or more, e.g. 0.01")
        require(self, 0 <= finite(self.warmup_fraction) < 1, "warmup_fraction", "in [0, 1), e.g. 0.1")
        require(self, 0 <= finite(self.head_dropout) < 1, "head_dropout", "in [0, 1), e.g. 0.1")
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
