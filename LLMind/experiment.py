"""One run of Stage 5: split once, then score every model on the same sentences (train.py configures it).

    majority / TF-IDF + LR / frozen + LR / fine-tuned / from scratch   on the test split, with intervals
    the same at 100, 300, 1,000 training sentences                      (learning curve)
    the NYT-trained models on tweets, movie and product reviews         (out of domain)
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from common.runs import write_json, write_text
from LLMind import baselines, plots, pretrained
from LLMind.finetune import TrainResult, TrainSettings, frozen_pass, predict_logits, tokenize, train_classifier
from LLMind.look_inside import attention_map, tokenizer_table
from LLMind.prepare_data import LabelledText
from LLMind.scoring import bootstrap_indices, confusion, macro_f1, paired_difference, score

if TYPE_CHECKING:
    from LLMind.train import TrainConfig

MODELS = ("majority", "tfidf_logreg", "frozen_logreg", "fine_tuned", "from_scratch")
MIN_PER_CLASS = 5  # a stratified three-way split needs a few sentences of every class


def stratified_split(labels: np.ndarray, test_fraction: float, val_fraction: float, seed: int
                     ) -> dict[str, np.ndarray]:
    """Indices of train / validation / test, each with the classes in the same proportions."""
    counts = np.bincount(labels)
    if counts.min() < MIN_PER_CLASS:
        raise ValueError(f"a class has only {counts.min()} sentence(s): a stratified train/validation/test split "
                         f"needs at least {MIN_PER_CLASS} of each (counts per class: {counts.tolist()})")
    indices = np.arange(len(labels))
    rest, test = train_test_split(indices, test_size=test_fraction, stratify=labels, random_state=seed)
    train, val = train_test_split(rest, test_size=val_fraction / (1 - test_fraction), stratify=labels[rest],
                                  random_state=seed)
    return {"train": np.sort(train), "validation": np.sort(val), "test": np.sort(test)}


def stratified_subset(indices: np.ndarray, labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """`size` of `indices`, with the classes of `labels[indices]` in proportion."""
    if size >= len(indices):
        return indices
    chosen, _ = train_test_split(indices, train_size=size, stratify=labels[indices], random_state=seed)
    return np.sort(chosen)


class Experiment:
    def __init__(self, config: TrainConfig, data: LabelledText, out_of_domain: dict[str, LabelledText],
                 classes: list[str], out: Path) -> None:
        self.config, self.classes, self.out = config, classes, out
        index = {name: i for i, name in enumerate(classes)}
        labels = np.array([index[label] for label in data.labels])
        kept = np.arange(len(labels))
        if config.max_sentences:
            kept = stratified_subset(kept, labels, config.max_sentences, config.seed)
        self.texts, self.labels = [data.texts[i] for i in kept], labels[kept]
        self.splits = stratified_split(self.labels, config.test_fraction, config.val_fraction, config.seed)
        rng = np.random.default_rng(config.seed)
        self.out_of_domain: dict[str, tuple[list[str], np.ndarray]] = {}
        for name, other in out_of_domain.items():
            draw = np.arange(len(other))
            if config.ood_sentences and config.ood_sentences < len(other):
                draw = np.sort(rng.choice(len(other), config.ood_sentences, replace=False))
            self.out_of_domain[name] = ([other.texts[i] for i in draw],
                                        np.array([index[other.labels[i]] for i in draw]))
        self.num_classes = len(classes)
        self.predictions: dict[str, np.ndarray] = {}
        self.histories: dict[str, list[dict[str, float]]] = {}
        self.figures: dict[str, Any] = {}

    def log(self, message: str) -> None:
        print(message, flush=True)

    def settings(self, start_layer: int, learning_rate: float, head_learning_rate: float, min_steps: int = 0,
                 max_steps: int = 0) -> TrainSettings:
        c = self.config
        return TrainSettings(start_layer=start_layer, epochs=c.epochs, batch_size=c.batch_size,
                             learning_rate=learning_rate, head_learning_rate=head_learning_rate,
                             weight_decay=c.weight_decay, warmup_fraction=c.warmup_fraction, min_steps=min_steps,
                             seed=c.seed, max_steps=max_steps)

    def run(self) -> dict[str, Any]:
        c, split = self.config, self.splits
        self.log(f"{len(self.texts):,} sentences -> train {len(split['train']):,}, validation "
                 f"{len(split['validation']):,}, test {len(split['test']):,}; classes {self.classes}")
        folder = pretrained.model_dir()
        tokenizer = pretrained.load_tokenizer(folder)
        model = pretrained.pretrained_classifier(self.num_classes, c.head_dropout, folder, seed=c.seed)
        self.start_layer = model.bert.config.num_layers - c.trainable_layers
        # One pass of the pretrained network over every sentence (task and out-of-domain alike).
        ood_texts = [text for texts, _ in self.out_of_domain.values() for text in texts]
        ids = tokenize(tokenizer, self.texts + ood_texts, c.max_tokens)
        self.log(f"frozen pass over {len(ids):,} sentences (layers below {self.start_layer} run once) ...")
        items, vectors = frozen_pass(model, ids, self.start_layer)
        task_items, task_vectors = items[: len(self.texts)], vectors[: len(self.texts)]
        ood_items, ood_vectors = items[len(self.texts):], vectors[len(self.texts):]
        self.ids = ids[: len(self.texts)]

        # The attention sentence: the first test sentence of 12-24 pieces (any, when none is).
        test_ids = [self.ids[i] for i in split["test"]]
        pick = next((i for i, sentence in enumerate(test_ids) if 12 <= len(sentence) <= 24), 0)
        self.attention_ids = test_ids[pick]
        self.attention_tokens = tokenizer.convert_ids_to_tokens(self.attention_ids.tolist())
        last = model.bert.config.num_layers - 1
        attention = {"pretrained (before fine-tuning)": attention_map(model, self.attention_ids, last)}

        y = {name: self.labels[part] for name, part in split.items()}
        texts = {name: [self.texts[i] for i in part] for name, part in split.items()}
        vec = {name: task_vectors[part] for name, part in split.items()}

        # Classical baselines and the frozen features, tuned on validation.
        majority = baselines.majority_class(y["train"])
        tfidf = baselines.tfidf_logreg(texts["train"], y["train"], texts["validation"], y["validation"],
                                       self.num_classes, c.seed)
        frozen = baselines.frozen_logreg(vec["train"], y["train"], vec["validation"], y["validation"],
                                         self.num_classes, c.seed)
        self.log(f"TF-IDF + LR {tfidf.chosen}, frozen + LR {frozen.chosen} (chosen on validation)")
        self.predictions = {"majority": np.full(len(y["test"]), majority),
                            "tfidf_logreg": tfidf.predict(texts["test"]),
                            "frozen_logreg": frozen.predict(vec["test"])}

        # The stage's model: fine-tune the top layers on the frozen layers' outputs.
        pick_items = {name: [task_items[i] for i in part] for name, part in split.items()}
        self.log(f"fine-tuning the top {c.trainable_layers} layer(s) and the head ...")
        tuned = train_classifier(model, pick_items["train"], y["train"], pick_items["validation"],
                                 y["validation"], self.settings(self.start_layer, c.learning_rate,
                                                                c.head_learning_rate))
        self.model, self.tuned = model, tuned
        self.predictions["fine_tuned"] = predict_logits(model, pick_items["test"], self.start_layer).argmax(1)
        attention[f"fine-tuned (top {c.trainable_layers} layers)"] = attention_map(model, self.attention_ids, last)
        self.attention = attention

        # The same network from random initialisation, at the budget --scratch-budget names.
        scratch_steps = tuned.steps
        if c.scratch_budget == "compute":
            scratch_steps = math.ceil(tuned.steps * c.trainable_layers / model.bert.config.num_layers)
        self.log(f"the same network from scratch: {scratch_steps} steps over all layers ...")
        scratch = pretrained.random_classifier(self.num_classes, c.head_dropout, folder, seed=c.seed)
        train_ids = {name: [self.ids[i] for i in part] for name, part in split.items()}
        scratch_result = train_classifier(scratch, train_ids["train"], y["train"], train_ids["validation"],
                                          y["validation"], self.settings(0, c.scratch_learning_rate,
                                                                         c.scratch_learning_rate,
                                                                         max_steps=scratch_steps))
        self.predictions["from_scratch"] = predict_logits(scratch, train_ids["test"], 0).argmax(1)
        del scratch
        self.histories = {"fine_tuned": tuned.history, "from_scratch": scratch_result.history}

        draws = bootstrap_indices(len(y["test"]), c.bootstrap, c.seed)
        metrics: dict[str, Any] = {
            "task": {"data": c.csv or c.data, "classes": self.classes,
                     "sentences": {name: len(part) for name, part in split.items()},
                     "test_class_counts": np.bincount(y["test"], minlength=self.num_classes).tolist()},
        }
        for name in MODELS:
            metrics[name] = score(y["test"], self.predictions[name], self.num_classes, draws)
        metrics["tfidf_logreg"]["chosen_on_validation"] = tfidf.chosen
        metrics["frozen_logreg"]["chosen_on_validation"] = frozen.chosen
        metrics["fine_tuned"].update(self._training_summary(tuned, c.trainable_layers))
        metrics["from_scratch"].update(self._training_summary(scratch_result, model.bert.config.num_layers))
        metrics["from_scratch"]["budget"] = c.scratch_budget
        metrics["fine_tuned_vs_tfidf"] = paired_difference(y["test"], self.predictions, "fine_tuned",
                                                           "tfidf_logreg", self.num_classes, draws)
        metrics["fine_tuned_vs_from_scratch"] = paired_difference(y["test"], self.predictions, "fine_tuned",
                                                                  "from_scratch", self.num_classes, draws)
        metrics["confusion"] = {name: confusion(y["test"], self.predictions[name], self.num_classes).tolist()
                                for name in ("tfidf_logreg", "fine_tuned")}
        metrics["learning_curve"] = self.learning_curve(folder, task_items, task_vectors, y, texts, pick_items,
                                                        vec, metrics)
        metrics["out_of_domain"] = self.score_out_of_domain(
            ood_items, ood_vectors, majority, tfidf, frozen, c.seed)
        self.token_table = tokenizer_table(self.texts[split["test"][pick]],
                                           self.attention_tokens, texts["train"])
        return metrics

    def _training_summary(self, result: TrainResult, layers: int) -> dict[str, Any]:
        return {"trained_layers": layers, "steps": result.steps, "best_epoch": result.best_epoch,
                "best_val_macro_f1": result.best_val_macro_f1, "train_seconds": result.seconds}

    def learning_curve(self, folder: Path, task_items: list[torch.Tensor], task_vectors: np.ndarray,
                       y: dict[str, np.ndarray], texts: dict[str, list[str]], items: dict[str, list[torch.Tensor]],
                       vectors: dict[str, np.ndarray], metrics: dict[str, Any]) -> dict[str, Any]:
        """Test macro-F1 of TF-IDF, frozen and fine-tuned at each training size (same validation and test)."""
        c = self.config
        sizes = [size for size in c.curve() if size < len(y["train"])]
        curve: dict[str, Any] = {"sizes": [*sizes, len(y["train"])], "tfidf_logreg": [], "frozen_logreg": [],
                                 "fine_tuned": [], "fine_tuned_steps": []}
        for size in sizes:
            chosen = stratified_subset(self.splits["train"], self.labels, size, c.seed)
            sub_y = self.labels[chosen]
            self.log(f"learning curve: {size} training sentences ...")
            tfidf = baselines.tfidf_logreg([self.texts[i] for i in chosen], sub_y, texts["validation"],
                                           y["validation"], self.num_classes, c.seed)
            frozen = baselines.frozen_logreg(task_vectors[chosen], sub_y, vectors["validation"], y["validation"],
                                             self.num_classes, c.seed)
            model = pretrained.pretrained_classifier(self.num_classes, c.head_dropout, folder, verify=False,
                                                     seed=c.seed)
            result = train_classifier(model, [task_items[i] for i in chosen], sub_y, items["validation"],
                                      y["validation"], self.settings(self.start_layer, c.learning_rate,
                                                                     c.head_learning_rate, c.curve_min_steps),
                                      log=lambda _: None)
            tuned = predict_logits(model, items["test"], self.start_layer).argmax(1)
            for name, predicted in (("tfidf_logreg", tfidf.predict(texts["test"])),
                                    ("frozen_logreg", frozen.predict(vectors["test"])), ("fine_tuned", tuned)):
                curve[name].append(macro_f1(y["test"], predicted, self.num_classes))
            curve["fine_tuned_steps"].append(result.steps)
        for name in ("tfidf_logreg", "frozen_logreg", "fine_tuned"):
            curve[name].append(metrics[name]["macro_f1"])
        curve["fine_tuned_steps"].append(self.tuned.steps)
        curve["floor_majority"] = metrics["majority"]["macro_f1"]
        return curve

    def score_out_of_domain(self, items: list[torch.Tensor], vectors: np.ndarray, majority: int,
                            tfidf: baselines.Fitted, frozen: baselines.Fitted, seed: int) -> dict[str, Any]:
        """The task's models, unchanged, on each other set (its own majority class is not known to them)."""
        results: dict[str, Any] = {}
        start = 0
        for name, (texts, labels) in self.out_of_domain.items():
            part = slice(start, start + len(texts))
            start += len(texts)
            draws = bootstrap_indices(len(labels), self.config.bootstrap, seed)
            predicted = {
                "majority": np.full(len(labels), majority), "tfidf_logreg": tfidf.predict(texts),
                "frozen_logreg": frozen.predict(vectors[part]),
                "fine_tuned": predict_logits(self.model, items[part], self.start_layer).argmax(1),
            }
            results[name] = {"sentences": len(labels),
                             "class_counts": np.bincount(labels, minlength=self.num_classes).tolist(),
                             **{model: score(labels, p, self.num_classes, draws) for model, p in predicted.items()}}
            self.log(f"out of domain, {name}: " + ", ".join(
                f"{model} {results[name][model]['macro_f1']:.3f}" for model in predicted))
        return results

    def write(self, metrics: dict[str, Any]) -> None:
        """Every file of the run, into the staging folder."""
        from safetensors.torch import save_file

        c, out = self.config, self.out
        write_json(out / "config.json", asdict(c))
        write_json(out / "metrics.json", metrics)
        write_json(out / "history.json", self.histories)
        write_text(out / "tokens.md", self.token_table)
        pretrained.save_fine_tuned(self.model, out / pretrained.FINE_TUNED_FILE, self.classes, self.start_layer,
                                   c.max_tokens, c.head_dropout)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["text", "label", *MODELS])
        for row, i in enumerate(self.splits["test"]):
            writer.writerow([self.texts[i], self.classes[self.labels[i]],
                             *(self.classes[self.predictions[name][row]] for name in MODELS)])
        write_text(out / "predictions.csv", buffer.getvalue())
        title = f"{c.csv or c.data}: test split ({len(self.splits['test']):,} sentences)"
        plots.plot_confusions({name: np.array(m) for name, m in metrics["confusion"].items()}, self.classes,
                              out / "confusion.png", title)
        curve = metrics["learning_curve"]
        plots.plot_learning_curve(curve["sizes"], {name: curve[name] for name in
                                                   ("tfidf_logreg", "frozen_logreg", "fine_tuned")},
                                  curve["floor_majority"], out / "learning_curve.png",
                                  f"{c.csv or c.data}: what pretraining buys at each data size")
        plots.plot_attention(self.attention_tokens, self.attention, out / "attention.png",
                             "last layer's attention, mean over 12 heads")

