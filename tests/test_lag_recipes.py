"""benchmarks/lag_recipes.py --summarise: the select-half table of lag_recipes.md, from the run log."""

from __future__ import annotations

import json
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_summary_reads_select_skill_per_tag_and_never_test(tmp_path: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import lag_recipes

    log = tmp_path / "runs.jsonl"
    runs = [{"net": "lstm", "tag": "S-a", "lag": 5, "seed": seed, "select_skill": skill, "val2_skill": 0.5,
             "test_skill": 9.0} for seed, skill in ((0, 0.8), (1, 0.6))]
    runs.append({"net": "lstm", "tag": "old", "lag": 5, "seed": 0, "test_skill": 0.9, "val2_skill": 0.1})
    log.write_text("\n".join(json.dumps(run) for run in runs) + "\n")
    table = lag_recipes.summarise(log, "S-")
    assert "| S-a | lstm | 0.80 | 0.60 | 0.700 | 0.500 | 2 |" in table
    assert "old" not in table and "9.0" not in table
    assert "no logged run" in lag_recipes.summarise(log, "X-")
