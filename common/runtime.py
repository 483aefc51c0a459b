"""Every process-wide setting the project makes, in one place, made only by entry points.

Importing a module of this project changes nothing outside it: no environment variable, thread count,
float mode, logging level or plotting backend. A script that trains (`TinyLLM/train.py`, ...) asks for
the settings it wants, in two steps:

    from common import runtime
    if __name__ == "__main__":
        runtime.prepare_environment()     # read by OpenMP / TensorFlow when they load: before importing them
    import torch
    ...
    with runtime.torch_settings(config.threads):   # threads and float mode, put back on exit
        train(config)

so a notebook or a test that imports or calls it keeps its own settings afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import platform
import resource
import sys
from collections.abc import Iterator

# Read once, when the framework loads: setting them later has no effect.
FRAMEWORK_ENVIRONMENT = {
    # Idle OpenMP threads sleep instead of spinning. On a shared machine a spinning thread takes the core
    # its partner needs: steps up to 10x slower under load were measured without it.
    "OMP_WAIT_POLICY": "PASSIVE",
    # ...but PyTorch's OpenMP (libgomp, on Linux) then sleeps between every two parallel regions, and a
    # small model runs hundreds of them per step. A short spin first (1,000 rounds, microseconds; in
    # libgomp it overrides the policy) ran a small Transformer 1.3-1.5x faster alone on a 2-core AMD
    # EPYC, and 0.8x beside a second job, where libgomp's default long spin fell to 0.3x
    # (benchmarks/bench_threads.py, TinyLLM/README.md "Thread settings"). Running several jobs at
    # once? Set GOMP_SPINCOUNT=0: a value in the environment wins.
    "GOMP_SPINCOUNT": "1000",
    # TensorFlow: hide its C++ INFO lines and a harmless tf.data notice.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # TensorFlow: oneDNN kernels may change their summation order between runs; off, a seed gives the
    # same numbers every time.
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


def prepare_environment() -> None:
    """Set the environment variables that PyTorch's OpenMP and TensorFlow read as they load (a value the
    user already set wins). Call it from an entry point before importing torch, keras or tensorflow."""
    for name, value in FRAMEWORK_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def physical_cores() -> int:
    """Cores, not hardware threads: two threads of one core share its arithmetic units, so matrix code
    gains little from the second and loses to contention. Falls back to the CPUs this process may use."""
    try:
        cores = set()
        with open("/proc/cpuinfo") as cpuinfo:
            physical = core = None
            for line in cpuinfo:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    physical = value.strip()
                elif key == "core id":
                    core = value.strip()
                elif not line.strip() and core is not None:
                    cores.add((physical, core))
                    physical = core = None
        allowed = len(os.sched_getaffinity(0))
        if cores:
            return max(1, min(len(cores), allowed))
        return allowed
    except (OSError, AttributeError):
        return os.cpu_count() or 1


def cpu_model() -> str:
    """The processor's name ("AMD EPYC ..."), from /proc/cpuinfo where there is one: every measured
    number is given with it."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_mb() -> float:
    """The most resident memory this process has held so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def usable_cpus() -> int:
    """The CPUs (hardware threads) this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def cap_threads(threads: int) -> int:
    """`threads`, but no more than the CPUs this process may use: asking OpenMP for 100,000 threads
    crashes the process, and more threads than CPUs only contend. Says so when it cuts the number."""
    if threads < 0:
        raise ValueError(f"threads must be 0 (one per core) or more, got {threads}")
    cpus = usable_cpus()
    if threads > cpus:
        _say_capped(threads, cpus)
        return cpus
    return threads


@functools.cache
def _say_capped(threads: int, cpus: int) -> None:
    """Say once per process (not at every `torch_settings` block) that --threads was cut."""
    print(f"--threads {threads} is more than the {cpus} CPUs this machine gives this process: using {cpus}",
          file=sys.stderr)


def resolve_threads(threads: int) -> int:
    """`threads` as asked (at most the CPUs there are), with 0 meaning one per physical core of this
    machine, shared among the processes `torchrun` started on it (LOCAL_WORLD_SIZE)."""
    return cap_threads(threads) or max(1, physical_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", 1)))


@contextlib.contextmanager
def denormals_flushed() -> Iterator[None]:
    """Floats below ~1e-38 become zero in PyTorch's CPU kernels for the `with` block. Gradients that fade
    into such denormal floats (a tanh RNN's, an LSTM's over hundreds of steps) take a path about 10x
    slower on x86 CPUs; flushing them changes no result that matters."""
    import torch

    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@contextlib.contextmanager
def torch_settings(threads: int = 0) -> Iterator[int]:
    """PyTorch's CPU threads (0: one per physical core) and denormal flushing, for the `with` block;
    yields the thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(threads))
    try:
        with denormals_flushed():
            yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def tensorflow_settings(intra_op: int = 0, inter_op: int = 0) -> Iterator[None]:
    """TensorFlow's logger to errors only, and its thread pools where asked (0 keeps TensorFlow's own
    choice), for the `with` block. Small graphs gain nothing from running ops side by side: one inter-op
    thread suits them. TensorFlow fixes its pools when it first runs an op: in a process where it
    already ran (a notebook, a test) the pools stay as they are."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    intra_op, inter_op = cap_threads(intra_op), cap_threads(inter_op)
    with contextlib.suppress(RuntimeError):
        if intra_op:
            tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if inter_op:
            tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    try:
        yield
    finally:
        logger.setLevel(level)

