"""Run folders and atomic writes: a crash never leaves a half-written result or checkpoint.

Every file is written to a temporary name in the same folder and then renamed over the target
(`os.replace` is atomic on one filesystem), so readers see either the old file or the new one.

A whole run is a transaction (`run_transaction`): it writes into a staging folder beside `--out`
and only a complete run becomes `--out`, so a failed, killed or interrupted run never leaves the
previous good run half-replaced, and a lock file keeps two runs out of one folder. A run folder
carries a marker (RUN_MARKER) listing the files its run wrote: a folder holding any other file is the
user's, and no run replaces it.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
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
    tmp = new_temporary_file(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def new_temporary_file(path: Path, suffix: str = "") -> Path:
    """Create an empty, uniquely named hidden file beside `path` and return its path. Its mode follows
    the umask, as any file the user creates (tempfile.mkstemp's files are private, mode 0600, which
    makes a shared run folder unreadable to the others). It keeps `path`'s suffix (then `suffix`), so
    libraries that infer a format from it (savefig, to_csv, Keras' .weights.h5) still work."""
    for _ in range(100):
        tmp = path.parent / f".{path.stem[:100]}.{secrets.token_hex(4)}.tmp{path.suffix}{suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")


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
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}); delete it and re-run training") from None
    except RecursionError:  # nesting thousands of levels deep: no file this project writes
        raise ValueError(f"{path} is not a file this project wrote (its JSON is nested too deeply); delete "
                         "it and re-run training") from None


RUN_MARKER = ".run.json"  # written into every committed run folder: what the run wrote, and by which stage
RUN_FORMAT = 1  # the marker's format: 1 lists the run's files
# What nested transactions (an evaluation in OUT/evaluate/NAME) leave beside their folder while they run
# or after they fail: the project's own, so a run folder holding them may still be replaced.
_TRANSACTION_LEFTOVER = re.compile(r"^\..+\.(lock|partial|old)$")
_MAX_HIDDEN_NAME_BYTES = 200  # below the 255-byte limit of a file name, with room for `.lock.PID.stale`


class RunDiverged(ValueError):
    """A run whose training went wrong past repair (its loss became NaN or infinite): raised inside a
    `run_transaction`, it removes the staging folder, since nothing in it is worth resuming."""


