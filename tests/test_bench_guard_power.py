"""benchmarks/bench_guard_power.py: the guard's power curve, simulated (the network runs are the
benchmark's, not the suite's)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_guard_power

    return bench_guard_power


def test_train_tail_doubles_the_guard_s_windows(bench):
    windows = bench.guard_windows(3000)
    assert windows["train-tail"] >= 2 * windows["validation-half"]


def test_simulated_guard_holds_its_level_and_keeps_the_oracle(bench):
    rng = np.random.default_rng(1)
    # skill 0: a forecast exactly as good as naive is kept about 5 % of the time, no more
    assert bench.simulate(0.5, 0.01, 20, 0.0, 222, 300, rng) <= 0.09
    # the oracle on a strong series is all but always kept, and more windows never lose power
    half = bench.simulate(0.5, 0.01, 20, 0.6, 222, 200, rng)
    whole = bench.simulate(0.5, 0.01, 20, 0.6, 445, 200, rng)
    assert bench.simulate(0.5, 0.01, 20, 1.0, 222, 100, rng) >= 0.9 and whole > half


def test_command_writes_the_curves_it_prints(bench, tmp_path: Path):
    bench.main(["--skills", "0", "1", "--draws", "10", "--phis", "0.5", "--noises", "0.01", "--out",
                str(tmp_path)])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert {(c["select_on"], c["skill"]) for c in saved["simulated"]} == {
        (cut, skill) for cut in ("validation-half", "train-tail") for skill in (0.0, 1.0)}
    assert all(0 <= c["kept_share"] <= 1 for c in saved["simulated"]) and saved["networks"] == []
    assert (tmp_path / "power.png").is_file() and "| phi 0.5" in (tmp_path / "results.md").read_text()
