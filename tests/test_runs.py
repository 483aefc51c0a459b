"""Runs are transactions: a failed, killed or concurrent run never damages the good run in --out."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from common.paths import REPO_ROOT
from common.runs import RUN_MARKER, run_transaction


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: two equal snapshots mean a byte-identical folder."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def good_run(out: Path, label: str = "first") -> None:
    with run_transaction(out) as staging:
        (staging / "metrics.json").write_text(json.dumps({"run": label}))
        (staging / "sub").mkdir()
        (staging / "sub" / "weights.bin").write_bytes(os.urandom(64))


def test_a_good_run_becomes_the_folder_and_leaves_nothing_beside_it(tmp_path):
    good_run(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == {"run": "first"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no lock, staging or old folder left


def test_a_failing_run_leaves_the_previous_run_byte_identical(tmp_path, capsys):
    out = tmp_path / "run"
    good_run(out)
    before = snapshot(out)
    with pytest.raises(RuntimeError, match="boom"), run_transaction(out, resume_file="resume.pt") as staging:
        (staging / "metrics.json").write_text("half")
        raise RuntimeError("boom")
    assert snapshot(out) == before
    assert "continue with --resume" in capsys.readouterr().err
    assert (tmp_path / ".run.partial" / "metrics.json").read_text() == "half"  # kept for --resume
    assert not (tmp_path / ".run.lock").exists()


def test_a_failed_run_that_cannot_be_resumed_leaves_no_partial_folder_and_no_resume_advice(tmp_path, capsys):
    out = tmp_path / "run"
    good_run(out)
    before = snapshot(out)
    with pytest.raises(RuntimeError, match="boom"), run_transaction(out) as staging:
        (staging / "metrics.json").write_text("half")
        raise RuntimeError("boom")
    assert snapshot(out) == before
    error = capsys.readouterr().err
    assert "is unchanged" in error and "--resume" not in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_keyboard_interrupt_also_leaves_the_previous_run(tmp_path):
    out = tmp_path / "run"
    good_run(out)
    before = snapshot(out)
    with pytest.raises(KeyboardInterrupt), run_transaction(out) as staging:
        (staging / "metrics.json").write_text("half")
        raise KeyboardInterrupt
    assert snapshot(out) == before


def test_a_sigkilled_run_leaves_the_previous_run_and_its_stale_lock_is_taken_over(tmp_path):
    out = tmp_path / "run"
    good_run(out)
    before = snapshot(out)
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from common.runs import run_transaction
        with run_transaction({str(out)!r}) as staging:
            (staging / "metrics.json").write_text("from the killed run")
            print("ready", flush=True)
            time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        # While it lives, a second run into the same folder is refused with the holder's pid.
        with pytest.raises(ValueError, match=f"in use by pid {child.pid} .*choose another --out"):
            with run_transaction(out):
                pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert snapshot(out) == before
    assert (tmp_path / ".run.lock").exists()  # the dead run's lock is still there...
    good_run(out, "second")  # ...and is taken over
    assert json.loads((out / "metrics.json").read_text()) == {"run": "second"}
    assert not (tmp_path / ".run.lock").exists()


def test_a_second_run_while_the_first_holds_the_lock_is_refused(tmp_path):
    out = tmp_path / "run"
    with run_transaction(out) as staging:
        (staging / "a.txt").write_text("a")
        with pytest.raises(ValueError, match=rf"{out} is in use by pid {os.getpid()} since "):
            with run_transaction(out):
                pass
    assert (out / "a.txt").read_text() == "a"  # the refused run did not disturb the first


def test_a_lock_held_on_another_host_is_respected(tmp_path):
    out = tmp_path / "run"
    lock = tmp_path / ".run.lock"
    lock.write_text(json.dumps({"pid": 1, "host": socket.gethostname() + "-elsewhere", "since": "noon"}))
    with pytest.raises(ValueError, match="in use by pid 1 on host .*delete"):
        with run_transaction(out):
            pass
    assert lock.exists()


def test_a_stale_lock_of_a_dead_pid_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is now free (reuse within the test is vanishingly unlikely)
    (tmp_path / ".run.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(),
                                                    "since": "x"}))
    good_run(tmp_path / "run")
    assert (tmp_path / "run" / "metrics.json").exists()


def test_an_old_unreadable_lock_is_stale_and_a_fresh_one_is_not(tmp_path):
    lock = tmp_path / ".run.lock"
    lock.write_text("")
    with pytest.raises(ValueError, match="being taken by another run"):
        with run_transaction(tmp_path / "run"):
            pass
    old = time.time() - 60
    os.utime(lock, (old, old))
    good_run(tmp_path / "run")


def test_out_naming_a_file_is_refused_and_the_file_kept(tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("precious")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        with run_transaction(out):
            pass
    assert out.read_text() == "precious"


def test_resume_continues_in_the_staging_folder_of_an_interrupted_run(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt), run_transaction(out, resume_file="resume.pt") as staging:
        (staging / "resume.pt").write_text("step 3")
        raise KeyboardInterrupt
    with run_transaction(out, resume=True, resume_file="resume.pt") as staging:
        assert (staging / "resume.pt").read_text() == "step 3"
        (staging / "resume.pt").write_text("step 6")
    assert (out / "resume.pt").read_text() == "step 6"


def test_resume_continues_a_completed_run_from_a_copy(tmp_path):
    out = tmp_path / "run"
    with run_transaction(out) as staging:
        (staging / "resume.pt").write_text("step 3")
    with pytest.raises(RuntimeError), run_transaction(out, resume=True, resume_file="resume.pt") as staging:
        (staging / "resume.pt").write_text("step 4, then a crash")
        raise RuntimeError
    assert (out / "resume.pt").read_text() == "step 3"  # the completed run is untouched


def test_resume_with_nothing_to_resume_is_refused(tmp_path):
    with pytest.raises(ValueError, match="nothing to resume in .*run without --resume first"):
        with run_transaction(tmp_path / "run", resume=True, resume_file="resume.pt"):
            pass
    good_run(tmp_path / "run")  # a completed run without resume.pt is not resumable either
    with pytest.raises(ValueError, match="nothing to resume"):
        with run_transaction(tmp_path / "run", resume=True, resume_file="resume.pt"):
            pass


def test_a_fresh_run_deletes_a_leftover_staging_folder(tmp_path):
    with pytest.raises(RuntimeError), run_transaction(tmp_path / "run", resume_file="resume.pt") as staging:
        (staging / "junk").write_text("x")
        raise RuntimeError
    with run_transaction(tmp_path / "run") as staging:
        assert list(staging.iterdir()) == []


def test_a_crash_between_the_two_renames_is_repaired(tmp_path):
    good_run(tmp_path / "run")
    before = snapshot(tmp_path / "run")
    os.rename(tmp_path / "run", tmp_path / ".run.old")  # as if killed right after the first rename
    with pytest.raises(RuntimeError), run_transaction(tmp_path / "run"):
        raise RuntimeError
    assert snapshot(tmp_path / "run") == before


def test_a_run_refused_before_writing_leaves_no_staging_folder_behind(tmp_path, capsys):
    out = tmp_path / "run"
    with run_transaction(out) as staging:
        (staging / "resume.pt").write_text("step 3")
    old = time.time() - 60
    os.utime(out / "resume.pt", (old, old))  # the copy keeps this time: older than the next transaction
    with pytest.raises(ValueError, match="--hidden-size differs"):
        with run_transaction(out, resume=True, resume_file="resume.pt"):
            raise ValueError("--hidden-size differs")  # as a stage's check of the saved options would
    with pytest.raises(ValueError), run_transaction(out):
        raise ValueError("bad option")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert "partial results" not in capsys.readouterr().err


def test_a_folder_of_other_files_is_never_replaced(tmp_path, monkeypatch):
    parent = tmp_path / "outputs"
    (parent / "MemoryLLM").mkdir(parents=True)
    (parent / "notes.txt").write_text("precious")
    with pytest.raises(ValueError, match=r"holds files that no run wrote \(MemoryLLM, notes.txt\)"):
        with run_transaction(parent):
            pass
    assert (parent / "notes.txt").read_text() == "precious" and (parent / "MemoryLLM").is_dir()
    monkeypatch.chdir(tmp_path / "outputs" / "MemoryLLM")
    with pytest.raises(ValueError, match="holds the current folder"):
        with run_transaction("."):
            pass


def test_a_run_folder_is_marked_with_its_files_and_a_first_format_marker_is_replaceable(tmp_path):
    good_run(tmp_path / "run")
    marker = json.loads((tmp_path / "run" / RUN_MARKER).read_text())
    assert marker["pid"] == os.getpid() and marker["format"] == 1
    assert marker["files"] == ["metrics.json", "sub/weights.bin"]
    first_format = tmp_path / "first"
    first_format.mkdir()
    (first_format / "metrics.json").write_text("{}")  # the marker of the first format listed no files
    (first_format / RUN_MARKER).write_text(json.dumps({"pid": 1, "host": "h", "finished": "noon"}))
    good_run(first_format)
    assert json.loads((first_format / "metrics.json").read_text()) == {"run": "first"}


def test_taking_over_a_stale_lock_never_removes_a_fresh_one_that_replaced_it(tmp_path):
    from common.runs import _take_over

    lock = tmp_path / ".run.lock"
    lock.write_text('{"pid": 2, "host": "h", "since": "now"}')  # another run took the stale lock over first
    _take_over(lock, '{"pid": 1, "host": "h", "since": "then"}')
    assert lock.read_text() == '{"pid": 2, "host": "h", "since": "now"}'
    _take_over(lock, lock.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == []
