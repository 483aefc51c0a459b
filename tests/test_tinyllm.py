"""TinyLLM: the recurrence is right, the loop learns, runs are repeatable and the scripts run end to end."""

import json
import time

import pytest
import torch

from common import runtime
from common.config import parse_config, shaping_options
from common.lm import harness as lm_harness
from common.lm.evaluation import evaluate_carried, evaluate_fixed_context, loss_by_position
from common.lm.loop import LMConfig, Progress, make_optimizer, random_windows, train
from common.lm.tokenizers import CharTokenizer
from common.seed import set_seed
from common.torch_utils import save_checkpoint
from TinyLLM import sample as sample_script
from TinyLLM import train as train_script
from TinyLLM.model import CharRNN, CharTransformer, TanhRNN


def test_tanh_rnn_matches_pytorch_rnn():
    torch.manual_seed(0)
    ours = TanhRNN(input_size=5, hidden_size=7, num_layers=2)
    reference = torch.nn.RNN(5, 7, num_layers=2, batch_first=True)
    with torch.no_grad():
        for layer in range(2):
            getattr(reference, f"weight_ih_l{layer}").copy_(ours.input_maps[layer].weight)
            getattr(reference, f"bias_ih_l{layer}").copy_(ours.input_maps[layer].bias)
            getattr(reference, f"weight_hh_l{layer}").copy_(ours.hidden_maps[layer].weight)
            getattr(reference, f"bias_hh_l{layer}").zero_()
    inputs, state = torch.randn(3, 11, 5), torch.randn(2, 3, 7)
    ours_out, ours_state = ours(inputs, state)
    ref_out, ref_state = reference(inputs, state)
    torch.testing.assert_close(ours_out, ref_out)
    torch.testing.assert_close(ours_state, ref_state)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_carried_state_equals_reading_in_one_go(cell):
    model = CharRNN(vocab_size=11, embedding_dim=4, hidden_size=8, cell=cell)
    ids = torch.randint(0, 11, (1, 40))
    whole, _ = model(ids)
    first, state = model(ids[:, :25])
    second, _ = model(ids[:, 25:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)


@pytest.fixture
def one_thread():
    with runtime.torch_settings(threads=1):
        set_seed(0)
        yield


def test_training_loop_overfits_a_tiny_text(tmp_path, one_thread):
    text = "to be or not to be, that is the question. " * 8
    tokenizer = CharTokenizer.fit(text)
    ids = torch.tensor(tokenizer.encode(text))
    model = CharRNN(tokenizer.vocab_size, embedding_dim=16, hidden_size=64, cell="lstm")
    config = LMConfig(
        batch_size=4, seq_len=20, learning_rate=1e-2, warmup_steps=5, min_lr_ratio=0.1, max_steps=150,
        max_minutes=0, grad_clip=1.0, eval_every=150, sample_every=0, eval_streams=1, precision="fp32",
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    train(model, optimizer, ids, ids, config, tmp_path, {}, sample=lambda: "")
    assert evaluate_carried(model, ids) < 0.1  # nats/char: it has memorised the text


def test_evaluations_and_samples_stay_out_of_the_training_clock(tmp_path, one_thread):
    # Each step is followed by a sample that takes 0.2 s: the budget (--max-minutes) and the tokens/s
    # count the training clock only, so those pauses are reported apart and not spent from it.
    model = CharRNN(5, 4, 8)
    config = LMConfig(batch_size=2, seq_len=4, warmup_steps=1, max_steps=4, max_minutes=0, eval_every=2,
                      sample_every=1, eval_streams=1, precision="fp32")

    def slow_sample() -> str:
        time.sleep(0.2)
        return "text"

    ids = torch.randint(0, 5, (200,))
    optimizer = make_optimizer(model, 1e-3, 0.0)
    progress = train(model, optimizer, ids, ids, config, tmp_path, {}, slow_sample)
    assert progress.step == 4 and progress.pause_seconds >= 4 * 0.2
    assert progress.seconds < 0.2  # four steps of a tiny model, no pause in them
    assert [row["seconds"] for row in progress.history] == sorted(row["seconds"] for row in progress.history)


def test_the_fused_optimizer_trains_as_the_plain_adamw_does(tmp_path, one_thread):
    # make_optimizer uses PyTorch's fused AdamW kernel: the same update up to rounding, so the same seed
    # gives the same losses as the per-tensor AdamW it replaced.
    ids = torch.randint(0, 7, (400,))
    config = LMConfig(batch_size=4, seq_len=10, warmup_steps=2, max_steps=30, max_minutes=0, eval_every=10,
                      sample_every=0, eval_streams=1, precision="fp32")
    histories = []
    for fused in (True, False):
        torch.manual_seed(0)
        model = CharRNN(7, 6, 16, cell="lstm")
        optimizer = make_optimizer(model, 3e-3, 0.01)
        assert optimizer.defaults["fused"] is True
        if not fused:
            for group in optimizer.param_groups:
                group["fused"] = None  # the per-tensor implementation
        out = tmp_path / str(fused)
        out.mkdir()
        histories.append(train(model, optimizer, ids, ids, config, out, {}, sample=lambda: "").history)
    for with_fused, plain in zip(*histories, strict=True):
        assert with_fused["val_loss"] == pytest.approx(plain["val_loss"], abs=1e-5)


def test_ctrl_c_stops_training_and_keeps_a_checkpoint(tmp_path):
    model = CharRNN(5, 4, 8)
    config = LMConfig(
        batch_size=2, seq_len=4, learning_rate=1e-3, warmup_steps=1, min_lr_ratio=0.1, max_steps=100,
        max_minutes=0, grad_clip=1.0, eval_every=100, sample_every=3, eval_streams=1, precision="fp32",
    )

    def interrupt() -> str:
        raise KeyboardInterrupt

    ids = torch.randint(0, 5, (200,))
    progress = train(model, torch.optim.Adam(model.parameters()), ids, ids, config, tmp_path, {}, interrupt)
    assert progress.interrupted and progress.step == 3
    assert (tmp_path / "checkpoint.pt").exists()


def test_save_load_gives_identical_logits(tmp_path):
    config = train_script.TrainConfig(cell="gru", hidden_size=12, embedding_dim=6, num_layers=2)
    tokenizer = CharTokenizer.fit("abcdef gh")
    tokenizer.save(tmp_path / "tokenizer.json")
    model = CharRNN(tokenizer.vocab_size, 6, 12, 2, "gru")
    save_checkpoint(tmp_path / "checkpoint.pt", model, config)
    loaded, _ = sample_script.load_run(tmp_path, torch.device("cpu"))
    ids = torch.randint(0, tokenizer.vocab_size, (2, 9))
    torch.testing.assert_close(loaded(ids)[0], model(ids)[0], rtol=0, atol=0)


def test_dry_run_is_repeatable_and_writes_every_file(tmp_path):
    first = train_script.main(["--dry-run", "--out", str(tmp_path / "a")])
    second = train_script.main(["--dry-run", "--out", str(tmp_path / "b")])
    assert first["val_loss"] == second["val_loss"]
    for name in ("metrics.json", "config.json", "history.json", "loss.png", "samples.txt", "checkpoint.pt",
                 "tokenizer.json"):
        assert (tmp_path / "a" / name).exists(), name
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert {"stage", "cell", "params", "val_loss", "val_bpc", "val_loss_ctx64", "train_seconds",
            "tokens_per_second", "baselines"} <= set(metrics)
    assert set(metrics["baselines"]) == {"unigram", "bigram", "ngram"}
    assert metrics["baselines"]["ngram"]["order"] >= 2

    text = sample_script.main(["--out", str(tmp_path / "a"), "--prompt", "ROMEO ☃:",
                               "--length", "30", "--seed", "3"])
    assert text.startswith("ROMEO ☃:") and len(text) == len("ROMEO ☃:") + 30
    assert text == sample_script.main(["--out", str(tmp_path / "a"), "--prompt", "ROMEO ☃:",
                                       "--length", "30", "--seed", "3"])


def test_resume_continues_the_same_run(tmp_path):
    data = tmp_path / "text.txt"
    data.write_text("Some text to learn from, said the king, and the queen agreed. " * 60, encoding="utf-8")
    tiny = ["--data", str(data), "--out", str(tmp_path / "run"), "--hidden-size", "16",
            "--embedding-dim", "8", "--batch-size", "4", "--seq-len", "16", "--max-minutes", "0",
            "--eval-every", "3", "--sample-every", "0"]
    train_script.main([*tiny, "--max-steps", "3"])
    resumed = train_script.main([*tiny, "--max-steps", "6", "--resume"])
    assert resumed["steps"] == 6
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [row["step"] for row in history] == [3, 6]


@pytest.mark.parametrize("content", [b"", b"   \n", b"\x00\x01\x02binary\xff"])
def test_empty_or_binary_data_gives_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="empty|binary|UTF-8"):
        train_script.main(["--dry-run", "--data", str(path), "--out", str(tmp_path / "out")])


def test_progress_survives_a_json_round_trip():
    from dataclasses import asdict

    progress = Progress(step=3, seconds=1.5, history=[{"step": 3, "val_loss": 2.0}])
    assert Progress(**json.loads(json.dumps(asdict(progress)))) == progress


@pytest.mark.parametrize("script", [train_script, sample_script])
def test_help_lists_every_option(script, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--help"])
    assert exit_info.value.code == 0
    assert "--max-minutes" in capsys.readouterr().out or script is sample_script


# --- Issue 13: a run never destroys a good run, a checkpoint never runs code, every option is checked ---

def tiny_args(tmp_path, out="run"):
    data = tmp_path / "text.txt"
    if not data.exists():
        data.write_text("Some text to learn from, said the king, and the queen agreed. " * 60,
                        encoding="utf-8")
    return ["--data", str(data), "--out", str(tmp_path / out), "--hidden-size", "16",
            "--embedding-dim", "8", "--batch-size", "4", "--seq-len", "16", "--max-minutes", "0",
            "--eval-every", "3", "--sample-every", "0", "--threads", "1"]


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("flag, value, message", [
    ("--batch-size", "0", "--batch-size must be at least 1"),
    ("--seq-len", "0", "--seq-len must be at least 1"),
    ("--hidden-size", "0", "--hidden-size must be at least 1"),
    ("--hidden-size", "-1", "--hidden-size must be at least 1"),
    ("--val-fraction", "1.5", "--val-fraction must be between 0 and 1"),
    ("--val-fraction", "0", "--val-fraction must be between 0 and 1"),
    ("--val-fraction", "0.999", "each needs at least 1,000 and 100"),  # valid number, an empty training split
    ("--threads", "-1", "--threads must be 0 or more"),
    ("--learning-rate", "0", "--learning-rate must be a positive rate of at most 1"),
    ("--learning-rate", "1e30", "--learning-rate must be a positive rate of at most 1"),
    ("--learning-rate", "nan", "--learning-rate must be a finite number"),
    ("--dropout", "1", "--dropout must be in"),
    ("--beta2", "1", r"--beta2 must be in \[0, 1\)"),
    ("--max-steps", "-1", "--max-steps must be 0 or more"),
    ("--eval-every", "0", "--eval-every must be at least 1"),
    ("--seq-len", "5000", "fewer than --batch-size 4 x"),  # valid alone, too long for this text
])
def test_a_bad_option_is_refused_and_the_good_run_in_out_is_kept(tmp_path, flag, value, message):
    train_script.main([*tiny_args(tmp_path), "--max-steps", "3"])
    before = snapshot(tmp_path / "run")
    with pytest.raises(ValueError, match=message):
        train_script.main([*tiny_args(tmp_path), "--max-steps", "3", flag, value])
    assert snapshot(tmp_path / "run") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "text.txt"]  # no staging folder or lock left


def test_a_run_that_fails_during_training_leaves_the_previous_run_usable(tmp_path, monkeypatch):
    train_script.main([*tiny_args(tmp_path), "--max-steps", "3"])
    before = snapshot(tmp_path / "run")

    def broken_train(*args, **kwargs):
        raise RuntimeError("the run died mid-training")

    monkeypatch.setattr(lm_harness, "train", broken_train)
    with pytest.raises(RuntimeError, match="mid-training"):
        train_script.main([*tiny_args(tmp_path), "--max-steps", "6", "--hidden-size", "24"])
    assert snapshot(tmp_path / "run") == before
    assert sample_script.main(["--out", str(tmp_path / "run"), "--length", "5"]).startswith("ROMEO:")


def test_the_best_5_minute_recipe_of_the_readme_is_a_preset():
    best = parse_config(train_script.TrainConfig, ["--preset", "best-5min", "--data", "my.txt"])
    assert (best.cell, best.num_layers, best.hidden_size, best.max_minutes, best.sample_every) == (
        "lstm", 1, 512, 5.0, 0)
    assert best.data == "my.txt" and best.preset == "best-5min"
    best.validate()
    transformer = parse_config(train_script.TrainConfig, ["--preset", "transformer-5min", "--seed", "1"])
    assert (transformer.cell, transformer.num_layers, transformer.embedding_dim, transformer.seq_len,
            transformer.batch_size, transformer.learning_rate, transformer.seed) == (
        "transformer", 2, 128, 64, 32, 2e-3, 1)
    transformer.validate()


def test_the_options_a_resume_must_keep_are_those_of_the_model_and_the_data():
    assert set(shaping_options(train_script.TrainConfig)) == {
        "data", "val_fraction", "max_chars", "batch_size", "seq_len", "batches",  # the text, how it is read
        "cell", "embedding_dim", "hidden_size", "num_layers", "heads", "positions"}  # the model


def test_resume_refuses_when_there_is_nothing_to_resume_or_a_shaping_option_differs(tmp_path):
    with pytest.raises(ValueError, match="nothing to resume in .*run without --resume first"):
        train_script.main([*tiny_args(tmp_path), "--max-steps", "3", "--resume"])
    assert not (tmp_path / "run").exists()
    train_script.main([*tiny_args(tmp_path), "--max-steps", "3"])
    before = snapshot(tmp_path / "run")
    for flag, value in (("--hidden-size", "32"), ("--cell", "gru"), ("--seq-len", "8"),
                        ("--val-fraction", "0.2")):
        with pytest.raises(ValueError, match=f"{flag} is .* but the run to resume used"):
            train_script.main([*tiny_args(tmp_path), "--max-steps", "6", "--resume", flag, value])
    assert snapshot(tmp_path / "run") == before
    resumed = train_script.main([*tiny_args(tmp_path), "--max-steps", "6", "--resume",
                                 "--learning-rate", "1e-3"])
    assert resumed["steps"] == 6  # the budget and the learning rate may change


def test_out_naming_a_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        train_script.main([*tiny_args(tmp_path, out="notes.txt"), "--max-steps", "3"])
    assert (tmp_path / "notes.txt").read_text() == "keep me"


class TouchesAFile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_never_runs_and_is_refused_by_sample_and_resume(tmp_path):
    train_script.main([*tiny_args(tmp_path), "--max-steps", "3"])
    marker = tmp_path / "pwned"
    for name in ("checkpoint.pt", "resume.pt"):
        torch.save({"model": TouchesAFile(marker), "config": {}}, tmp_path / "run" / name)
    with pytest.raises(ValueError,
                       match="checkpoint.pt is not a checkpoint of this project: .*could run code"):
        sample_script.main(["--out", str(tmp_path / "run")])
    with pytest.raises(ValueError, match="resume.pt is not a checkpoint of this project"):
        train_script.main([*tiny_args(tmp_path), "--max-steps", "6", "--resume"])
    assert not marker.exists()


def test_sample_refuses_a_truncated_or_foreign_checkpoint_in_one_line(tmp_path):
    train_script.main([*tiny_args(tmp_path), "--max-steps", "3"])
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    good = checkpoint.read_bytes()
    checkpoint.write_bytes(good[: len(good) // 3])
    with pytest.raises(ValueError, match="truncated") as info:
        sample_script.main(["--out", str(tmp_path / "run")])
    assert "\n" not in str(info.value)
    save_checkpoint(checkpoint, torch.nn.Linear(2, 2), {"lookback": 60}, stage="CodeLLM")
    with pytest.raises(ValueError, match="is a CodeLLM checkpoint, not a TinyLLM one"):
        sample_script.main(["--out", str(tmp_path / "run")])
    save_checkpoint(checkpoint, torch.nn.Linear(2, 2),
                    {"embedding_dim": 8, "hidden_size": 16, "num_layers": 2, "cell": "rnn", "dropout": 0.0},
                    stage="TinyLLM")
    with pytest.raises(ValueError, match="does not match its run folder"):
        sample_script.main(["--out", str(tmp_path / "run")])


@pytest.mark.parametrize("flag, value", [("--temperature", "0"), ("--length", "-1"), ("--top-k", "-2")])
def test_sample_refuses_bad_options(tmp_path, flag, value):
    with pytest.raises(ValueError, match=flag):
        sample_script.main(["--out", str(tmp_path), flag, value])


def test_a_sigkilled_run_keeps_the_previous_run_and_resume_continues_it(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from common.paths import REPO_ROOT

    train_script.main([*tiny_args(tmp_path), "--max-steps", "3"])
    before = snapshot(tmp_path / "run")
    child = subprocess.Popen([sys.executable, str(REPO_ROOT / "TinyLLM" / "train.py"), *tiny_args(tmp_path),
                              "--max-steps", "1000000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = tmp_path / ".run.partial"
    deadline = time.monotonic() + 60
    while not (partial / "resume.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert (partial / "resume.pt").exists(), "the child never saved a resume point"
    assert snapshot(tmp_path / "run") == before
    # The killed run's lock is stale (taken over); its options are checked like a finished run's.
    with pytest.raises(ValueError, match="--cell is 'lstm' but the run to resume used 'rnn'"):
        train_script.main([*tiny_args(tmp_path), "--max-steps", "3", "--resume", "--cell", "lstm"])
    assert (partial / "resume.pt").exists()  # a refused resume leaves the interrupted run as it was
    resumed = train_script.main([*tiny_args(tmp_path), "--max-steps", "3", "--resume"])
    assert resumed["steps"] >= 3  # continued from the killed run's last resume point
    assert not partial.exists()


# --- The character Transformer (--cell transformer) ---

def test_transformer_is_causal_and_reads_a_long_text_in_overlapping_windows():
    torch.manual_seed(0)
    model = CharTransformer(vocab_size=11, width=16, mlp_width=32, num_layers=2, heads=2, context=8).eval()
    ids = torch.randint(0, 11, (2, 20))
    logits, state = model(ids)
    assert logits.shape == (2, 20, 11)
    torch.testing.assert_close(state, ids[:, -8:])  # what it carries: the last `context` characters
    changed = ids.clone()
    changed[:, 15] = (ids[:, 15] + 1) % 11
    torch.testing.assert_close(model(changed)[0][:, :15], logits[:, :15])  # the future never leaks back
    torch.testing.assert_close(logits[:, :8], model.read(ids[:, :8]))  # within one context: plain reading
    # Beyond it, windows of 8 advance by 4: the last position reads the 8 characters ending at it.
    torch.testing.assert_close(logits[:, 19], model.read(ids[:, 12:20])[:, -1])
    model.train()
    assert model(ids[:, :8])[1] is None  # training reads windows from scratch: nothing to carry


def test_loss_by_position_averages_to_the_fixed_context_loss():
    torch.manual_seed(0)
    ids = torch.randint(0, 7, (500,))
    for model in (CharRNN(7, 4, 8, cell="lstm"), CharTransformer(7, 8, 16, 1, 2, context=16)):
        curve = loss_by_position(model, ids, context=16, batch_size=5)
        assert len(curve) == 16
        assert abs(sum(curve) / 16 - evaluate_fixed_context(model, ids, context=16)) < 1e-6


def test_transformer_cell_trains_samples_and_resumes(tmp_path):
    args = [*tiny_args(tmp_path), "--cell", "transformer", "--heads", "2"]
    first = train_script.main([*args, "--max-steps", "3"])
    assert first["cell"] == "transformer" and first["steps"] == 3
    resumed = train_script.main([*args, "--max-steps", "6", "--resume"])
    assert resumed["steps"] == 6
    with pytest.raises(ValueError, match="--heads is 4 but the run to resume used 2"):
        train_script.main([*tiny_args(tmp_path), "--cell", "transformer", "--max-steps", "9", "--resume"])
    text = sample_script.main(["--out", str(tmp_path / "run"), "--length", "40", "--prompt", "ROMEO:"])
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 40
    with pytest.raises(ValueError, match="--embedding-dim must be divisible by --heads 3"):
        train_script.main([*args, "--heads", "3", "--max-steps", "3"])


def test_random_batches_are_windows_of_the_text_drawn_by_seed_step_and_rank():
    text = torch.arange(100)
    windows = text.unfold(0, 9, 1)  # (92, 9): every window of 8 inputs + 1 target
    batch = random_windows(windows, 5, seed=1, step=7)
    assert batch.shape == (5, 9) and batch.dtype == torch.long
    assert all(torch.equal(row, text[row[0] : row[0] + 9]) for row in batch)  # contiguous pieces of the text
    assert torch.equal(batch, random_windows(windows, 5, seed=1, step=7))  # a resumed run reads the same
    draws = {tuple(random_windows(windows, 5, seed, step, rank)[:, 0].tolist())
             for seed, step, rank in ((1, 7, 0), (2, 7, 0), (1, 8, 0), (1, 7, 1))}
    assert len(draws) == 4  # another seed, step or rank: other places


def test_the_transformer_learns_from_random_windows_and_resume_keeps_the_option(tmp_path, one_thread):
    args = [*tiny_args(tmp_path), "--cell", "transformer", "--heads", "2", "--batches", "random",
            "--learning-rate", "1e-2", "--warmup-steps", "5"]
    first = train_script.main([*args, "--max-steps", "30"])
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.3  # it learns from them
    assert first["val_loss"] < first["baselines"]["unigram"]["val_loss"]
    with pytest.raises(ValueError, match="--batches is 'streams' but the run to resume used 'random'"):
        train_script.main([*tiny_args(tmp_path), "--cell", "transformer", "--heads", "2", "--max-steps", "40",
                           "--resume"])
