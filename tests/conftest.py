"""Shared fixtures: the embedded GOOG prices, loaded once per test session."""

from __future__ import annotations

import pandas as pd
import pytest

from common.data import load_prices


@pytest.fixture(scope="session")
def goog() -> pd.DataFrame:
    return load_prices("GOOG", source="embedded")
