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
