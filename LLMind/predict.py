"""Classify sentences with the model LLMind/train.py fine-tuned.

    python LLMind/predict.py "The council's plan is a disgrace." "A fine day for the city."
    python LLMind/predict.py --file sentences.txt              # one sentence per line
    python LLMind/predict.py --csv labelled.csv                # text,label columns: also prints the scores
    python LLMind/predict.py --out outputs/LLMind/mine "..."   # another run folder

The run folder's fine_tuned.safetensors holds only what training changed (the top layers and the
head) and the class names; the rest comes from the pretrained package, checked by its sha256.
"""
# ruff: noqa: E402

from __future__ import annotations

from common import runtime

if __name__ == "__main__":
    runtime.prepare_environment()  # OpenMP reads its settings as PyTorch loads: before `import torch`

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.config import run_cli
from common.paths import output_dir


class Predictor:
    """A fine-tuned run, loaded once: `classify(texts)` gives each text's class and probabilities."""

    def __init__(self, run_folder: str | Path) -> None:
        from LLMind import pretrained  # imports torch: here, so that `--help` stays fast

        self.folder = Path(run_folder)
        self.model, metadata = pretrained.load_fine_tuned(self.folder)
        self.classes: list[str] = json.loads(metadata["classes"])
        self.max_tokens = int(metadata["max_tokens"])
        self.tokenizer = pretrained.load_tokenizer()

    def classify(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """[{"text", "label", "probabilities": {class: p}}] in the order of `texts`."""
        import numpy as np

        from LLMind.finetune import predict_logits, tokenize

        if isinstance(texts, str):
            raise ValueError("classify takes a list of sentences, not one string")
        empty = [i for i, text in enumerate(texts) if not text.strip()]
        if empty:
            raise ValueError(f"sentence(s) {empty[:5]} are empty: give text to classify")
        if not texts:
            return []
        logits = predict_logits(self.model, tokenize(self.tokenizer, texts, self.max_tokens), start_layer=0)
        exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))  # softmax, without overflow
        probabilities = exponentials / exponentials.sum(axis=1, keepdims=True)
        return [{"text": text, "label": self.classes[int(row.argmax())],
                 "probabilities": {name: float(p) for name, p in zip(self.classes, row, strict=True)}}
                for text, row in zip(texts, probabilities, strict=True)]


def warn_unknown_labels(path: str, labels: Sequence[str | None], classes: list[str]) -> None:
    """Say so when the labels of `path` include classes the model does not know: those sentences can
    never be classified right, so the accuracy printed would say more about the labels than the model."""
    unknown = sorted({label for label in labels if label is not None and label not in classes})
    if unknown:
        count = sum(label in unknown for label in labels)
        print(f"warning: {count} of {sum(label is not None for label in labels)} labels in {path} are not "
              f"classes of this model ({', '.join(map(repr, unknown[:5]))}); it knows {', '.join(classes)}, "
              "so those sentences always count as wrong: rename the labels to its classes", file=sys.stderr)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sentences", nargs="*", help="sentences to classify")
    parser.add_argument("--file", help="a text file with one sentence per line")
    parser.add_argument("--csv", help="a labelled CSV (text,label) to classify and score")
    parser.add_argument("--text-column", default="text", help="--csv: the sentence column (default: text)")
    parser.add_argument("--label-column", default="label", help="--csv: the class column (default: label)")
    parser.add_argument("--out", default=str(output_dir("LLMind")),
                        help="the run folder of LLMind/train.py (default: outputs/LLMind)")
    parser.add_argument("--threads", type=int, default=0,
                        help="PyTorch CPU threads (0: one per physical core)")
    args = parser.parse_args(argv)
    texts, labels = list(args.sentences), None
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: give --file a text file, one sentence per line")
        texts += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.csv:
        from LLMind.prepare_data import read_labelled_csv

        labelled = read_labelled_csv(args.csv, args.text_column, args.label_column)
        texts, labels = texts + labelled.texts, [None] * len(texts) + labelled.labels
    if not texts:
        raise ValueError("nothing to classify: give sentences, --file or --csv")
    with runtime.torch_settings(args.threads):
        predictor = Predictor(args.out)
        if labels is not None:
            warn_unknown_labels(args.csv, labels, predictor.classes)
        results = predictor.classify(texts)
    for result in results[:50]:
        shown = ", ".join(f"{name} {p:.2f}" for name, p in result["probabilities"].items())
        print(f"{result['label']:>9s}  ({shown})  {result['text'][:90]}")
    if len(results) > 50:
        print(f"... and {len(results) - 50} more")
    if labels is not None:
        scored = [(r["label"], label) for r, label in zip(results, labels, strict=True) if label is not None]
        correct = sum(predicted == label for predicted, label in scored)
        print(f"accuracy on {len(scored)} labelled sentences: {correct / len(scored):.3f}")
    return results


if __name__ == "__main__":
    run_cli(main)
