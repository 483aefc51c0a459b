"""Inputs that must end in one clear line before any work (issue 20, items 6-8 and 11-13): a model too
big for the machine, a saved file of the wrong structure, a float option out of range, a loss that
turns non-finite, and data that must be caught.

Each probe runs the script as a user would (through `run_cli`, which turns an error into one
`error: ...` line) and checks the line, the absence of a traceback, and that every file that was there
before is still there, byte-identical.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import typing
from pathlib import Path

import numpy as np
import pytest
import torch
from probes import one_line_error, snapshot

from common.config import config_from_dict, preset_config, type_problem
from common.runs import read_json

SENTENCE = "Some text to learn from, said the king, and the queen agreed. "


def text_file(tmp_path: Path, text: str = SENTENCE * 60) -> Path:
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    return path


def tiny_lm_args(data: Path, out: Path) -> list[str]:
    return ["--data", str(data), "--out", str(out), "--hidden-size", "16", "--embedding-dim", "8",
            "--batch-size", "4", "--seq-len", "16", "--max-minutes", "0", "--max-steps", "3",
            "--eval-every", "3", "--sample-every", "0", "--threads", "1", "--ngram-orders", "2-2"]


@pytest.fixture(scope="module")
def tinyllm_run(tmp_path_factory) -> Path:
    """A finished tiny TinyLLM run, never modified (copy it before damaging a file)."""
    from TinyLLM import train

    folder = tmp_path_factory.mktemp("tinyllm")
    out = folder / "run"
    train.main(tiny_lm_args(text_file(folder), out))
    return out


@pytest.fixture(scope="module")
def codellm_run(tmp_path_factory) -> Path:
    """A finished tiny CodeLLM run, never modified (copy it before damaging a file)."""
    from CodeLLM import train

    out = tmp_path_factory.mktemp("codellm") / "run"
    train.main(["--dry-run", "--epochs", "1", "--out", str(out)])
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


# --- 6. a model too big for the machine is refused from its config, naming the number ---

def test_memory_check_names_the_numbers():
    from common.memory import GIB, require_memory

    require_memory("the model", 1000, 0, "lower --units", available=GIB)  # fits: no error
    with pytest.raises(ValueError, match=r"^the model has 100,000,000 parameters: training it needs about "
                                         r"1\.5 GiB .* more than the 1\.0 GiB .*: lower --units$"):
        require_memory("the model", 100_000_000, 0, "lower --units", available=GIB)


def test_tinyllm_refuses_a_hidden_size_that_cannot_fit(tmp_path, capsys, tinyllm_run):
    from TinyLLM import train

    args = tiny_lm_args(text_file(tmp_path), copy_of(tinyllm_run, tmp_path))
    before = snapshot(tmp_path)
    message = one_line_error(train.main, [*args, "--hidden-size", "10000000"], capsys)
    assert "the model has 300,000," in message and "GiB" in message and "--hidden-size" in message
    assert snapshot(tmp_path) == before


def test_codellm_refuses_a_d_model_that_cannot_fit(tmp_path, capsys):
    from CodeLLM import train

    message = one_line_error(train.main, ["--dry-run", "--d-model", "1000000", "--heads", "1",
                                          "--out", str(tmp_path / "run")], capsys)
    assert "the Transformer has 12,000,1" in message and "--d-model" in message
    assert list(tmp_path.iterdir()) == []


def test_memoryllm_refuses_units_that_cannot_fit(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    from MemoryLLM import train

    message = one_line_error(train.main, ["--dry-run", "--units", "10000000", "--out", str(tmp_path / "run")],
                             capsys)
    assert "the LSTM has 400,00" in message and "--units" in message
    assert list(tmp_path.iterdir()) == []


# --- 7. every file a stage reads back fails with one line naming it and what is wrong ---

def test_config_from_dict_checks_every_type():
    from CodeLLM.train import CodeConfig

    assert config_from_dict(CodeConfig, {"lookback": 60, "learning_rate": 1}).learning_rate == 1.0
    with pytest.raises(ValueError, match=r"^run/config\.json: option 'lookback' must be a whole number, "
                                         r"got '60'"):
        config_from_dict(CodeConfig, {"lookback": "60"}, source="run/config.json")
    with pytest.raises(ValueError, match=r"^run/config\.json holds a list, not the object of options"):
        config_from_dict(CodeConfig, [1, 2], source="run/config.json")
    for value in (True, None, "x", 1.5):
        with pytest.raises(ValueError, match="'epochs' must be a whole number"):
            config_from_dict(CodeConfig, {"epochs": value})
    with pytest.raises(ValueError, match="'compile' must be true or false"):
        config_from_dict(CodeConfig, {"compile": 1})
    assert type_problem(None, str | None) is None and type_problem(None, str) == "a string"


def test_every_float_option_of_every_stage_refuses_nan_and_infinity():
    from AgentLLM.train import AgentConfig
    from CodeLLM.train import CodeConfig
    from LLMind.config import TrainConfig as LLMindConfig
    from SmaLLM.train import TrainConfig as SmaLLMConfig
    from TinyLLM.train import TrainConfig as TinyLLMConfig

    config_classes = [TinyLLMConfig, SmaLLMConfig, CodeConfig, LLMindConfig, AgentConfig]
    try:
        from MemoryLLM.train import MemoryConfig

        config_classes.append(MemoryConfig)
    except ImportError:  # TensorFlow is not installed
        pass
    checked = 0
    for config_cls in config_classes:
        hints = typing.get_type_hints(config_cls)
        for field in dataclasses.fields(config_cls):
            if hints[field.name] is not float:
                continue
            for value in (math.nan, math.inf, -math.inf):
                with pytest.raises(ValueError, match="must be a finite number"):
                    preset_config(config_cls, **{field.name: value})
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize("flags, message", [
    (["--learning-rate", "nan"], "--learning-rate must be a finite number"),
    (["--learning-rate", "-1"], "--learning-rate must be a positive rate of at most 1"),
    (["--head-learning-rate", "1e30"], "--head-learning-rate must be a positive rate of at most 1"),
    (["--weight-decay", "-1"], "--weight-decay must be 0 or more"),
    (["--warmup-fraction", "-5"], "--warmup-fraction must be in [0, 1)"),
    (["--head-dropout", "nan"], "--head-dropout must be a finite number"),
    (["--head-dropout", "1"], "--head-dropout must be in [0, 1)"),
])
def test_llmind_refuses_bad_float_options_up_front(tmp_path, capsys, flags, message):
    from LLMind import train

    error = one_line_error(train.main, ["--dry-run", "--out", str(tmp_path / "run"), *flags], capsys)
    assert message in error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flags, message", [
    (["--ma-window", "100000"], "--ma-window must be at most --lookback 60"),
    (["--label-len", "100000"], "--label-len must be at most --lookback 60"),
    (["--max-seconds", "nan"], "--max-seconds must be a finite number"),
    (["--weight-decay", "nan"], "--weight-decay must be a finite number"),
    (["--learning-rate", "1e30"], "--learning-rate must be a positive rate of at most 1"),
])
def test_codellm_refuses_bad_options_before_training(tmp_path, capsys, flags, message):
    from CodeLLM import train

    error = one_line_error(train.main, ["--dry-run", "--out", str(tmp_path / "run"), *flags], capsys)
    assert message in error
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_entries_of_the_wrong_type_are_named(tmp_path):
    from common.torch_utils import load_checkpoint

    for entry, value in (("model", [1, 2]), ("config", [1, 2])):
        path = tmp_path / f"{entry}.pt"
        payload = {"stage": "TinyLLM", "model": {}, "config": {}}
        payload[entry] = value
        torch.save(payload, path)
        with pytest.raises(ValueError, match=rf"^{path} is damaged: its '{entry}' entry is a list"):
            load_checkpoint(path)


@pytest.mark.parametrize("payload, message", [
    ({"type": "char", "chars": "abc"}, "'chars' must be a list of distinct single characters"),
    ({"type": "char", "chars": ["ab", "c"]}, "'chars' must be a list of distinct single characters"),
    ({"type": "char", "chars": ["a", "a"]}, "'chars' must be a list of distinct single characters"),
    ({"type": "char"}, "the tokenizer has no 'chars'"),
    ({"type": "word", "words": ["a", 3], "lowercase": False}, "'words' must be a list of distinct"),
    ({"type": "word", "words": ["a"]}, "the tokenizer has no 'lowercase'"),
    ({"type": "word", "words": ["a"], "lowercase": "no"}, "'lowercase' must be true or false"),
    ({"type": "bpe", "merges": [[1, 2, 3]]}, "'merges' must be a list of"),
    ({"type": "bpe", "merges": [[1, 999]]}, "'merges' must be a list of"),
    ({"type": "bpe", "merges": {"a": 1}}, "'merges' must be a list of"),
])
def test_damaged_tokenizer_files_are_refused(tmp_path, payload, message):
    from common.lm.tokenizers import load_tokenizer

    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(ValueError, match=rf"^{path} is damaged: .*{message}"):
        load_tokenizer(path)


def test_deeply_nested_json_is_one_line(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        read_json(path)


@pytest.mark.parametrize("damage, message", [
    (lambda run: (run / "tokenizer.json").write_text('{"type": "char", "chars": ["ab", "c"]}'),
     "tokenizer.json is damaged"),
    (lambda run: (run / "tokenizer.json").write_text("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    (lambda run: torch.save({**torch.load(run / "checkpoint.pt", weights_only=True), "config": [1]},
                            run / "checkpoint.pt"), "its 'config' entry is a list"),
    (lambda run: torch.save({**torch.load(run / "checkpoint.pt", weights_only=True),
                             "config": {"hidden_size": "16"}}, run / "checkpoint.pt"),
     "option 'hidden_size' must be a whole number"),
])
def test_tinyllm_sample_names_the_damaged_file(tmp_path, capsys, tinyllm_run, damage, message):
    from TinyLLM import sample

    run = copy_of(tinyllm_run, tmp_path)
    damage(run)
    before = snapshot(tmp_path)
    assert message in one_line_error(sample.main, ["--out", str(run), "--length", "5"], capsys)
    assert snapshot(tmp_path) == before


def test_a_damaged_prepared_corpus_is_refused(tmp_path, capsys):
    from common.lm import corpus
    from TinyLLM import train

    prepared = tmp_path / "prepared"
    corpus.main(["--data", str(text_file(tmp_path)), "--out", str(prepared)])
    for key, value in (("tokens", "many"), ("dtype", "float64"), ("val_start_token", 10**9)):
        meta = json.loads((prepared / "corpus.json").read_text())
        (prepared / "corpus.json").write_text(json.dumps({**meta, key: value}))
        before = snapshot(tmp_path)
        args = tiny_lm_args(prepared, tmp_path / "run")
        message = one_line_error(train.main, args, capsys)
        assert "corpus.json is damaged" in message and "prepare the corpus again" in message
        assert snapshot(tmp_path) == before
        (prepared / "corpus.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("damage, message", [
    (lambda run: (run / "config.json").write_text(
        json.dumps({**json.loads((run / "config.json").read_text()), "lookback": "60"})),
     "config.json: option 'lookback' must be a whole number, got '60'"),
    (lambda run: (run / "config.json").write_text("[1, 2]"), "config.json holds a list"),
    (lambda run: (run / "config.json").write_text(
        json.dumps({**json.loads((run / "config.json").read_text()), "lookback": -5})),
     "config.json: --lookback must be at least 1"),
    (lambda run: (run / "scalers.json").write_text("{}"),
     "scalers.json is damaged: it has no 'feature_names'"),
    (lambda run: (run / "scalers.json").write_text(
        json.dumps({**json.loads((run / "scalers.json").read_text()), "target_scaler": {"mean": [0]}})),
     "scalers.json is damaged: 'target_scaler' must hold 'mean' and 'std'"),
    (lambda run: torch.save({"stage": "CodeLLM", "model": [1, 2]}, run / "model.pt"),
     "model.pt is damaged: its 'model' entry is a list"),
    (lambda run: torch.save({"stage": "CodeLLM", "model": {"x": torch.zeros(2)}}, run / "model.pt"),
     "model.pt holds a Transformer of another shape"),
])
def test_codellm_evaluate_names_the_damaged_file(tmp_path, capsys, codellm_run, damage, message):
    from CodeLLM import evaluate

    run = copy_of(codellm_run, tmp_path)
    damage(run)
    before = snapshot(tmp_path)
    assert message in one_line_error(evaluate.main, ["--out", str(run), "--name", "again"], capsys)
    assert snapshot(tmp_path) == before


def test_compare_refuses_garbage_predictions_and_metrics(tmp_path, codellm_run):
    from CodeLLM.compare import run_metrics
    from CodeLLM.comparison_report import first_step

    predictions = tmp_path / "predictions.csv"
    for text, message in (("", "is not a predictions table"), ("a,b\n1,2\n", "has no column 'date', 'step'"),
                          ("date,step,actual,as_trained\nx,1,2,3\n", "dates that do not parse"),
                          ("date,step,actual,as_trained\n2020-01-01,1,two,3\n", "non-numbers in 'actual'"),
                          ("date,step,actual,as_trained\n2020-01-01,2,1,3\n", "no 1-day-ahead rows")):
        predictions.write_text(text)
        with pytest.raises(ValueError, match=rf"^{predictions} .*{message}"):
            first_step(predictions)
    assert len(first_step(codellm_run / "predictions.csv", ("naive", "drift"))) > 0
    metrics = tmp_path / "metrics.json"
    good = json.loads((codellm_run / "metrics.json").read_text())
    assert run_metrics(codellm_run / "metrics.json") == good
    for payload, message in (([1, 2], "it holds a list"), ({**good, "forecasts": []}, "'forecasts' must be"),
                             ({**good, "guard": {"kept": "yes"}}, "'guard' has no verdict"),
                             ({**good, "forecasts": {"as_trained": {}}},
                              "'forecasts' has no scores for 'guarded'")):
        metrics.write_text(json.dumps(payload))
        with pytest.raises(ValueError, match=rf"^{metrics} is damaged: {message}"):
            run_metrics(metrics)


def test_llmind_damaged_safetensors_are_named(tmp_path):
    pytest.importorskip("safetensors")
    from tests.test_llmind import MISSING

    if MISSING is not None:
        pytest.skip(MISSING)
    from safetensors.torch import save_file

    from LLMind import pretrained

    model = pretrained.pretrained_classifier(3, 0.1, verify=False)
    trained = {name: p.detach().clone() for name, p in model.named_parameters()
               if name.startswith("classifier.") or ".layer.5." in name}
    metadata = {"stage": "LLMind", "classes": json.dumps(["negative", "neutral", "positive"]),
                "start_layer": "5", "max_tokens": "32", "head_dropout": "0.1",
                "base_weights_sha256": pretrained.WEIGHTS_SHA256}
    path = tmp_path / pretrained.FINE_TUNED_FILE
    save_file(trained, str(path), metadata=metadata)
    pretrained.load_fine_tuned(tmp_path)  # the intact file loads
    cases = [
        ({**trained, "classifier.weight": torch.zeros(5, 384)}, metadata,
         "size mismatch for classifier.weight"),
        ({k: v for k, v in trained.items() if k != "classifier.bias"}, metadata, "lacks 1 of the weights"),
        (trained, {**metadata, "classes": "[]"}, "'classes' must list two or more"),
        (trained, {k: v for k, v in metadata.items() if k != "max_tokens"}, "has no 'max_tokens'"),
        (trained, {**metadata, "head_dropout": "nan"}, "out-of-range values"),
    ]
    for state, meta, message in cases:
        save_file(state, str(path), metadata=meta)
        with pytest.raises(ValueError, match=rf"^{path} is damaged: .*{message}"):
            pretrained.load_fine_tuned(tmp_path)


# --- 8. a loss that turns non-finite stops the run with one line and no partial folder ---

def test_a_diverging_run_stops_with_one_line_and_no_partial(tmp_path, capsys, tinyllm_run, monkeypatch):
    from TinyLLM import train

    args = tiny_lm_args(text_file(tmp_path), copy_of(tinyllm_run, tmp_path))
    before = snapshot(tmp_path)
    build = train.build_model

    def diverging(config, vocab_size):  # a head whose bias is NaN: the first loss is NaN
        model = build(config, vocab_size)
        torch.nn.init.constant_(model.head.bias, math.nan)
        return model

    monkeypatch.setattr(train, "build_model", diverging)
    message = one_line_error(train.main, args, capsys)
    assert "the training loss became nan at step 1: training diverged; lower --learning-rate" in message
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "text.txt"]  # no .run.partial, no lock


# --- 11. data that must be caught: gaps, negative volume, High below Low ---

def price_csv(tmp_path: Path, rows: int = 300, gap_after: int | None = None, volume: float = 1000.0,
              swap: bool = False) -> Path:
    dates = list(np.datetime_as_string(np.arange("2010-01-01", "2012-12-31", dtype="datetime64[D]")))[:rows]
    if gap_after is not None:
        later = [str(np.datetime64(day) + np.timedelta64(5 * 365, "D")) for day in dates[gap_after:]]
        dates = dates[:gap_after] + later
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, rows)))
    high, low = close * 1.01, close * 0.99
    if swap:
        high, low = low, high
    lines = ["Date,Open,High,Low,Close,Volume"] + [
        f"{d},{c:.4f},{h:.4f},{lo:.4f},{c:.4f},{volume}" for d, c, h, lo in zip(dates, close, high, low)]
    path = tmp_path / "prices.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_multi_year_gap_in_the_dates_is_named(tmp_path):
    from common.forecast.prices import read_price_csv

    with pytest.warns(UserWarning, match=r"dates jump from 2010-05-20 to 2015-05-20 \(5\.0 years without"):
        read_price_csv(price_csv(tmp_path, gap_after=140))


def test_high_below_low_is_repaired_with_a_warning(tmp_path):
    from common.forecast.prices import read_price_csv

    with pytest.warns(UserWarning, match=r"High is below Low on 300 of 300 row\(s\).*looks? swapped"):
        prices = read_price_csv(price_csv(tmp_path, swap=True))
    assert (prices["High"] >= prices["Low"]).all()


def test_negative_volume_says_what_is_wrong(tmp_path, capsys):
    from CodeLLM import train

    csv = price_csv(tmp_path, volume=-5)
    before = snapshot(tmp_path)
    message = one_line_error(train.main, ["--dry-run", "--csv", str(csv), "--out", str(tmp_path / "run")],
                             capsys)
    assert "Volume counts shares traded and cannot be negative (found -5 on 2010-01-01)" in message
    assert snapshot(tmp_path) == before


# --- 12. SmaLLM: every word below --min-freq ---

def test_smallm_every_word_below_min_freq_is_one_line_before_training(tmp_path, capsys):
    from SmaLLM import train

    # every word once (the split cannot cut a word into another: each ends with its own x)
    words = " ".join(f"x{i:05d}x" for i in range(3000))
    data = text_file(tmp_path, words)
    before = snapshot(tmp_path)
    message = one_line_error(train.main, ["--dry-run", "--data", str(data), "--out", str(tmp_path / "run"),
                                          "--min-freq", "2"], capsys)
    assert "no word of the training text appears 2 or more times" in message and "--min-freq" in message
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["text.txt"]


# --- 13. LLMind: a huge CSV field; labels the model does not know ---

def test_llmind_a_huge_csv_field_is_one_line(tmp_path):
    from LLMind.prepare_data import read_labelled_csv

    path = tmp_path / "labelled.csv"
    path.write_text('text,label\n"' + "a" * 2_000_000 + '",positive\n')
    with pytest.raises(ValueError, match=rf"^{path} is not a readable CSV .*unclosed quote"):
        read_labelled_csv(path)


def test_llmind_predict_warns_about_labels_the_model_does_not_know(capsys):
    from LLMind.predict import warn_unknown_labels

    classes = ["negative", "neutral", "positive"]
    warn_unknown_labels("l.csv", [None, "positive", "bullish", "bullish"], classes)
    err = capsys.readouterr().err
    assert err.startswith("warning: 2 of 3 labels in l.csv are not classes of this model ('bullish')")
    warn_unknown_labels("l.csv", ["positive"], ["negative", "positive"])
    assert capsys.readouterr().err == ""
