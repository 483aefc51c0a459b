"""Scaling out with PyTorch's own engine: `torchrun` + DistributedDataParallel, on the CPU (gloo).

A two-process run is the one-process run with the same global batch, computed in parallel: the same
losses (to float rounding), identical parameters on both ranks, one set of result files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.paths import REPO_ROOT

TORCHRUN = Path(sys.executable).with_name("torchrun")
pytestmark = pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside python")


def launch(processes: int, script: str, args: list[str]) -> subprocess.CompletedProcess:
    """`script` under torchrun with `processes` CPU processes (or plain python for one)."""
    command = ([str(TORCHRUN), "--standalone", f"--nproc_per_node={processes}"] if processes > 1
               else [sys.executable])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([*command, str(REPO_ROOT / script), *args], capture_output=True, text=True,
                            timeout=300, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "text.txt"
    path.write_text("Some text to learn from, said the king, and the queen agreed. " * 200, encoding="utf-8")
    return path


def tinyllm_args(text: Path, out: Path, steps: int) -> list[str]:
    return ["--data", str(text), "--out", str(out), "--hidden-size", "16", "--embedding-dim", "8",
            "--batch-size", "4", "--seq-len", "16", "--max-minutes", "0", "--max-steps", str(steps),
            "--eval-every", "3", "--sample-every", "0", "--threads", "1"]


def test_two_tinyllm_processes_train_the_one_process_run(text, tmp_path):
    launch(1, "TinyLLM/train.py", tinyllm_args(text, tmp_path / "one", 6))
    launch(2, "TinyLLM/train.py", tinyllm_args(text, tmp_path / "two", 6))
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["parallel"] == {"world_size": 2, "global_batch_size": 4, "batch_size_per_process": 2,
                               "learning_rate": 0.003, "parameters_in_sync": True}
    assert two["tokens_seen"] == one["tokens_seen"]  # the same global batches
    assert abs(two["val_loss"] - one["val_loss"]) < 1e-5
    history_one = json.loads((tmp_path / "one" / "history.json").read_text())
    history_two = json.loads((tmp_path / "two" / "history.json").read_text())
    for a, b in zip(history_one, history_two, strict=True):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-5 and abs(a["val_loss"] - b["val_loss"]) < 1e-5
    # Exactly one set of result files, written by rank 0; no stray staging folder or lock.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]
    assert len(list((tmp_path / "two").glob("checkpoint*.pt"))) == 1


def test_a_two_process_run_resumes_like_a_one_process_run(text, tmp_path):
    results = {}
    for processes in (1, 2):
        out = tmp_path / f"run{processes}"
        launch(processes, "TinyLLM/train.py", tinyllm_args(text, out, 3))
        launch(processes, "TinyLLM/train.py", [*tinyllm_args(text, out, 6), "--resume"])
        results[processes] = json.loads((out / "metrics.json").read_text())
    assert results[2]["steps"] == results[1]["steps"] == 6
    assert abs(results[2]["val_loss"] - results[1]["val_loss"]) < 1e-5


def test_a_global_batch_that_does_not_split_is_refused(text, tmp_path):
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", str(REPO_ROOT / "TinyLLM/train.py"),
               *tinyllm_args(text, tmp_path / "odd", 3), "--batch-size", "3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode != 0
    assert "--batch-size 3 must be divisible by the 2 processes" in result.stdout + result.stderr


def test_two_codellm_processes_train_the_one_process_run(tmp_path):
    # dropout 0: with dropout each process draws its own masks, and the two runs differ by chance
    flags = ["--preset", "tiny", "--dropout", "0"]
    launch(1, "CodeLLM/train.py", [*flags, "--out", str(tmp_path / "one")])
    launch(2, "CodeLLM/train.py", [*flags, "--out", str(tmp_path / "two")])
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["parallel"]["world_size"] == 2 and two["parallel"]["parameters_in_sync"]
    assert two["parallel"]["global_batch_size"] == one["parallel"]["global_batch_size"]
    for name in ("as_trained", "naive", "drift"):
        assert abs(two["forecasts"][name]["rmse"] - one["forecasts"][name]["rmse"]) < 1e-6, name
    history_one = (tmp_path / "one" / "history.csv").read_text().splitlines()[1:]
    history_two = (tmp_path / "two" / "history.csv").read_text().splitlines()[1:]
    for a, b in zip(history_one, history_two, strict=True):
        loss_a, val_a = map(float, a.split(",")[1:3])
        loss_b, val_b = map(float, b.split(",")[1:3])
        assert abs(loss_a - loss_b) < 1e-6 and abs(val_a - val_b) < 1e-6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # one run folder each


MIRRORED = """
import json, sys
from common import runtime
runtime.prepare_environment()
import tensorflow as tf
# Two logical CPU devices stand in for two GPUs: MirroredStrategy puts a replica on each.
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from MemoryLLM import train
train.main(sys.argv[1:])
"""


def test_memoryllm_mirrored_over_two_devices_trains_the_one_device_run(tmp_path):
    pytest.importorskip("tensorflow")
    flags = ["--preset", "tiny", "--dropout", "0"]  # no dropout: the replicas' masks would differ
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-c", MIRRORED, *flags, "--strategy", "mirrored",
               "--out", str(tmp_path / "mirrored")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    launch(1, "MemoryLLM/train.py", [*flags, "--out", str(tmp_path / "one")])
    mirrored = json.loads((tmp_path / "mirrored" / "metrics.json").read_text())
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert mirrored["parallel"] == {"strategy": "MirroredStrategy", "replicas": 2, "global_batch_size": 32,
                                    "batch_size_per_replica": 16}
    assert one["parallel"]["replicas"] == 1
    rmse = one["forecasts"]["as_trained"]["rmse"]
    assert abs(mirrored["forecasts"]["as_trained"]["rmse"] - rmse) < 1e-5 * rmse
