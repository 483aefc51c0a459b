"""No user file is ever deleted, no name escapes its folder, and a crash becomes one line (issue 20).

Each test replays a probe of the issue: it makes the folder the probe found, runs the script as a user
would (through `run_cli`, which turns an error into one `error: ...` line), and checks the line and
that every file that was there before is still there, byte-identical.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest
from probes import one_line_error, snapshot

from common import runtime
from common.config import run_cli
from common.runs import RUN_MARKER, hidden_beside, run_transaction, write_json
from TinyLLM import train as tinyllm


def good_run(out: Path) -> None:
    """A finished run in `out`, as any stage leaves one (a marker listing its files)."""
    with run_transaction(out, stage="test") as staging:
        write_json(staging / "metrics.json", {"val_loss": 1.0})
        (staging / "weights").mkdir()
        (staging / "weights" / "model.pt").write_bytes(os.urandom(64))


def tiny_args(tmp_path: Path, out: str | Path = "run") -> list[str]:
    data = tmp_path / "text.txt"
    if not data.exists():
        data.write_text("Some text to learn from, said the king, and the queen agreed. " * 60,
                        encoding="utf-8")
    return ["--data", str(data), "--out", str(tmp_path / out), "--hidden-size", "16", "--embedding-dim", "8",
            "--batch-size", "4", "--seq-len", "16", "--max-minutes", "0", "--max-steps", "3",
            "--eval-every", "3", "--sample-every", "0", "--threads", "1", "--ngram-orders", "2-2"]


# --- 1. a folder holding a config.json, or a run folder a user added a file to, is never replaced ---

def test_a_folder_with_a_config_json_is_not_taken_for_a_run(tmp_path, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "notes.txt").write_text("n\n")
    (folder / "config.json").write_text("{}\n")
    before = snapshot(folder)
    message = one_line_error(tinyllm.main, [*tiny_args(tmp_path, out="d")], capsys)
    assert "holds files that no run wrote (config.json, notes.txt)" in message
    assert snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "text.txt"]  # no lock, no staging left


def test_a_file_added_to_a_run_folder_stops_the_next_run_from_replacing_it(tmp_path, capsys):
    out = tmp_path / "run"
    good_run(out)
    (out / "weights" / "my_notes.txt").write_text("mine")
    before = snapshot(out)
    with pytest.raises(ValueError, match=r"holds files that no run wrote \(weights/my_notes.txt\)"):
        with run_transaction(out):
            pass
    assert snapshot(out) == before


def test_evaluations_inside_a_run_are_the_project_s_own_and_do_not_block_the_next_run(tmp_path):
    out = tmp_path / "run"
    good_run(out)
    good_run(out / "evaluate" / "MSFT")  # an evaluation: a run folder of its own inside the run
    (out / "evaluate" / ".MSFT.lock").write_text("{}")  # and what a killed evaluation leaves beside it
    good_run(out)
    assert not (out / "evaluate").exists() and (out / "metrics.json").exists()
    good_run(out / "evaluate" / "MSFT")
    (out / "evaluate" / "MSFT" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"no run wrote \(evaluate/MSFT/notes.txt\)"):
        good_run(out)


# --- 2. names that escape ---

@pytest.mark.parametrize("name", ["..", ".", "/tmp/elsewhere", "a/b", "a\\b"])
def test_an_evaluation_name_is_one_folder_name(tmp_path, capsys, name):
    from CodeLLM import evaluate

    out = tmp_path / "run"
    good_run(out)
    before = snapshot(out)
    message = one_line_error(evaluate.main, ["--out", str(out), "--name", name, "--start", "2010-01-01"],
                             capsys)
    assert f"--name {name!r} must name one folder" in message
    assert snapshot(out) == before and not Path("/tmp/elsewhere").exists()


# --- 3. --out as a symbolic link to a folder ---

def test_out_as_a_link_runs_in_the_folder_it_points_to(tmp_path):
    target = tmp_path / "real"
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    for _ in range(2):  # the second run replaces the first through the link
        tinyllm.main(tiny_args(tmp_path, out="link"))
    assert link.is_symlink() and (target / "metrics.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real", "text.txt"]  # no .link.old


def test_a_link_to_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "notes.txt")
    message = one_line_error(tinyllm.main, tiny_args(tmp_path, out="link"), capsys)
    assert "is not a folder" in message and (tmp_path / "notes.txt").read_text() == "keep"


# --- 4. compare.py's --out is a run transaction ---

def test_compare_refuses_a_folder_of_other_files_before_training(tmp_path, capsys):
    from CodeLLM import compare

    out = tmp_path / "cmp"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    argv = ["--preset", "tiny", "--memory-out", str(tmp_path / "m"), "--code-out", str(tmp_path / "c"),
            "--out", str(out)]
    assert "holds files that no run wrote (notes.txt)" in one_line_error(compare.main, argv, capsys)
    assert not (tmp_path / "m").exists() and not (tmp_path / "c").exists()  # nothing was trained
    argv = ["--preset", "tiny", "--memory-out", str(tmp_path / "m"), "--code-out", str(tmp_path / "c"),
            "--out", str(tmp_path / "m")]
    assert "overlaps the run folder" in one_line_error(compare.main, argv, capsys)
    assert snapshot(out) == {"notes.txt": b"mine"}


# --- 5. threads beyond the machine, a full disk while MemoryLLM saves its weights ---

def test_threads_are_capped_to_the_cpus_there_are(capsys):
    runtime._say_capped.cache_clear()  # said once per process: this test must see it
    assert runtime.resolve_threads(100_000) == runtime.usable_cpus()
    assert "--threads 100000 is more than the" in capsys.readouterr().err
    with runtime.torch_settings(100_000) as threads:
        assert threads == runtime.usable_cpus()


def test_memoryllm_on_a_full_disk_gives_one_line_and_keeps_the_good_run(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorflow")
    from MemoryLLM import forecaster
    from MemoryLLM import train as memoryllm

    out = tmp_path / "run"
    good_run(out)
    before = snapshot(out)

    class Usage:
        free = 1000  # bytes: far less than the weights need

    monkeypatch.setattr(forecaster.shutil, "disk_usage", lambda path: Usage)
    message = one_line_error(memoryllm.main, ["--dry-run", "--epochs", "1", "--out", str(out)], capsys)
    assert "not enough free space for" in message and "model.weights.h5" in message
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging folder is left behind


def test_a_failed_hdf5_write_is_one_line_naming_the_file(goog, tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    from common.config import preset_config
    from common.forecast.windows import prepare_forecast_data
    from MemoryLLM import train as memoryllm

    model = memoryllm.KerasLSTMForecaster(preset_config(memoryllm.MemoryConfig, "tiny"),
                                          prepare_forecast_data(goog))

    def disk_full(path, overwrite=True):
        raise RuntimeError("Disable slist on flush dest failure failed (file write failed: errno = 28\n...")

    monkeypatch.setattr(model.model, "save_weights", disk_full)
    with pytest.raises(ValueError, match=r"could not write .*model.weights.h5 \(Disable slist"):
        model.save(tmp_path / "model.weights.h5")
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


# --- 9. a second Ctrl-C, a full disk, and LLMind's interrupted from-scratch model ---

def test_a_second_ctrl_c_during_the_final_evaluation_is_one_line(tmp_path, capsys, monkeypatch):
    tinyllm.main(tiny_args(tmp_path))
    before = snapshot(tmp_path / "run")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tinyllm, "evaluate_fixed_context", interrupted)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: tinyllm.main(tiny_args(tmp_path)))
    assert exit_info.value.code == 130
    error = capsys.readouterr().err
    assert "error: stopped by Ctrl-C" in error and "Traceback" not in error
    assert snapshot(tmp_path / "run") == before


def test_a_full_disk_in_tinyllm_is_one_line(tmp_path, capsys, monkeypatch):
    tinyllm.main(tiny_args(tmp_path))
    before = snapshot(tmp_path / "run")

    def disk_full(history, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(tinyllm, "plot_losses", disk_full)
    message = one_line_error(tinyllm.main, tiny_args(tmp_path), capsys)
    assert message.startswith("error: no space left on the disk writing ") and "loss.png" in message
    assert snapshot(tmp_path / "run") == before


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError(errno.ENOSPC, "No space left on device")])
def test_a_ctrl_c_or_a_full_disk_in_codellm_is_one_line(tmp_path, capsys, monkeypatch, failure):
    from CodeLLM import train as codellm
    from common.forecast import harness

    out = tmp_path / "run"
    good_run(out)
    before = snapshot(out)

    def fails(*args, **kwargs):
        raise failure

    monkeypatch.setattr(harness, "fit", fails)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: codellm.main(["--dry-run", "--out", str(out)]))
    error = capsys.readouterr().err
    assert "Traceback" not in error
    if failure is KeyboardInterrupt:
        assert exit_info.value.code == 130 and "error: stopped by Ctrl-C" in error
    else:
        assert str(exit_info.value.code).startswith("error: no space left on the disk")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no partial folder: no --resume here


def test_an_interrupted_llmind_training_is_marked_interrupted():
    import numpy as np
    import torch
    from torch import nn

    from LLMind.finetune import TrainSettings, train_classifier

    class InterruptedAtOnce(nn.Module):
        """Stands for a network whose first step is cut by Ctrl-C."""

        def __init__(self) -> None:
            super().__init__()
            self.classifier = nn.Linear(2, 3)

        def freeze_below(self, layer: int) -> None:
            pass

        def forward(self, inputs, mask, start_layer):
            raise KeyboardInterrupt

    items = [torch.tensor([1, 2, 3])] * 6
    labels = np.array([0, 1, 2] * 2)
    settings = TrainSettings(start_layer=0, epochs=1, batch_size=2, learning_rate=1e-3,
                             head_learning_rate=1e-3, weight_decay=0.0, warmup_fraction=0.1, min_steps=0,
                             seed=0, max_steps=4)
    result = train_classifier(InterruptedAtOnce(), items, labels, items, labels, settings, log=lambda _: None)
    assert result.interrupted and result.steps == 0
    from LLMind.experiment import Experiment

    assert Experiment._summary(result, 6)["interrupted"] is True  # what metrics.json reports per model


# --- 10. --resume refuses changed data, copies nothing when it refuses, and names the user's file ---

def test_resume_refuses_a_changed_text_without_copying_the_run(tmp_path):
    tinyllm.main(tiny_args(tmp_path))
    before = snapshot(tmp_path / "run")
    changed = "Another text altogether, with other words in it. " * 70
    (tmp_path / "text.txt").write_text(changed, encoding="utf-8")  # the same path, another text
    with pytest.raises(ValueError) as refused:
        tinyllm.main([*tiny_args(tmp_path), "--max-steps", "6", "--resume"])
    message = str(refused.value)
    assert "is not the data the run in" in message and str(tmp_path / "run") in message
    assert ".partial" not in message
    assert snapshot(tmp_path / "run") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "text.txt"]  # nothing was copied


def test_a_refused_resume_names_the_user_s_file_and_copies_nothing(tmp_path):
    tinyllm.main(tiny_args(tmp_path))
    with pytest.raises(ValueError, match="--hidden-size is 32 but the run to resume used 16"):
        tinyllm.main([*tiny_args(tmp_path), "--max-steps", "6", "--resume", "--hidden-size", "32"])
    (tmp_path / "run" / "resume.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=rf"{tmp_path / 'run' / 'resume.pt'} is not a checkpoint"):
        tinyllm.main([*tiny_args(tmp_path), "--max-steps", "6", "--resume"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "text.txt"]


def test_resume_refuses_a_prepared_corpus_prepared_again_from_another_text(tmp_path):
    from common.lm.corpus import PrepareConfig, prepare

    text = tmp_path / "source.txt"
    corpus = tmp_path / "corpus"
    text.write_text("Some text to learn from, said the king, and the queen agreed. " * 60, encoding="utf-8")
    prepare(PrepareConfig(data=str(text), out=str(corpus)))
    argv = tiny_args(tmp_path)
    argv[argv.index("--data") + 1] = str(corpus)
    tinyllm.main(argv)
    text.write_text("Some text to learn from, said the queen, and the king agreed. " * 60, encoding="utf-8")
    prepare(PrepareConfig(data=str(text), out=str(corpus)))
    with pytest.raises(ValueError, match="is not the data the run in"):
        tinyllm.main([*argv, "--max-steps", "6", "--resume"])


# --- 14. a legal name of 250 characters ---

def test_a_250_character_out_name_runs_and_is_replaced(tmp_path):
    name = "r" * 250
    for _ in range(2):
        tinyllm.main(tiny_args(tmp_path, out=name))
    assert (tmp_path / name / "metrics.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "text.txt"])
    assert len(hidden_beside(tmp_path / ("é" * 127), "partial").name.encode()) < 255


# --- smaller things: files follow the umask ---

def test_run_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        good_run(tmp_path / "run")
    finally:
        os.umask(previous)
    for name in ("metrics.json", RUN_MARKER):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o644, name
    assert json.loads((tmp_path / "run" / RUN_MARKER).read_text())["stage"] == "test"