@contextlib.contextmanager
def run_transaction(
    out: str | Path, resume: bool = False, resume_file: str | None = None, stage: str = "",
    check_resume: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Hold `out` for one run; yield the staging folder to write into; make it `out` only on success.

        with run_transaction(config.out, resume=config.resume, resume_file="resume.pt") as staging:
            ...  # every file of the run goes into `staging`

    Beside `out` (in `out.parent`) live three hidden names (NAME shortened with a hash when long):
      .NAME.lock     the lock: pid, host and start time of the run that holds `out`;
      .NAME.partial  the staging folder; its name is fixed so that a killed run can be resumed;
      .NAME.old      the previous `out` for the instant between the two renames of a commit.

    - `out` as a symbolic link to a folder: the transaction happens at the link's target, and the
      link keeps pointing at the run.
    - A live holder of the lock means refusal (ValueError naming its pid); a lock left by a dead
      process on this host is taken over. The lock is released on exit in every case.
    - `out` must be absent, empty, or a run folder holding only what runs wrote: RUN_MARKER lists
      the files of its run, and a file it does not list is the user's, so the folder is refused
      rather than replaced (`--out outputs`, `--out ~`, a folder with a stray config.json).
    - Fresh run (`resume=False`): a leftover staging folder is deleted and an empty one created.
    - `resume=True` (a stage whose runs can be continued passes its `resume_file`): continue in the
      staging folder of an interrupted run when it holds `resume_file`; else in a copy of the
      completed run in `out` when `out / resume_file` exists; else ValueError (nothing to resume).
      `check_resume(folder)` is called on the run to continue before anything is copied, so a
      refused resume costs nothing and its error names the user's own files.
    - Normal exit: RUN_MARKER (stage, format, the list of files) is written into the staging folder;
      then `out` -> .NAME.old, staging -> `out`, and .NAME.old is deleted.
    - An exception (KeyboardInterrupt and SystemExit included) leaves `out` untouched, then
      propagates. A run that can be resumed (`resume_file` given) keeps its staging folder for
      `--resume` and says so, unless it failed with `RunDiverged`; otherwise the staging folder is
      removed. When nothing was written since
      the transaction began (refused before any work), a staging folder this transaction created is
      removed and one it found is left as it was.
    """
    out = _follow_link(Path(out))
    if out.name in ("", ".", ".."):  # `--out .`: name the folder, so that the hidden names beside it exist
        out = out.resolve()
    if out.parent == out:
        raise ValueError(f"{out} cannot be a run folder: choose a folder of its own as --out")
    staging = hidden_beside(out, "partial")
    resumable = resume_file is not None
    with _run_lock(out):
        _restore_interrupted_commit(out)
        _check_replaceable(out)
        if resume:
            created = _prepare_resume(out, staging, resume_file, check_resume)
        else:
            if staging.exists():
                _remove(staging)
            staging.mkdir()
            created = True
        started = time.time()
        try:
            yield staging
        except BaseException as error:
            if not _written_since(staging, started):
                # Refused before any work (a bad option, a mismatch with the run to resume): a staging
                # folder made by this run holds nothing new, and one already there is as it was.
                if created:
                    shutil.rmtree(staging, ignore_errors=True)
            elif resumable and not isinstance(error, RunDiverged):
                print(f"the run stopped before it finished: {out} is unchanged; its partial results are in "
                      f"{staging} (continue with --resume, or a fresh run deletes them)", file=sys.stderr)
            else:
                shutil.rmtree(staging, ignore_errors=True)
                print(f"the run stopped before it finished: {out} is unchanged", file=sys.stderr)
            raise
        write_json(staging / RUN_MARKER, {
            "format": RUN_FORMAT, "stage": stage, "files": _files_in(staging), "pid": os.getpid(),
            "host": socket.gethostname(), "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        })
        _commit(staging, out)


def hidden_beside(out: Path, kind: str) -> Path:
    """`.NAME.kind` beside `out` (kind: lock, partial, old). A name too long to take the dots and the
    kind (a file name has at most 255 bytes) is cut and given a hash of the whole, so that each
    `--out` keeps names of its own."""
    name = out.name
    if len(name.encode("utf-8")) > _MAX_HIDDEN_NAME_BYTES:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        name = name.encode("utf-8")[:150].decode("utf-8", errors="ignore") + "-" + digest
    return out.parent / f".{name}.{kind}"


def _follow_link(out: Path) -> Path:
    """`out`, or the folder it links to: renaming a link would replace the link, not the run."""
    if not out.is_symlink():
        return out
    try:
        target = out.resolve(strict=False)
    except (OSError, RuntimeError) as error:  # a loop of links
        raise ValueError(f"--out {out} is a symbolic link that leads nowhere ({error}): "
                         "choose a folder") from None
    if target.exists() and not target.is_dir():
        raise ValueError(f"--out {out} links to {target}, which is not a folder: choose a folder as --out")
    return target


def _files_in(folder: Path) -> list[str]:
    """Every file under `folder`, as paths relative to it ("sub/weights.bin")."""
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")
                  if path.is_file() or path.is_symlink())


def _check_replaceable(out: Path) -> None:
    """Refuse an `--out` whose replacement would lose something that is not a run: a file, a folder
    holding the current directory, or a folder with any file that no run wrote (`outputs/` itself, a
    home folder, a folder of notes that happens to hold a config.json)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"{out} exists and is not a folder: choose another --out, or move that file away")
    target, cwd = out.resolve(), Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise ValueError(f"{out} holds the current folder, and a run replaces its --out folder as a whole: "
                         "choose a folder of its own, e.g. outputs/my_run")
    strays = files_no_run_wrote(out)
    if strays:
        shown = ", ".join(strays[:3]) + (", ..." if len(strays) > 3 else "")
        raise ValueError(f"{out} holds files that no run wrote ({shown}), and a run replaces its --out "
                         "folder as a whole: move them away, or choose a new or empty folder")


