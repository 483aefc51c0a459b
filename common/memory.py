"""Will a training run fit in memory? Asked from the config, before anything is built, so that
`--hidden-size 10000000` is refused in a second with the number instead of being killed by the
operating system minutes later (or ending in an allocation traceback).

A run's memory is its parameters' share, plus the activations one training step keeps for backward:

    weights (4 bytes) + gradients (4) + AdamW's two moments (8)  =  16 bytes per parameter

Each family measures its own numbers (common/torch_utils.py measures a PyTorch model on the meta
device, where tensors have shapes but no memory; MemoryLLM counts its LSTM's weights by formula) and
hands them to `require_memory`.
"""

from __future__ import annotations

import os
from pathlib import Path

BYTES_PER_PARAMETER = 16  # float32 weights, gradients and AdamW's first and second moments
GIB = 2**30


def available_memory() -> int:
    """Bytes of memory this machine can give a new allocation now: Linux's MemAvailable (free memory
    plus caches it can drop), else the whole physical memory."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the file counts kibibytes
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def training_bytes(parameters: int, activation_bytes: int) -> int:
    """Bytes a training run needs: its parameters with their gradients and AdamW state, and one step's
    activations."""
    return parameters * BYTES_PER_PARAMETER + activation_bytes


def require_memory(
    what: str, parameters: int, activation_bytes: int, fix: str, available: int | None = None,
    where: str = "this machine",
) -> None:
    """Refuse a run that cannot fit in `available` bytes (by default `available_memory()`), with one line
    naming the numbers and `fix`, the options to lower:

        ValueError: the model has 300,000,830,001,105 parameters: training it needs about 4,366,000 GiB
        (...), more than the 21.3 GiB of memory this machine has available: lower --hidden-size
    """
    needed = training_bytes(parameters, activation_bytes)
    available = available_memory() if available is None else available
    if needed > available:
        raise ValueError(
            f"{what} has {parameters:,} parameters: training it needs about {needed / GIB:,.1f} GiB "
            f"({BYTES_PER_PARAMETER} bytes per parameter for weights, gradients and optimizer, plus "
            f"{activation_bytes / GIB:,.1f} GiB of activations per step), more than the "
            f"{available / GIB:,.1f} GiB of memory {where} has available: {fix}"
        )
