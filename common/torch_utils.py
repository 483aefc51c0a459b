"""PyTorch helpers shared by the PyTorch stages (TinyLLM, SmaLLM, CodeLLM): device choice and
checkpoints that hold a `state_dict` plus the config needed to rebuild the model.

Only the PyTorch stages import this module, so TensorFlow users never import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

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


def save_checkpoint(path: str | Path, model: torch.nn.Module, config: Any, **extra: Any) -> None:
    """Atomically save `{"model": state_dict, "config": config-as-dict, **extra}`.

    Writing to a temporary file first means an interrupted save never replaces a good checkpoint.
    """
    payload = {"model": model.state_dict(), "config": _to_jsonable(config), **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint`, with a clear error when it is missing or broken."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: train first, or point --out at a run folder")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # torch raises several types for truncated / foreign files
        raise ValueError(f"{path} is not a readable checkpoint ({error}); re-train to recreate it") from error
    if not isinstance(payload, dict) or "model" not in payload or "config" not in payload:
        raise ValueError(f"{path} is not a checkpoint of this project (expected 'model' and 'config' keys)")
    return payload
