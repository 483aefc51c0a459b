"""benchmarks/tinyllm_recipes.py and nanogpt_reference.py: every recipe is a valid TinyLLM run, the log
becomes the README's table, and nanoGPT's model is scored by TinyLLM's own estimators."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from common.config import parse_config
from common.lm.evaluation import evaluate_carried, evaluate_fixed_context
from TinyLLM import train
from TinyLLM.model import CharTransformer

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def benchmarks(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))


def test_every_recipe_is_a_valid_train_config(benchmarks):
    import tinyllm_recipes

    for name, flags in tinyllm_recipes.RECIPES.items():
        config = parse_config(train.TrainConfig, [*flags, "--max-minutes", "5"])
        config.validate()
        assert config.dropout == 0.0 or name.endswith("drop0.1"), name  # dropout only where it says so


def test_a_recipe_run_is_logged_and_summarised_best_first(benchmarks, tmp_path, monkeypatch):
    import tinyllm_recipes

    log = tmp_path / "runs.jsonl"
    monkeypatch.setattr(tinyllm_recipes, "LOG", log)
    monkeypatch.setattr(tinyllm_recipes, "output_dir", lambda *parts: tmp_path.joinpath(*parts))
    tiny = ["--preset", "tiny", "--max-steps", "4"]
    for name in ("a", "b"):
        rate = ["--learning-rate", "1e-2"] if name == "b" else []
        monkeypatch.setitem(tinyllm_recipes.RECIPES, name, tiny + rate)
        tinyllm_recipes.main(["--only", name, "--minutes", "0"])
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["recipe"] for e in entries] == ["a", "b"] and all(e["steps"] == 4 for e in entries)
    table = tinyllm_recipes.summarise(log)
    rows = [line for line in table.splitlines() if line.startswith("| a ") or line.startswith("| b ")]
    best = min(entries, key=lambda e: e["val_loss"])
    assert rows[0].startswith(f"| {best['recipe']} ") and f"{best['val_loss']:.4f}" in rows[0]


def test_nanogpt_data_is_tinyllm_split_and_its_model_is_scored_like_tinyllm(benchmarks, tmp_path):
    import nanogpt_reference

    text = "".join(np.random.default_rng(0).choice(list("abc \n"), 2_000))
    folder, val_ids = nanogpt_reference.prepare(tmp_path, text)
    meta = pickle.loads((folder / "meta.pkl").read_bytes())
    val = np.fromfile(folder / "val.bin", dtype=np.uint16)
    assert "".join(meta["itos"][i] for i in val) == text[int(len(text) * 0.9):]  # the last 10 %, as TinyLLM
    assert val_ids.tolist() == val.tolist()  # what the checkpoint is scored on

    class FakeGPT(torch.nn.Module):  # nanoGPT's call: (ids, targets) -> (every position's logits, loss)
        def __init__(self):
            super().__init__()
            self.inner = CharTransformer(8, width=16, mlp_width=32, num_layers=1, heads=2, context=16)

        def forward(self, ids, targets):
            assert targets is ids
            return self.inner.read(ids), None

    gpt = FakeGPT().eval()
    adapter = nanogpt_reference.Adapter(gpt, context=16).eval()
    ids = torch.randint(0, 8, (300,))
    # The adapter reads a long text in the same overlapping windows as TinyLLM's Transformer.
    assert evaluate_carried(adapter, ids) == pytest.approx(evaluate_carried(gpt.inner, ids), rel=1e-6)
    fixed = evaluate_fixed_context(gpt.inner, ids, 16)
    assert evaluate_fixed_context(adapter, ids, 16) == pytest.approx(fixed)


def test_the_profile_splits_a_step_into_forward_backward_and_optimizer(benchmarks):
    import bench_lm_loop

    config = parse_config(train.TrainConfig, ["--preset", "tiny", "--cell", "transformer", "--heads", "2"])
    model = train.build_model(config, vocab_size=11)
    profile = bench_lm_loop.profile_steps(model, torch.randint(0, 11, (2_000,)), config, steps=2)
    assert set(profile["phases_ms_per_step"]) == {"1 forward + loss", "2 backward", "3 clip + AdamW"}
    assert all(ms > 0 for ms in profile["phases_ms_per_step"].values())
    operators = profile["top_operators"]
    assert operators and all(row["name"].startswith("aten::") for row in operators)
