"""benchmarks/bench_targets.py on its tiny preset: it writes the numbers the volatility and direction
tables of MemoryLLM/README.md and CodeLLM/README.md read — every seed's run, mean ± std over the seeds
and the three constants beside HAR-RV — and those numbers agree with the runs' own files."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SEEDS = [42, 43]  # two: a spread needs two values


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))  # benchmarks/ is a folder of scripts, not a package
    try:
        import bench_targets
    finally:
        sys.path.remove(str(BENCHMARKS))
    return bench_targets


def run_tiny(bench, out: Path, target: str, seeds: list[int]) -> dict:
    """The Transformer (the faster stage; the LSTM goes through the same `run(config)` path) on the
    tiny preset (its one thread included)."""
    return bench.main(["--preset", "tiny", "--models", "transformer", "--targets", target,
                       "--seeds", *map(str, seeds), "--out", str(out)])


@pytest.fixture(scope="module")
def tiny(bench, tmp_path_factory):
    """Volatility on two seeds: the seed spread and the three constants."""
    out = tmp_path_factory.mktemp("bench_targets")
    return out, run_tiny(bench, out, "volatility", SEEDS)


def finite(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def check_results(bench, out: Path, results: dict, target: str, seeds: list[int]) -> None:
    """results.json holds what the README table of `target` reads, and the summary is the runs' own."""
    written = json.loads((out / "results.json").read_text())
    assert written == json.loads(json.dumps(results))
    assert list(written["targets"]) == [target]
    result = written["targets"][target]
    runs = result["runs"]["transformer"]
    assert [run["seed"] for run in runs] == seeds
    summary = result["models"]["transformer"]
    assert summary["seeds"] == seeds and summary["runs"] == len(seeds)
    assert summary["kept"] == sum(run["kept"] for run in runs)
    assert all(0 <= p <= 1 for p in summary["guard_pvalues"])
    for run in runs:  # the single-seed columns of the README tables
        for key, _, _ in bench.COLUMNS[target]:
            assert finite(run["as_trained"][key]), (target, key)
    for forecast in ("as_trained", "guarded"):
        for key in bench.SEED_METRICS[target]:  # the "seeds 42–44" columns
            entry = summary[forecast][key]
            values = [run[forecast][key] for run in runs]
            assert entry["values"] == values and all(finite(value) for value in values)
            assert math.isclose(entry["mean"], float(np.mean(values)), rel_tol=1e-12)
            spread = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            assert math.isclose(entry["std"], spread, rel_tol=1e-9, abs_tol=1e-15)
    fallback = "har" if target == "volatility" else "base_rate"
    assert fallback in result["baselines"] and result["baselines_identical"]
    for run in runs:  # a guard that fell back deploys the fallback, number for number
        if not run["kept"]:
            assert run["guarded"] == result["baselines"][fallback]
    assert result["scored"]["windows"] > 0
    assert "| Transformer as trained |" in (out / "results.md").read_text()


def test_volatility_results_hold_every_seed_and_the_mean_of_them(bench, tiny):
    out, results = tiny
    check_results(bench, out, results, "volatility", SEEDS)
    text = (out / "results.md").read_text()
    assert "RMSE / HAR, seeds 42–43" in text and "| validation mean |" in text


def test_direction_results_hold_what_the_direction_table_reads(bench, tmp_path):
    results = run_tiny(bench, tmp_path, "direction", [44])  # one seed: the spread's path is tested above
    check_results(bench, tmp_path, results, "direction", [44])
    assert "levels" not in results["targets"]["direction"]  # the constants are volatility's


def test_constants_are_scored_on_the_runs_own_test_windows(tiny):
    """The three constants, recomputed by hand from a run's predictions.csv (actual and HAR-RV per window)."""
    out, results = tiny
    levels = results["targets"]["volatility"]["levels"]
    predictions = pd.read_csv(out / "runs" / f"transformer-volatility-seed{SEEDS[0]}" / "predictions.csv")
    actual, har = predictions["actual"].to_numpy(), predictions["har"].to_numpy()
    assert math.isclose(levels["realised_mean"]["test"], actual.mean(), rel_tol=1e-12)
    assert math.isclose(levels["har_mean_forecast"], har.mean(), rel_tol=1e-9)
    train = levels["realised_mean"]["train"]
    assert math.isclose(levels["constants"]["training mean"]["level"], train, rel_tol=1e-12)
    for values in levels["constants"].values():
        level = values["level"]
        rmse = np.sqrt(np.mean((actual - level) ** 2))
        assert math.isclose(values["rmse_vs_har"], rmse / np.sqrt(np.mean((actual - har) ** 2)), rel_tol=1e-9)
        assert math.isclose(values["qlike"], np.mean(np.log(level**2) + actual**2 / level**2), rel_tol=1e-9)
    assert set(levels["har_coefficients"]) == {"intercept", "daily", "weekly", "monthly"}


def test_help_names_the_command_and_its_output(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--help"])
    assert "outputs/bench/targets" in capsys.readouterr().out
