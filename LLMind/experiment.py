"""One run of Stage 5: split once, then score every model on the same sentences (train.py configures it).

    repeated sentences dropped, then one stratified train / validation / test split
    majority / TF-IDF + LR / frozen + LR / fine-tuned / from scratch   on the test split, with intervals
    (from scratch: the same network, a small BERT and a bag of WordPieces, each tuned on validation)
    TF-IDF, frozen and fine-tuned at 100, 300, 1,000 sentences          (the learning curve)
    the models trained on NYT, on tweets, movie and product reviews     (out of domain)
"""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from common import runtime
from common.runs import write_json, write_text
from LLMind import baselines, plots, pretrained, scratch
from LLMind.config import TrainConfig
from LLMind.finetune import (
    TrainResult,
    TrainSettings,
    frozen_pass,
    predict_logits,
    tokenize,
    train_classifier,
)
from LLMind.look_inside import attention_map, tokenizer_table
from LLMind.prepare_data import LabelledText, deduplicate
from LLMind.scoring import bootstrap_indices, confusion, macro_f1, paired_difference, score

MODELS = ("majority", "tfidf_logreg", "frozen_logreg", "fine_tuned", "from_scratch")
# The small networks trained from scratch, each skipped when its rates option is empty
SCRATCH_RIVALS = {"small_scratch": "small_rates", "bag_scratch": "bag_rates"}
SPLITS = ("train", "validation", "test")
MIN_PER_CLASS = 5  # a stratified three-way split needs a few sentences of every class


