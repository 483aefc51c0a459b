"""Shared fixtures: the embedded GOOG prices (loaded once per session) and one PyTorch thread.

The test session is an entry point like a training script: it sets the environment that PyTorch's
OpenMP and TensorFlow read as they load, so tests get the numbers the scripts get (common/runtime.py).
"""

from __future__ import annotations

import os

from common import runtime

# The test workers share the cores: there a spinning OpenMP thread takes its neighbour's core, so tests
# (and the scripts they start) wait passively (common/runtime.py, GOMP_SPINCOUNT).
os.environ.setdefault("GOMP_SPINCOUNT", "0")
runtime.prepare_environment()

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from common.forecast.prices import load_prices  # noqa: E402


@pytest.fixture(scope="session")
def goog() -> pd.DataFrame:
    return load_prices("GOOG", source="embedded")


@pytest.fixture
def one_thread():
    """Tiny models split badly across threads: one thread is faster and leaves the other core free."""
    with runtime.torch_settings(threads=1):
        yield
