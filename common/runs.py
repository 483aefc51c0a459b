"""Run folders and atomic writes: a crash never leaves a half-written result or checkpoint.

Every file is written to a temporary name in the same folder and then renamed over the target
(`os.replace` is atomic on one filesystem), so readers see either the old file or the new one.

A whole run is a transaction (`run_transaction`): it writes into a staging folder beside `--out`
and only a complete run becomes `--out`, so a failed, killed or interrupted run never leaves the
previous good run half-replaced, and a lock file keeps two runs out of one folder.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it onto `path`, on error delete it.

        with atomic_path(out / "plot.png") as tmp:
            fig.savefig(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep the suffix so libraries that infer a format from it (savefig, to_csv) still work.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _to_jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays, Paths and dataclasses into JSON values; NaN/inf become null."""
    if is_dataclass(value) and not isinstance(value, type):
        return _to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_text(path: str | Path, text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, payload: Any) -> None:
    """Write `payload` as indented JSON, atomically (numpy values and dataclasses are converted)."""
    write_text(path, json.dumps(_to_jsonable(payload), indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, with an error that names the file when it is missing or broken."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the training script first, or check --out")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); delete it and re-run training") from error


def prepare_run_dir(out: str | Path) -> Path:
    """Create (if needed) and return a run's output folder."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


RUN_MARKER = ".run.json"  # written into every committed run folder: marks a folder a run may replace


@contextlib.contextmanager
def run_transaction(out: str | Path, resume: bool = False, resume_file: str | None = None) -> Iterator[Path]:
    """Hold `out` for one run; yield the staging folder to write into; make it `out` only on success.

        with run_transaction(config.out, resume=config.resume, resume_file="resume.pt") as staging:
            ...  # every file of the run goes into `staging`

    Beside `out` (in `out.parent`) live three hidden names:
      .NAME.lock     the lock: pid, host and start time of the run that holds `out`;
      .NAME.partial  the staging folder; its name is fixed so that a killed run can be resumed;
      .NAME.old      the previous `out` for the instant between the two renames of a commit.

    - A live holder of the lock means refusal (ValueError naming its pid); a lock left by a dead
      process on this host is taken over. The lock is released on exit in every case.
    - Fresh run (`resume=False`): a leftover staging folder is deleted and an empty one created.
    - `resume=True`: continue in the staging folder of an interrupted run when it holds
      `resume_file` (or exists, when `resume_file` is None); else continue from a copy of the
      completed run in `out` when `out / resume_file` exists; else ValueError (nothing to resume).
    - `out` must be absent, empty, or a run folder (one holding RUN_MARKER or a `config.json`, which
      every run writes): a run replaces the whole folder, so `--out outputs` or `--out ~` is refused.
    - Normal exit: RUN_MARKER is written into the staging folder; then `out` -> .NAME.old,
      staging -> `out`, and .NAME.old is deleted.
    - An exception (KeyboardInterrupt and SystemExit included) leaves `out` untouched and the
      staging folder in place for `--resume` (with a message saying so), then propagates. When
      nothing was written since the transaction began (the run was refused before any work), a
      staging folder this transaction created is removed and one it found is left as it was.
    """
    out = Path(out)
    if out.name in ("", ".", ".."):  # `--out .`: name the folder, so that the hidden names beside it exist
        out = out.resolve()
    if out.parent == out:
        raise ValueError(f"{out} cannot be a run folder: choose a folder of its own as --out")
    staging = out.parent / f".{out.name}.partial"
    with _run_lock(out):
        _restore_interrupted_commit(out)
        _check_replaceable(out)
        if resume:
            created = _prepare_resume(out, staging, resume_file)
        else:
            if staging.exists():
                shutil.rmtree(staging)
            staging.mkdir()
            created = True
        started = time.time()
        try:
            yield staging
        except BaseException:
            if not _written_since(staging, started):
                # Refused before any work (a bad option, a mismatch with the run to resume): a staging
                # folder made by this run holds nothing new, and one already there is as it was.
                if created:
                    shutil.rmtree(staging, ignore_errors=True)
            else:
                print(f"the run stopped before it finished: {out} is unchanged; its partial results are in "
                      f"{staging} (continue with --resume, or a fresh run deletes them)", file=sys.stderr)
            raise
        write_json(staging / RUN_MARKER, {"pid": os.getpid(), "host": socket.gethostname(),
                                          "finished": datetime.datetime.now().isoformat(timespec="seconds")})
        _commit(staging, out)


def _check_replaceable(out: Path) -> None:
    """Refuse an `--out` whose replacement would lose something that is not a run: a file, a folder
    holding the current directory, or a folder of other files (such as `outputs/` itself or a home
    folder). A run folder carries RUN_MARKER or a `config.json` (a run folder written without the
    marker still holds its config)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder: choose another --out, or move that file away")
    target, cwd = out.resolve(), Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise ValueError(f"{out} holds the current folder, and a run replaces its --out folder as a whole: "
                         "choose a folder of its own, e.g. outputs/my_run")
    names = sorted(path.name for path in out.iterdir())
    if names and RUN_MARKER not in names and "config.json" not in names:
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise ValueError(f"{out} holds files that no run wrote ({shown}), and a run replaces its --out "
                         "folder as a whole: choose a new or empty folder")


