"""Data parallelism with PyTorch's own engine: DistributedDataParallel under `torchrun`.

    torchrun --standalone --nproc_per_node=2 TinyLLM/train.py ...          # 2 processes, this machine
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d \
        --rdzv-endpoint=HOST:29500 TinyLLM/train.py ...                     # 2 machines x 8 GPUs

`torchrun` starts one process per device and tells each its RANK, LOCAL_RANK and WORLD_SIZE in the
environment. Each process (a "rank") holds a full copy of the model, reads its own share of every
batch, and DistributedDataParallel averages the gradients across ranks during `backward()`, so every
copy takes the same step: the run is the one-process run with the same *global* batch, computed in
parallel. Only rank 0 logs, samples, evaluates and writes files. Without `torchrun` (no WORLD_SIZE)
everything here is a no-op and a script runs as one process. TensorFlow's multi-worker runs describe
the same thing in TF_CONFIG, which `world()` reads too, so the forecasting harness knows its chief.

PyTorch is imported only by the functions that talk to other ranks: a TensorFlow stage that asks
`world()` where it stands never loads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class World:
    """Where this process stands: its rank among `size` processes, and its device's index on its node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints, evaluates and writes files."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def world() -> World:
    """This process's place, from the variables torchrun sets, or from TensorFlow's TF_CONFIG (one
    process when neither is set)."""
    if "WORLD_SIZE" in os.environ:
        return World(int(os.environ.get("RANK", 0)), int(os.environ["WORLD_SIZE"]),
                     int(os.environ.get("LOCAL_RANK", 0)))
    if "TF_CONFIG" in os.environ:  # {"cluster": {"worker": [host:port, ...]}, "task": {"type", "index"}}
        tf_config = json.loads(os.environ["TF_CONFIG"])
        workers = tf_config.get("cluster", {}).get("worker", [])
        return World(int(tf_config.get("task", {}).get("index", 0)), max(1, len(workers)))
    return World()


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[World]:
    """Join the other ranks for the `with` block (NCCL between GPUs, gloo between CPUs), and leave.
    Under a plain `python script.py` this yields a one-process world and does nothing else."""
    here = world()
    if not here.active or joined():
        yield here
        return
    import torch
    import torch.distributed as dist

    if device.type == "cuda":
        torch.cuda.set_device(here.local_rank)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield here
        dist.barrier()  # the other ranks wait here while rank 0 evaluates and writes: all leave together
    finally:
        dist.destroy_process_group()


def device_for(name: str, here: World) -> str:
    """Under torchrun each rank on a GPU node takes the GPU of its local rank."""
    import torch

    if name in ("auto", "cuda") and torch.cuda.is_available() and here.active:
        return f"cuda:{here.local_rank}"
    return name


def joined() -> bool:
    """Whether this process is one of several PyTorch ranks (inside `process_group`)."""
    if "torch.distributed" not in sys.modules:
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _tensor(values: list[float]) -> torch.Tensor:
    """float64 values on the device the backend reduces on (NCCL: this rank's GPU; gloo: the CPU)."""
    import torch
    import torch.distributed as dist

    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    return torch.tensor(values, dtype=torch.float64, device=device)


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is true on at least one: ranks must stop at the same step (a
    time budget can run out on one a step before the other)."""
    if not joined():
        return flag
    import torch.distributed as dist

    value = _tensor([float(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def mean_over_ranks(value: float) -> float:
    """The mean of `value` over all ranks (a loss each rank measured on its share of the batch)."""
    if not joined():
        return value
    import torch.distributed as dist

    total = _tensor([value])
    dist.all_reduce(total)
    return float(total.item()) / dist.get_world_size()


def broadcast(value: object) -> object:
    """Rank 0's `value` on every rank (any picklable object: an optimizer state, a progress record)."""
    if not joined():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def parameters_in_sync(model: torch.nn.Module) -> bool:
    """Whether every rank holds the same parameters (DDP's promise, checked: a checksum per rank)."""
    if not joined():
        return True
    import torch
    import torch.distributed as dist

    checksum = _tensor([float(p.detach().double().sum()) for p in model.parameters()])
    low, high = checksum.clone(), checksum.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    return bool(torch.equal(low, high))


def my_share(streams: torch.Tensor) -> torch.Tensor:
    """This rank's rows of a (streams, length) batch: rank r of R takes rows r*S/R .. (r+1)*S/R - 1, so
    together the ranks read exactly the one-process batch."""
    here = world()
    if not here.active:
        return streams
    if len(streams) % here.size:
        raise ValueError(f"--batch-size {len(streams)} must be divisible by the {here.size} processes "
                         "torchrun started: it is the global batch, split evenly among them")
    rows = len(streams) // here.size
    return streams[here.rank * rows : (here.rank + 1) * rows]


def barrier() -> None:
    if joined():
        import torch.distributed as dist

        dist.barrier()