def stratified_split(labels: np.ndarray, test_fraction: float, val_fraction: float, seed: int
                     ) -> dict[str, np.ndarray]:
    """Indices of train / validation / test, each with the classes in the same proportions."""
    counts = np.bincount(labels)
    if counts.min() < MIN_PER_CLASS:
        raise ValueError(f"a class has only {counts.min()} sentence(s): a stratified train/validation/test "
                         f"split needs at least {MIN_PER_CLASS} of each (per class: {counts.tolist()})")
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
    """Holds the split and what every model needs of it; `run()` scores them, `write()` saves the run."""

    def __init__(self, config: TrainConfig, data: LabelledText, out_of_domain: dict[str, LabelledText],
                 classes: list[str], out: Path) -> None:
        self.config, self.classes, self.out, self.num_classes = config, classes, out, len(classes)
        index = {name: i for i, name in enumerate(classes)}
        self.deduplication: dict[str, int] | None = None
        if config.deduplicate:  # before the split, so that no sentence is in two splits
            data, self.deduplication = deduplicate(data)
        labels = np.array([index[label] for label in data.labels])
        kept = np.arange(len(labels))
        if config.max_sentences:
            kept = stratified_subset(kept, labels, config.max_sentences, config.seed)
        self.texts, self.labels = [data.texts[i] for i in kept], labels[kept]
        self.splits = stratified_split(self.labels, config.test_fraction, config.val_fraction, config.seed)
        self.y = {name: self.labels[part] for name, part in self.splits.items()}
        self.split_texts = {name: [self.texts[i] for i in part] for name, part in self.splits.items()}
        rng = np.random.default_rng(config.seed)
        self.out_of_domain: dict[str, tuple[list[str], np.ndarray]] = {}
        for name, other in out_of_domain.items():
            draw = np.arange(len(other))
            if config.ood_sentences and config.ood_sentences < len(other):
                draw = np.sort(rng.choice(len(other), config.ood_sentences, replace=False))
            self.out_of_domain[name] = ([other.texts[i] for i in draw],
                                        np.array([index[other.labels[i]] for i in draw]))
        self.predictions: dict[str, np.ndarray] = {}
        self.started = time.perf_counter()

    def log(self, message: str) -> None:
        """A progress line, after the seconds since the start and the peak memory so far."""
        peak_mib = runtime.peak_rss_mb()
        print(f"[{time.perf_counter() - self.started:4.0f} s, {peak_mib:5.0f} MiB] {message}", flush=True)

    def settings(self, start_layer: int, learning_rate: float, head_learning_rate: float, min_steps: int = 0,
                 max_steps: int = 0, until_converged: bool = False) -> TrainSettings:
        """The fine-tune's recipe; `until_converged`: up to --scratch-max-epochs, stopping once validation
        has not improved for --scratch-patience epochs."""
        c = self.config
        return TrainSettings(start_layer=start_layer,
                             epochs=c.scratch_max_epochs if until_converged else c.epochs,
                             batch_size=c.batch_size, learning_rate=learning_rate,
                             head_learning_rate=head_learning_rate, weight_decay=c.weight_decay,
                             warmup_fraction=c.warmup_fraction, min_steps=min_steps, seed=c.training_seed(),
                             max_steps=max_steps, patience=c.scratch_patience if until_converged else 0)

    def run(self) -> dict[str, Any]:
        c = self.config
        self.log(f"{len(self.texts):,} sentences -> " + ", ".join(
            f"{name} {len(part):,}" for name, part in self.splits.items()) + f"; classes {self.classes}")
        self.folder = pretrained.model_dir()
        self.tokenizer = pretrained.load_tokenizer(self.folder)
        self.model = pretrained.pretrained_classifier(self.num_classes, c.head_dropout, self.folder,
                                                      seed=c.training_seed())
        self.num_layers = self.model.bert.config.num_layers
        self.start_layer = self.num_layers - c.trainable_layers
        self.frozen_features()
        self.choose_sentence_to_look_inside()
        last = self.num_layers - 1
        self.attention = {"pretrained (before fine-tuning)": attention_map(self.model, self.look_ids, last)}

        majority = baselines.majority_class(self.y["train"])
        texts, y = self.split_texts, self.y
        tfidf = baselines.tfidf_logreg(texts["train"], y["train"], texts["validation"], y["validation"],
                                       self.num_classes, c.training_seed())
        frozen = baselines.frozen_logreg(self.vectors["train"], self.y["train"], self.vectors["validation"],
                                         self.y["validation"], self.num_classes, c.training_seed())
        self.log(f"TF-IDF + LR {tfidf.chosen}, frozen + LR {frozen.chosen} (chosen on validation)")
        self.predictions = {"majority": np.full(len(self.y["test"]), majority),
                            "tfidf_logreg": tfidf.predict(self.split_texts["test"]),
                            "frozen_logreg": frozen.predict(self.vectors["test"])}

        self.log(f"fine-tuning the top {c.trainable_layers} layer(s) and the head ...")
        self.tuned = train_classifier(self.model, self.items["train"], y["train"], self.items["validation"],
                                      y["validation"],
                                      self.settings(self.start_layer, c.learning_rate, c.head_learning_rate))
        tuned_logits = predict_logits(self.model, self.items["test"], self.start_layer)
        self.predictions["fine_tuned"] = tuned_logits.argmax(1)
        tuned_name = f"fine-tuned (top {c.trainable_layers} layers)"
        self.attention[tuned_name] = attention_map(self.model, self.look_ids, last)
        scratch_result = self.from_scratch()
        rivals = self.scratch_rivals()

        metrics = self.test_scores(tfidf, frozen, scratch_result, rivals)
        metrics["learning_curve"] = self.learning_curve(metrics)
        metrics["out_of_domain"] = self.score_out_of_domain(majority, tfidf, frozen)
        self.token_table = tokenizer_table(self.look_text, self.look_tokens, self.split_texts["train"])
        return metrics

    def frozen_features(self) -> None:
        """One pass of the pretrained network over every sentence (the task's and the out-of-domain ones):
        the frozen layers' outputs to fine-tune on, and the frozen sentence vectors."""
        c, n = self.config, len(self.texts)
        ood_texts = [text for texts, _ in self.out_of_domain.values() for text in texts]
        ids = tokenize(self.tokenizer, self.texts + ood_texts, c.max_tokens)
        self.log(f"frozen pass over {len(ids):,} sentences (layers below {self.start_layer} run once) ...")
        items, vectors = frozen_pass(self.model, ids, self.start_layer)
        self.ids = {name: [ids[i] for i in part] for name, part in self.splits.items()}
        self.items = {name: [items[i] for i in part] for name, part in self.splits.items()}
        self.vectors = {name: vectors[part] for name, part in self.splits.items()}
        self.task_items, self.task_vectors = items[:n], vectors[:n]
        self.ood_items, self.ood_vectors = items[n:], vectors[n:]

    def choose_sentence_to_look_inside(self) -> None:
        """The first test sentence of 12-24 pieces with a word cut into pieces (any, when none is)."""
        tokens = [self.tokenizer.convert_ids_to_tokens(ids.tolist()) for ids in self.ids["test"]]
        pick = next((i for i, pieces in enumerate(tokens)
                     if 12 <= len(pieces) <= 24 and any(piece.startswith("##") for piece in pieces)), 0)
        self.look_ids, self.look_tokens = self.ids["test"][pick], tokens[pick]
        self.look_text = self.split_texts["test"][pick]

    def from_scratch(self) -> TrainResult:
        """The same network from random initialisation, every layer trained, at the budget
        --scratch-budget names: the fine-tune's steps, its arithmetic (trainable_layers / 6 of them), or
        epochs until validation stops improving."""
        c = self.config
        converge = c.scratch_budget == "converge"
        steps = 0 if converge else self.tuned.steps
        if c.scratch_budget == "compute":
            steps = math.ceil(steps * c.trainable_layers / self.num_layers)
        self.log("the same network from scratch: " + (
            f"until validation stops improving (at most {c.scratch_max_epochs} epochs) ..." if converge
            else f"{steps} steps over all layers ..."))
        network = pretrained.random_classifier(self.num_classes, c.head_dropout, self.folder,
                                               seed=c.training_seed())
        settings = self.settings(0, c.scratch_learning_rate, c.scratch_learning_rate, max_steps=steps,
                                 until_converged=converge)
        result = train_classifier(network, self.ids["train"], self.y["train"], self.ids["validation"],
                                  self.y["validation"], settings)
        self.predictions["from_scratch"] = predict_logits(network, self.ids["test"], 0).argmax(1)
        return result

    def scratch_rivals(self) -> dict[str, scratch.Tuned]:
        """The small networks from scratch (LLMind/scratch.py), each trained until validation stops
        improving at every rate its option lists, the rate chosen on validation."""
        c = self.config
        base = self.model.bert.config
        builders = {"small_scratch": scratch.small_bert, "bag_scratch": scratch.bag_of_pieces}
        rivals: dict[str, scratch.Tuned] = {}
        for name, option_name in SCRATCH_RIVALS.items():
            rates = c.rates(option_name)
            if not rates:
                continue
            self.log(f"{plots.NAMES[name]} from scratch, rates {', '.join(f'{r:g}' for r in rates)} ...")
            rivals[name] = scratch.tune_on_validation(
                lambda build=builders[name]: build(base, self.num_classes, c.head_dropout, c.training_seed()),
                rates,
                lambda rate: self.settings(0, rate, rate, until_converged=True), self.ids["train"],
                self.y["train"], self.ids["validation"], self.y["validation"], self.ids["test"], self.log)
            self.predictions[name] = rivals[name].test_predictions
            if rivals[name].result.interrupted:
                break
        return rivals

    def test_scores(self, tfidf: baselines.Fitted, frozen: baselines.Fitted, scratch_result: TrainResult,
                    rivals: dict[str, scratch.Tuned]) -> dict[str, Any]:
        c, y_test = self.config, self.y["test"]
        draws = bootstrap_indices(len(y_test), c.bootstrap, c.seed)
        metrics: dict[str, Any] = {
            "task": {"data": c.csv or c.data, "classes": self.classes,
                     "sentences": {name: len(part) for name, part in self.splits.items()},
                     "test_class_counts": np.bincount(y_test, minlength=self.num_classes).tolist(),
                     "deduplication": self.deduplication},
        }
        for name in self.models():
            metrics[name] = score(y_test, self.predictions[name], self.num_classes, draws)
        metrics["tfidf_logreg"]["chosen_on_validation"] = tfidf.chosen
        metrics["frozen_logreg"]["chosen_on_validation"] = frozen.chosen
        metrics["fine_tuned"].update(self._summary(self.tuned, c.trainable_layers))
        metrics["from_scratch"].update(self._summary(scratch_result, self.num_layers),
                                       budget=c.scratch_budget, learning_rate=c.scratch_learning_rate)
        for name, rival in rivals.items():
            metrics[name].update(rival.summary())
        # The from-scratch network validation liked best: the honest rival (its test score was not used)
        scratch_scores = {"from_scratch": scratch_result.best_val_macro_f1,
                          **{name: rival.result.best_val_macro_f1 for name, rival in rivals.items()}}
        best_scratch = max(scratch_scores, key=lambda name: scratch_scores[name])
        metrics["best_from_scratch"] = {"model": best_scratch, "chosen_on": "validation macro-F1",
                                        "val_macro_f1": scratch_scores}
        # Ctrl-C stops a training early and the run goes on: its results say so, as the other stages' do
        metrics["interrupted"] = (self.tuned.interrupted or scratch_result.interrupted
                                  or any(rival.result.interrupted for rival in rivals.values()))
        for other in ("tfidf_logreg", "frozen_logreg", *dict.fromkeys(["from_scratch", best_scratch])):
            metrics[f"fine_tuned_vs_{other}"] = paired_difference(y_test, self.predictions, "fine_tuned",
                                                                  other, self.num_classes, draws)
        metrics["confusion"] = {name: confusion(y_test, self.predictions[name], self.num_classes).tolist()
                                for name in ("tfidf_logreg", "frozen_logreg", "fine_tuned")}
        self.histories = {"fine_tuned": self.tuned.history, "from_scratch": scratch_result.history,
                          **{name: rival.result.history for name, rival in rivals.items()}}
        return metrics

    def models(self) -> list[str]:
        """The models scored on test: MODELS, then the from-scratch rivals that ran."""
        return [*MODELS, *(name for name in SCRATCH_RIVALS if name in self.predictions)]

    @staticmethod
    def _summary(result: TrainResult, layers: int) -> dict[str, Any]:
        return {"trained_layers": layers, "steps": result.steps, "best_epoch": result.best_epoch,
                "steps_to_best_epoch": result.best_steps, "epochs_run": len(result.history),
                "stopped_early": result.stopped_early, "best_val_macro_f1": result.best_val_macro_f1,
                "train_seconds": result.seconds, "interrupted": result.interrupted}

    def learning_curve(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """Test macro-F1 of TF-IDF, frozen and fine-tuned on smaller stratified training sets, each size
        drawn --curve-repeats times with a validation subset of matching size (the settings of a model
        trained on 100 sentences are chosen on the 14 validation sentences such a project would have);
        the same test sentences throughout. The means go in `learning_curve` (the last point is the full
        run), every draw in metrics["learning_curve_draws"]."""
        c, y, names = self.config, self.y, ("tfidf_logreg", "frozen_logreg", "fine_tuned")
        sizes = [size for size in c.curve() if size < len(y["train"])]
        curve: dict[str, Any] = {"sizes": [*sizes, len(y["train"])], **{name: [] for name in names},
                                 "fine_tuned_steps": []}
        draws: dict[str, Any] = {"sizes": sizes, "validation_sizes": [], **{name: [] for name in names}}
        share = len(y["validation"]) / len(y["train"])  # validation sentences per training sentence
        for size in sizes:
            val_size = max(round(size * share), 2 * self.num_classes)
            draws["validation_sizes"].append(val_size)
            scores: dict[str, list[float]] = {name: [] for name in names}
            steps = []
            for repeat in range(c.curve_repeats):
                self.log(f"learning curve: {size} training sentences, {val_size} validation, "
                         f"draw {repeat + 1} of {c.curve_repeats} ...")
                result = self._curve_point(size, val_size, c.seed + repeat, scores)
                steps.append(result.steps)
                metrics["interrupted"] = metrics["interrupted"] or result.interrupted
            for name in names:
                curve[name].append(float(np.mean(scores[name])))
                draws[name].append(scores[name])
            curve["fine_tuned_steps"].append(round(float(np.mean(steps))))
        for name in names:
            curve[name].append(metrics[name]["macro_f1"])
        curve["fine_tuned_steps"].append(self.tuned.steps)
        curve["floor_majority"] = metrics["majority"]["macro_f1"]
        metrics["learning_curve_draws"] = draws
        return curve

    def _curve_point(self, size: int, val_size: int, seed: int,
                     scores: dict[str, list[float]]) -> TrainResult:
        """One draw of the learning curve: `size` training and `val_size` validation sentences (stratified,
        by `seed`), each model's settings chosen on them; appends each model's test macro-F1 to `scores`."""
        c, y = self.config, self.y
        chosen = stratified_subset(self.splits["train"], self.labels, size, seed)
        held = stratified_subset(self.splits["validation"], self.labels, val_size, seed)
        labels, val_labels = self.labels[chosen], self.labels[held]
        tfidf = baselines.tfidf_logreg([self.texts[i] for i in chosen], labels, [self.texts[i] for i in held],
                                       val_labels, self.num_classes, c.training_seed())
        frozen = baselines.frozen_logreg(self.task_vectors[chosen], labels, self.task_vectors[held],
                                         val_labels, self.num_classes, c.training_seed())
        model = pretrained.pretrained_classifier(self.num_classes, c.head_dropout, self.folder, verify=False,
                                                 seed=c.training_seed())
        result = train_classifier(model, [self.task_items[i] for i in chosen], labels,
                                  [self.task_items[i] for i in held], val_labels,
                                  self.settings(self.start_layer, c.learning_rate, c.head_learning_rate,
                                                min_steps=c.curve_min_steps), log=lambda _: None)
        predicted = {"tfidf_logreg": tfidf.predict(self.split_texts["test"]),
                     "frozen_logreg": frozen.predict(self.vectors["test"]),
                     "fine_tuned": predict_logits(model, self.items["test"], self.start_layer).argmax(1)}
        for name, values in predicted.items():
            scores[name].append(macro_f1(y["test"], values, self.num_classes))
        return result

    def score_out_of_domain(self, majority: int, tfidf: baselines.Fitted, frozen: baselines.Fitted
                            ) -> dict[str, Any]:
        """The task's models, unchanged, on each other set (the majority class is the task's)."""
        results: dict[str, Any] = {}
        start = 0
        for name, (texts, labels) in self.out_of_domain.items():
            part = slice(start, start + len(texts))
            start += len(texts)
            draws = bootstrap_indices(len(labels), self.config.bootstrap, self.config.seed)
            predicted = {
                "majority": np.full(len(labels), majority), "tfidf_logreg": tfidf.predict(texts),
                "frozen_logreg": frozen.predict(self.ood_vectors[part]),
                "fine_tuned": predict_logits(self.model, self.ood_items[part], self.start_layer).argmax(1),
            }
            results[name] = {"sentences": len(labels),
                             "class_counts": np.bincount(labels, minlength=self.num_classes).tolist()}
            for model, values in predicted.items():
                results[name][model] = score(labels, values, self.num_classes, draws)
            self.log(f"out of domain, {name}: " + ", ".join(
                f"{model} {results[name][model]['macro_f1']:.3f}" for model in predicted))
        return results

    def write(self, metrics: dict[str, Any]) -> None:
        """Every file of the run, into the (staging) run folder."""
        c, out = self.config, self.out
        write_json(out / "config.json", asdict(c))
        write_json(out / "metrics.json", metrics)
        write_json(out / "history.json", self.histories)
        write_text(out / "tokens.md", self.token_table)
        pretrained.save_fine_tuned(self.model, out / pretrained.FINE_TUNED_FILE, self.classes,
                                   self.start_layer, c.max_tokens, c.head_dropout)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["text", "label", *self.models()])
        for row, (text, label) in enumerate(zip(self.split_texts["test"], self.y["test"], strict=True)):
            writer.writerow([text, self.classes[label],
                             *(self.classes[self.predictions[name][row]] for name in self.models())])
        write_text(out / "predictions.csv", buffer.getvalue())
        data = c.csv or c.data
        plots.plot_confusions({name: np.array(counts) for name, counts in metrics["confusion"].items()},
                              self.classes, out / "confusion.png",
                              f"{data}: test split ({len(self.y['test']):,} sentences)")
        curve = metrics["learning_curve"]
        plots.plot_learning_curve(curve["sizes"], {name: curve[name] for name in
                                                   ("tfidf_logreg", "frozen_logreg", "fine_tuned")},
                                  curve["floor_majority"], out / "learning_curve.png",
                                  f"{data}: what pretraining buys at each data size",
                                  draws=metrics.get("learning_curve_draws"))
        plots.plot_attention(self.look_tokens, self.attention, out / "attention.png",
                             "last layer's attention, mean over its 12 heads")