def _written_since(folder: Path, since: float) -> bool:
    """Whether anything in `folder` was written at or after `since` (copies keep their old times)."""
    if not folder.is_dir():
        return False
    return any(path.stat().st_mtime >= since for path in folder.rglob("*") if path.is_file())


def _prepare_resume(out: Path, staging: Path, resume_file: str | None) -> bool:
    """Make `staging` the folder to continue in, or refuse when there is nothing to resume.
    Returns whether `staging` was created here (a copy of `out`) rather than found."""
    staging_usable = staging.is_dir() and (resume_file is None or (staging / resume_file).exists())
    if staging_usable:
        print(f"resuming the interrupted run in {staging}")
        return False
    if resume_file is not None and (out / resume_file).is_file():
        if staging.exists():
            shutil.rmtree(staging)  # an interrupted run that never reached its first resume point
        shutil.copytree(out, staging, symlinks=True)  # copy2 keeps modification times
        print(f"resuming the completed run in {out} (working on a copy until it finishes)")
        return True
    wanted = f" (no {resume_file})" if resume_file else ""
    raise ValueError(f"nothing to resume in {out}{wanted}: run without --resume first")


def _commit(staging: Path, out: Path) -> None:
    """Swap the finished staging folder in as `out` with renames only (no copy that could half-fail)."""
    old = out.parent / f".{out.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        os.rename(out, old)
    os.rename(staging, out)  # a crash between these two renames is repaired by the next transaction
    shutil.rmtree(old, ignore_errors=True)


def _restore_interrupted_commit(out: Path) -> None:
    """A crash between the two renames of `_commit` leaves `out` missing and `.NAME.old` present:
    put the old run back. If both exist, the commit finished and only the deletion was missed."""
    old = out.parent / f".{out.name}.old"
    if not old.exists():
        return
    if out.exists():
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(old, out)


@contextlib.contextmanager
def _run_lock(out: Path) -> Iterator[Path]:
    """Create `.NAME.lock` beside `out` exclusively (O_CREAT | O_EXCL), holding pid, host and time."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise ValueError(f"cannot create the folder for {out} ({error}): choose another --out") from error
    lock = out.parent / f".{out.name}.lock"
    holder = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": datetime.datetime.now().isoformat(timespec="seconds")}
    for _ in range(3):  # a stale lock is removed and creation tried again
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            _remove_if_stale(lock, out)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(holder, file)
        break
    else:
        raise ValueError(f"could not take the lock {lock}: another run keeps taking it; try again")
    try:
        yield lock
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(lock.read_text(encoding="utf-8")).get("pid") == os.getpid():
                lock.unlink()


def _remove_if_stale(lock: Path, out: Path) -> None:
    """Delete `lock` if its holder is a dead process on this host; raise ValueError if it is alive."""
    try:
        text = lock.read_text(encoding="utf-8")
    except FileNotFoundError:
        return  # released meanwhile
    try:
        holder = json.loads(text)
        pid, host, since = int(holder["pid"]), str(holder["host"]), str(holder.get("since", "?"))
    except (ValueError, KeyError, TypeError):
        # Empty or unreadable: a run may be between creating the file and writing it. Only an old
        # unreadable lock is stale.
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return
        if age > 10:
            _take_over(lock, text)
            return
        raise ValueError(f"{out} is being taken by another run (lock {lock}): "
                         "wait for it or choose another --out") from None
    if host == socket.gethostname() and not _process_alive(pid):
        print(f"taking over the stale lock of pid {pid} (no longer running) on {out}")
        _take_over(lock, text)
        return
    where = "" if host == socket.gethostname() else f" on host {host}"
    raise ValueError(f"{out} is in use by pid {pid}{where} since {since}: "
                     f"wait for it or choose another --out (if no such run is alive, delete {lock})")


def _take_over(lock: Path, stale_text: str) -> None:
    """Remove the stale lock whose content was `stale_text`, and nothing else.

    Two runs may find the same stale lock; the first removes it and creates its own. Deleting by
    name could then delete that fresh lock, so the lock is first renamed away (atomic: only one run
    moves a given file) and, if what was moved is not the stale lock, linked back (os.link never
    overwrites)."""
    grave = lock.with_name(f"{lock.name}.{os.getpid()}.stale")
    try:
        os.rename(lock, grave)
    except FileNotFoundError:
        return  # another run removed it first
    try:
        if grave.read_text(encoding="utf-8") != stale_text:
            with contextlib.suppress(FileExistsError):
                os.link(grave, lock)
    finally:
        grave.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 checks without sending anything)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return True  # os.kill on Windows terminates the process: never probe there, assume alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists but belongs to another user
    return True
