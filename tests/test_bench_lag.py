"""benchmarks/bench_lag.py on the stages' tiny preset: the table in the stage READMEs is its results.md,
built from the results.json it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_lag_benchmark_writes_the_table_from_its_json(tmp_path: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_lag

    result = bench_lag.main(["--lags", "1", "--seeds", "7", "--days", "700", "--models", "transformer",
                             "--preset", "tiny", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["runs"] == json.loads(json.dumps(result["runs"]))
    assert [(run["lag"], run["seed"]) for run in saved["runs"]] == [(1, 7), (0, 7)]  # + the random walk
    lag_run, walk = saved["runs"]
    assert 0 < lag_run["oracle"] < 1 and walk["oracle"] == pytest.approx(1.0)  # the oracle beats naive
    network = lag_run["transformer"]
    if not network["kept"]:  # the guard's fallback is naive: RMSE / naive exactly 1
        assert network["guarded"] == pytest.approx(1.0)
    table = (tmp_path / "results.md").read_text()
    assert "| 1 |" in table and "random walk" in table and "seeds [7]" in table