def files_no_run_wrote(folder: Path) -> list[str]:
    """The entries of `folder` that are not a run's own: every entry when it carries no RUN_MARKER;
    else every file its marker does not list, outside nested run folders (OUT/evaluate/NAME, which
    carry their own marker) and their transactions' leftovers."""
    marker = _read_marker(folder)
    if marker is None:
        return sorted(path.name for path in folder.iterdir())
    if marker.get("files") is None:  # a marker of the first format, which did not list the files
        return []
    listed = set(marker["files"])
    strays: list[str] = []

    def walk(directory: Path) -> None:
        for path in sorted(directory.iterdir()):
            relative = path.relative_to(folder).as_posix()
            if relative in listed or relative == RUN_MARKER:
                continue
            if directory != folder and _TRANSACTION_LEFTOVER.match(path.name):
                continue  # the lock, staging or old folder of a nested run
            if path.is_dir() and not path.is_symlink():
                if (path / RUN_MARKER).is_file():  # a run of its own inside this one
                    strays.extend(f"{relative}/{name}" for name in files_no_run_wrote(path))
                else:
                    walk(path)
            else:
                strays.append(relative)

    walk(folder)
    return strays


def _read_marker(folder: Path) -> dict[str, Any] | None:
    """The RUN_MARKER of `folder` when it is one this project wrote, else None."""
    try:
        marker = json.loads((folder / RUN_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or "finished" not in marker:
        return None
    files = marker.get("files")
    if files is not None and not (isinstance(files, list) and all(isinstance(f, str) for f in files)):
        return None
    return marker


def _written_since(folder: Path, since: float) -> bool:
    """Whether anything in `folder` was written at or after `since` (copies keep their old times)."""
    if not folder.is_dir():
        return False
    return any(path.stat().st_mtime >= since for path in folder.rglob("*") if path.is_file())


def _prepare_resume(
    out: Path, staging: Path, resume_file: str | None, check_resume: Callable[[Path], None] | None,
) -> bool:
    """Make `staging` the folder to continue in, or refuse when there is nothing to resume.
    Returns whether `staging` was created here (a copy of `out`) rather than found."""
    if resume_file is None:
        raise ValueError("this run cannot be resumed: run without --resume")
    if staging.is_dir() and (staging / resume_file).exists():
        if check_resume is not None:
            check_resume(staging)
        print(f"resuming the interrupted run in {staging}")
        return False
    if (out / resume_file).is_file():
        if check_resume is not None:
            check_resume(out)  # before copying: a refusal costs nothing and names the user's file
        if staging.exists():
            _remove(staging)  # an interrupted run that never reached its first resume point
        shutil.copytree(out, staging, symlinks=True)  # copy2 keeps modification times
        print(f"resuming the completed run in {out} (working on a copy until it finishes)")
        return True
    raise ValueError(f"nothing to resume in {out} (no {resume_file}): run without --resume first")


def _remove(path: Path) -> None:
    """Delete a folder of the project's, or a file or link in its place (rmtree refuses a link)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _commit(staging: Path, out: Path) -> None:
    """Swap the finished staging folder in as `out` with renames only (no copy that could half-fail)."""
    old = hidden_beside(out, "old")
    if old.exists() or old.is_symlink():
        _remove(old)
    if out.exists():
        os.rename(out, old)
    os.rename(staging, out)  # a crash between these two renames is repaired by the next transaction
    with contextlib.suppress(OSError):
        _remove(old)


def _restore_interrupted_commit(out: Path) -> None:
    """A crash between the two renames of `_commit` leaves `out` missing and `.NAME.old` present:
    put the old run back. If both exist, the commit finished and only the deletion was missed."""
    old = hidden_beside(out, "old")
    if not (old.exists() or old.is_symlink()):
        return
    if out.exists():
        with contextlib.suppress(OSError):
            _remove(old)
    else:
        os.rename(old, out)


@contextlib.contextmanager
def _run_lock(out: Path) -> Iterator[Path]:
    """Create `.NAME.lock` beside `out` exclusively (O_CREAT | O_EXCL), holding pid, host and time."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise ValueError(f"cannot create the folder for {out} ({error}): choose another --out") from error
    lock = hidden_beside(out, "lock")
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
