"""Every path the project uses, built from the repository root (never from the current directory)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
CACHE_DIR = DATA_DIR / "cache"  # yfinance downloads; git-ignored
OUTPUTS_DIR = REPO_ROOT / "outputs"


def output_dir(*parts: str) -> Path:
    """The default output folder of a stage or job, e.g. `output_dir("MemoryLLM")`."""
    return OUTPUTS_DIR.joinpath(*parts)


def folder_name(name: str, flag: str) -> str:
    """`name` when it names one folder inside another, else a ValueError naming `flag`: a name with a
    separator, `..` or `.` would write outside that folder, or over it."""
    if (name in ("", ".", "..") or any(char in name for char in "/\\\0")
            or len(name.encode("utf-8", errors="replace")) > 255):
        raise ValueError(f"{flag} {name!r} must name one folder (no '/' or '\\', not '.' or '..', at most "
                         f"255 bytes), e.g. {flag} msft_2020")
    return name
