"""Helpers of the hostile-input tests (test_bad_inputs.py, test_run_safety.py): what a folder held, byte
for byte, and the one line a command-line run ends with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from common.config import run_cli


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: equal snapshots mean a byte-identical folder."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(main: Callable[[list[str]], object], argv: list[str],
                   capsys: pytest.CaptureFixture) -> str:
    """Run `main(argv)` as the command line does; return its error line, after checking it is one line
    with no traceback."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: main(argv))
    message = str(exit_info.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    assert "Traceback" not in capsys.readouterr().err
    return message
