"""SmaLLM: tied embeddings, save/load, repeatable dry runs for both tokenizers, embedding inspection."""

import json

import numpy as np
import pytest
import torch

from common.lm.tokenizers import WordTokenizer
from common.torch_utils import save_checkpoint
from SmaLLM import sample as sample_script
from SmaLLM import train as train_script
from SmaLLM.embeddings import nearest_neighbours, pca_2d
from SmaLLM.model import WordRNN


def test_tied_weights_share_one_matrix_and_bridge_sizes():
    tied = WordRNN(vocab_size=50, embedding_dim=8, hidden_size=12, tie_weights=True)
    assert tied.head.weight is tied.embedding.weight
    untied = WordRNN(vocab_size=50, embedding_dim=8, hidden_size=12, tie_weights=False)
    assert sum(p.numel() for p in tied.parameters()) < sum(p.numel() for p in untied.parameters())
    logits, _ = tied(torch.randint(0, 50, (2, 5)))
    assert logits.shape == (2, 5, 50)


def test_save_load_gives_identical_logits(tmp_path):
    config = train_script.TrainConfig(embedding_dim=8, hidden_size=8, cell="gru", tie_weights=True)
    tokenizer = WordTokenizer.fit("to be or not to be , that is the question .")
    tokenizer.save(tmp_path / "tokenizer.json")
    model = WordRNN(tokenizer.vocab_size, 8, 8, 1, "gru", 0.4, True)
    save_checkpoint(tmp_path / "checkpoint.pt", model, config)
    loaded, _ = sample_script.load_run(tmp_path, torch.device("cpu"))
    loaded.eval(), model.eval()
    ids = torch.randint(0, tokenizer.vocab_size, (2, 7))
    torch.testing.assert_close(loaded(ids)[0], model(ids)[0], rtol=0, atol=0)


@pytest.mark.parametrize("tokenizer", ["word", "bpe"])
def test_dry_run_is_repeatable_and_writes_every_file(tmp_path, tokenizer):
    first = train_script.main(["--dry-run", "--tokenizer", tokenizer, "--out", str(tmp_path / "a")])
    second = train_script.main(["--dry-run", "--tokenizer", tokenizer, "--out", str(tmp_path / "b")])
    assert first["val_loss"] == second["val_loss"]
    for name in ("metrics.json", "config.json", "loss.png", "samples.txt", "neighbours.txt", "embeddings.png",
                 "checkpoint.pt", "tokenizer.json"):
        assert (tmp_path / "a" / name).exists(), name
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert {"stage", "tokenizer", "vocab_size", "val_loss", "val_ppl", "val_bpc", "train_seconds",
            "tokens_per_second", "baselines"} <= set(metrics)
    assert metrics["tokenizer"] == tokenizer
    assert set(metrics["baselines"]["kneser_ney_trigram"]) >= {"val_ppl", "val_bpc"}
    assert metrics["val_ppl"] == pytest.approx(np.exp(metrics["val_loss"]))

    text = sample_script.main(["--out", str(tmp_path / "a"), "--prompt", "ROMEO ☃:", "--length", "12"])
    assert text.startswith("ROMEO ☃:")


def test_nearest_neighbours_and_pca():
    embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    neighbours = nearest_neighbours(embeddings, 0, count=3)
    assert [i for i, _ in neighbours] == [1, 2, 3]
    assert neighbours[0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    points = pca_2d(np.random.default_rng(0).normal(size=(20, 5)))
    assert points.shape == (20, 2)
    assert np.var(points[:, 0]) >= np.var(points[:, 1])


def test_binary_data_gives_a_clear_error(tmp_path):
    path = tmp_path / "image.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(ValueError, match="binary|UTF-8"):
        train_script.main(["--dry-run", "--data", str(path), "--out", str(tmp_path / "out")])


@pytest.mark.parametrize("script", [train_script, sample_script])
def test_help_lists_every_option(script, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--help"])
    assert exit_info.value.code == 0
    assert "--temperature" in capsys.readouterr().out or script is train_script


# --- Issue 13: every option checked, resume guarded, foreign checkpoints refused, tiny vocabularies ---

def tiny_args(tmp_path, text="Some text to learn from , said the king , and the queen agreed . " * 60):
    data = tmp_path / "text.txt"
    data.write_text(text, encoding="utf-8")
    return ["--data", str(data), "--out", str(tmp_path / "run"), "--hidden-size", "8", "--embedding-dim", "8",
            "--batch-size", "2", "--seq-len", "8", "--max-minutes", "0", "--eval-every", "3",
            "--sample-every", "0", "--threads", "1", "--eval-streams", "1"]


@pytest.mark.parametrize("flag, value, message", [
    ("--min-freq", "0", "--min-freq must be at least 1"),
    ("--bpe-vocab-size", "256", "--bpe-vocab-size must be more than the 256 byte tokens"),
    ("--val-fraction", "1.5", "--val-fraction must be between 0 and 1"),
    ("--embedding-dim", "0", "--embedding-dim must be at least 1"),
    ("--learning-rate", "-1", "--learning-rate must be a positive rate of at most 1"),
])
def test_a_bad_option_is_refused_before_anything_is_written(tmp_path, flag, value, message):
    with pytest.raises(ValueError, match=message):
        train_script.main([*tiny_args(tmp_path), "--max-steps", "3", flag, value])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.txt"]


def test_a_corpus_of_one_repeated_word_trains_and_skips_the_embedding_map(tmp_path, capsys):
    metrics = train_script.main([*tiny_args(tmp_path, "buffalo " * 2000), "--max-steps", "3"])
    assert np.isfinite(metrics["val_loss"])
    assert "embeddings.png needs 3 and will be skipped" in capsys.readouterr().out
    assert ((tmp_path / "run" / "neighbours.txt").exists()
            and not (tmp_path / "run" / "embeddings.png").exists())


def test_resume_refuses_a_different_tokenizer_option_and_nothing_to_resume(tmp_path):
    with pytest.raises(ValueError, match="nothing to resume"):
        train_script.main([*tiny_args(tmp_path), "--max-steps", "3", "--resume"])
    train_script.main([*tiny_args(tmp_path), "--max-steps", "3"])
    with pytest.raises(ValueError, match="--min-freq is 1 but the run to resume used 2"):
        train_script.main([*tiny_args(tmp_path), "--max-steps", "6", "--resume", "--min-freq", "1"])
    with pytest.raises(ValueError, match="--tokenizer is 'bpe' but the run to resume used 'word'"):
        train_script.main([*tiny_args(tmp_path), "--max-steps", "6", "--resume", "--tokenizer", "bpe"])
    assert train_script.main([*tiny_args(tmp_path), "--max-steps", "6", "--resume"])["steps"] == 6


def test_sample_refuses_a_checkpoint_of_another_stage(tmp_path):
    from TinyLLM.model import CharRNN

    save_checkpoint(tmp_path / "checkpoint.pt", CharRNN(5, 4, 8), {"hidden_size": 8}, stage="TinyLLM")
    with pytest.raises(ValueError, match="is a TinyLLM checkpoint, not a SmaLLM one"):
        sample_script.main(["--out", str(tmp_path)])
