"""PyTorch helpers shared by the PyTorch stages (TinyLLM, SmaLLM, CodeLLM): device choice and
checkpoints that hold a `state_dict` plus the config needed to rebuild the model.

Only the PyTorch stages import this module, so TensorFlow users never import torch.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.memory import require_memory
from common.runs import _to_jsonable, atomic_path


def pick_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple's MPS, then the CPU; anything else is passed to torch."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or mps") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA GPU is available: use --device auto or cpu")
    return device


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def measure_training(
    build: Callable[[], torch.nn.Module], step: Callable[[torch.nn.Module], torch.Tensor]
) -> tuple[int, int]:
    """(parameters, bytes of activations one training step keeps for backward) of the model `build()`
    makes, measured on PyTorch's meta device, where tensors have shapes but no memory: a model far too
    large for the machine is measured in milliseconds. `step(model)` runs one forward pass on meta
    inputs and returns the loss (a model with an operation that has no meta version counts no
    activations)."""
    saved = 0

    def count(tensor: torch.Tensor) -> torch.Tensor:  # called on every tensor autograd keeps
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    with torch.device("meta"):
        model = build()
        try:
            with torch.autograd.graph.saved_tensors_hooks(count, lambda tensor: tensor):
                step(model)
        except (RuntimeError, NotImplementedError):  # an operation with no meta version: parameters only
            saved = 0
    return count_parameters(model), saved


def require_training_memory(
    what: str, build: Callable[[], torch.nn.Module], step: Callable[[torch.nn.Module], torch.Tensor],
    device: torch.device, fix: str,
) -> None:
    """Refuse, before anything is allocated, a model whose training does not fit in this machine's
    memory (nor in the GPU's, when `device` is one): one line with the numbers (common/memory.py)."""
    parameters, activations = measure_training(build, step)
    require_memory(what, parameters, activations, fix)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        require_memory(what, parameters, activations, fix, available=free, where=f"the GPU ({device})")


def sinusoidal_positions(positions: torch.Tensor, d_model: int) -> torch.Tensor:
    """(tokens,) integer positions -> (tokens, d_model) sin/cos codes (Vaswani et al., 2017).

    Even channels are sin(pos / 10000^(2i/d)), odd ones cos of the same: each channel pair is a
    clock of a different period, so nearby days get similar codes and the model can read
    relative distance as a rotation. Computed on the fly: any lookback works, nothing to store.
    """
    frequencies = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float32, device=positions.device)
        * (-math.log(10000.0) / d_model)
    )  # (d_model / 2,)
    angles = positions.float()[:, None] * frequencies[None, :]  # (tokens, d_model / 2)
    codes = torch.zeros(len(positions), d_model, device=positions.device)
    codes[:, 0::2] = torch.sin(angles)
    codes[:, 1::2] = torch.cos(angles[:, : d_model // 2])  # odd d_model: one cos channel fewer
    return codes


def save_checkpoint(
    path: str | Path, model: torch.nn.Module, config: Any, *, stage: str | None = None, **extra: Any
) -> None:
    """Atomically save `{"stage": stage, "model": state_dict, "config": config-as-dict, **extra}`.

    Everything is stored as tensors, numbers, strings, lists and dicts (dataclasses become dicts,
    numpy values lists or numbers) so that `load_checkpoint` can read it with `weights_only=True`,
    which never runs code from the file. Writing to a temporary file first means an interrupted
    save never replaces a good checkpoint.
    """
    payload = {
        "stage": stage, "model": model.state_dict(), "config": _to_jsonable(config),
        **{key: _to_loadable(value, key) for key, value in extra.items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _to_loadable(value: Any, where: str) -> Any:
    """`value` as types that `torch.load(weights_only=True)` accepts; a TypeError names anything else.

    Like `common.runs._to_jsonable`, but tensors stay tensors and floats stay floats (inf included:
    a best loss starts at inf), and an unknown object fails at save time rather than at load time.
    """
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, (bool, int, float, str)):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return _to_loadable(asdict(value), where)
    if isinstance(value, dict):
        converted = {str(k) if not isinstance(k, (int, str)) else k: _to_loadable(v, f"{where}.{k}")
                     for k, v in value.items()}
        if isinstance(value, OrderedDict):  # a state_dict: keep its type and version metadata
            ordered = OrderedDict(converted)
            if hasattr(value, "_metadata"):
                ordered._metadata = value._metadata  # type: ignore[attr-defined]
            return ordered
        return converted
    if isinstance(value, (list, tuple)):
        items = [_to_loadable(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items  # optimizer betas are tuples
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"checkpoint field {where!r} holds a {type(value).__name__}: store tensors, numbers, "
                    "strings, lists or dicts so that the checkpoint loads without running code")


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", expected_stage: str | None = None
) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint`, never running code from the file.

    `torch.load(weights_only=True)` unpickles only tensors and plain containers, so a crafted
    file is refused instead of executed. Any file that is not a checkpoint of this project
    (empty, truncated, another format, a pickle of objects, a checkpoint of another stage when
    `expected_stage` is given) raises one ValueError line naming the file and what it is.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: train first, or point --out at a run folder")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a checkpoint file: point at the run's .pt file")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for truncated / foreign / unsafe files
        raise ValueError(f"{path} is not a checkpoint of this project: {_describe_unreadable(path, error)}; "
                         "re-train to recreate it") from None
    if not isinstance(payload, dict) or "model" not in payload or "config" not in payload:
        raise ValueError(f"{path} is not a checkpoint of this project: a PyTorch file without the "
                         "'model' and 'config' entries that training writes; re-train to recreate it")
    for key in ("model", "config"):
        if not isinstance(payload[key], dict):
            what = "weights (a state_dict)" if key == "model" else "options"
            raise ValueError(f"{path} is damaged: its {key!r} entry is a {type(payload[key]).__name__}, not "
                             f"the mapping of {what} that training writes; re-train to recreate it")
    stage = payload.get("stage")
    if expected_stage is not None and stage is not None and stage != expected_stage:
        raise ValueError(f"{path} is a {stage} checkpoint, not a {expected_stage} one: "
                         f"point --out at a {expected_stage} run folder")
    return payload


def _describe_unreadable(path: Path, error: Exception) -> str:
    """What a file that torch.load refused most likely is, in a few words (the errors run to paragraphs)."""
    with path.open("rb") as file:
        head = file.read(8)
    if not head:
        return "the file is empty"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (Keras weights?), not a PyTorch checkpoint"
    if "weights only load failed" in str(error).lower() or "unsupported global" in str(error).lower():
        return ("it holds Python objects whose loading could run code "
                "(refused: only weights and plain data load)")
    if head.startswith(b"PK"):
        return "a damaged or truncated PyTorch archive"
    if head[:1] == b"\x80":
        return "a Python pickle, not a PyTorch checkpoint"
    return "not a PyTorch file"


def resolve_precision(precision: str, device: torch.device, cpu_bf16: bool = True) -> str:
    """`bf16` or `fp32`. `auto` picks bfloat16 where the hardware has it (recent GPUs; with `cpu_bf16`,
    CPUs with AMX / AVX512-BF16, where it made a language model's step 2-3x faster); elsewhere emulated
    bfloat16 is slower."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"unknown precision {precision!r}: use auto, bf16 or fp32")
    if precision != "auto":
        return precision
    if device.type == "cpu":
        if not cpu_bf16:
            return "fp32"
        supported = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    else:
        supported = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return "bf16" if supported else "fp32"


def mixed_precision(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """A context in which matrix products run in bfloat16 (for `bf16`) while weights, optimizer state
    and losses stay float32: mixed-precision training, as on GPUs."""
    enabled = resolve_precision(precision, device) == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)
