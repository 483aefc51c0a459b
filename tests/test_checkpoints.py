"""Checkpoints load with weights_only=True: a crafted file never runs code, a foreign one gives one line."""

from __future__ import annotations

import math
import os
import pickle
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from common.torch_utils import load_checkpoint, save_checkpoint


class TouchesAFile:
    """Unpickling this calls `os.system`, as a malicious checkpoint would."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_crafted_pickle_does_not_run_and_is_refused(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pt"
    payload = {"model": TouchesAFile(marker), "config": {}}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(ValueError,
                       match=r"checkpoint.pt is not a checkpoint of this project: .*could run code") as info:
        load_checkpoint(path)
    assert not marker.exists()
    assert "\n" not in str(info.value)


@dataclass
class Progress:
    step: int = 3
    best: float = math.inf


def test_round_trip_of_model_config_optimizer_and_extras(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "c.pt", model, Progress(), stage="TinyLLM", optimizer=optimizer.state_dict(),
                    progress=Progress(), rng=torch.get_rng_state(), mean=np.arange(3.0), count=np.int64(7),
                    folder=tmp_path)
    loaded = load_checkpoint(tmp_path / "c.pt", expected_stage="TinyLLM")
    assert loaded["stage"] == "TinyLLM" and loaded["config"] == {"step": 3, "best": None}  # config is JSON
    assert loaded["progress"] == {"step": 3, "best": math.inf}  # extras keep inf
    assert loaded["mean"] == [0.0, 1.0, 2.0] and loaded["count"] == 7 and loaded["folder"] == str(tmp_path)
    # torch.set_rng_state takes it
    assert isinstance(loaded["rng"], torch.Tensor) and loaded["rng"].dtype == torch.uint8
    restored = torch.nn.Linear(3, 2)
    restored.load_state_dict(loaded["model"])
    torch.optim.AdamW(restored.parameters()).load_state_dict(loaded["optimizer"])
    torch.testing.assert_close(restored.weight, model.weight)


def test_an_object_that_would_need_pickle_is_refused_at_save_time(tmp_path):
    with pytest.raises(TypeError, match="'scaler' holds a object"):
        save_checkpoint(tmp_path / "c.pt", torch.nn.Linear(1, 1), {}, scaler=object())
    assert not (tmp_path / "c.pt").exists()


def good_checkpoint(path):
    save_checkpoint(path, torch.nn.Linear(4, 4), {"hidden_size": 4}, stage="TinyLLM", step=1)
    return path.read_bytes()


@pytest.mark.parametrize("case, expected", [
    ("empty", "the file is empty"),
    ("truncated", "damaged or truncated PyTorch archive"),
    ("garbage", "not a PyTorch file"),
    ("hdf5", "HDF5 file"),
    ("foreign", "without the 'model' and 'config' entries"),
    ("other_stage", "is a TinyLLM checkpoint, not a SmaLLM one"),
])
def test_a_file_that_is_not_a_checkpoint_gives_one_clear_line(tmp_path, case, expected):
    path = tmp_path / "model.pt"
    data = good_checkpoint(tmp_path / "good.pt")
    contents = {"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"hello, not a model\n" * 5,
                "hdf5": b"\x89HDF\r\n\x1a\n" + bytes(100)}
    if case == "foreign":
        torch.save({"weights": torch.zeros(2)}, path)
    elif case == "other_stage":
        path.write_bytes(data)
    else:
        path.write_bytes(contents[case])
    with pytest.raises(ValueError, match=expected) as info:
        load_checkpoint(path, expected_stage="SmaLLM")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_checkpoint_says_train_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="train first"):
        load_checkpoint(tmp_path / "checkpoint.pt")
