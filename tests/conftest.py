"""Shared fixtures: the embedded GOOG prices, loaded once per test session."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from common.data import load_prices


@pytest.fixture(scope="session")
def goog() -> pd.DataFrame:
    return load_prices("GOOG", source="embedded")


@pytest.fixture(autouse=True)
def _restore_float_mode():
    """Training scripts flush denormal floats to zero for speed (a process-wide CPU flag); undo it
    after each test so tests that generate tiny floats (hypothesis) see the normal mode."""
    yield
    if "torch" in sys.modules:
        sys.modules["torch"].set_flush_denormal(False)
