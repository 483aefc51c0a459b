"""CodeLLM: the attention is what it claims, the loop learns, runs are repeatable and the scripts run
end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from CodeLLM import evaluate as evaluate_script
from CodeLLM import train as train_script
from CodeLLM.attention import attention_per_lag, gradient_saliency
from CodeLLM.forecaster import CHECKPOINT, TorchTransformerForecaster, build_model, predict_scaled
from CodeLLM.model import MultiHeadAttention, TransformerForecaster, sinusoidal_positions
from CodeLLM.train import CodeConfig
from common.config import preset_config
from common.forecast import harness
from common.forecast.baselines import naive_forecast
from common.forecast.inputs import load_forecast_data
from common.seed import set_seed

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def small_model(horizon: int = 1, label_len: int = 4, dropout: float = 0.0) -> TransformerForecaster:
    torch.manual_seed(0)
    model = TransformerForecaster(n_features=3, horizon=horizon, d_model=16, heads=4, encoder_layers=2,
                                  decoder_layers=2, ff_dim=32, dropout=dropout, label_len=label_len)
    with torch.no_grad():  # a trained-looking head, so the outputs depend on the inputs
        model.head.weight.normal_()
    return model.eval()


def test_attention_weights_are_distributions_over_keys():
    attention = MultiHeadAttention(d_model=12, heads=3)
    queries, keys = torch.randn(2, 5, 12), torch.randn(2, 7, 12)
    output, weights = attention(queries, keys)
    assert output.shape == (2, 5, 12)
    assert weights.shape == (2, 3, 5, 7)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 3, 5))
    _, attention_maps = small_model(horizon=3).forward_with_attention(torch.randn(2, 9, 3))
    for weights in attention_maps.encoder + attention_maps.decoder_self + attention_maps.decoder_cross:
        torch.testing.assert_close(weights.sum(dim=-1), torch.ones(weights.shape[:-1]))


def test_attention_matches_pytorch_reference():
    """Our heads, scaling and projections compute what torch.nn.MultiheadAttention computes."""
    torch.manual_seed(1)
    ours = MultiHeadAttention(d_model=8, heads=2)
    reference = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key.weight, ours.value.weight]))
        reference.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key.bias, ours.value.bias]))
        reference.out_proj.weight.copy_(ours.output.weight)
        reference.out_proj.bias.copy_(ours.output.bias)
    x = torch.randn(3, 6, 8)
    causal_mask = torch.ones(6, 6, dtype=torch.bool).triu(1)
    ours_out, ours_weights = ours(x, x, causal=True)
    ref_out, ref_weights = reference(x, x, x, attn_mask=causal_mask, average_attn_weights=False)
    torch.testing.assert_close(ours_out, ref_out)
    torch.testing.assert_close(ours_weights, ref_weights)


def test_decoder_self_attention_is_causal():
    model = small_model(horizon=4, label_len=3)
    inputs = torch.randn(2, 10, 3)
    decoder_inputs = model.decoder_inputs(inputs)  # (2, 3 + 4, 3)
    changed = decoder_inputs.clone()
    changed[:, -1] = 5.0  # only the last placeholder
    with torch.no_grad():
        before, maps = model.forward_with_attention(inputs, decoder_inputs)
        after, _ = model.forward_with_attention(inputs, changed)
    torch.testing.assert_close(after[:, :-1], before[:, :-1])  # earlier forecast steps unchanged
    assert not torch.allclose(after[:, -1], before[:, -1])  # the changed slot itself did change
    for weights in maps.decoder_self:  # nothing above the diagonal
        assert torch.all(weights.triu(diagonal=1) == 0)


@pytest.mark.parametrize("lookback, horizon, label_len", [(1, 1, 10), (5, 3, 2), (30, 1, 10), (12, 7, 0)])
def test_shapes_for_any_lookback_and_horizon(lookback, horizon, label_len):
    model = small_model(horizon=horizon, label_len=label_len)
    forecast_values, maps = model.forward_with_attention(torch.randn(4, lookback, 3))
    known = min(label_len, lookback)
    assert forecast_values.shape == (4, horizon)
    assert maps.encoder[0].shape == (4, 4, lookback, lookback)
    assert maps.decoder_self[0].shape == (4, 4, known + horizon, known + horizon)
    assert maps.decoder_cross[0].shape == (4, 4, known + horizon, lookback)
    lags = attention_per_lag(model, np.random.default_rng(0).normal(size=(5, lookback, 3)).astype(np.float32))
    assert lags.shape == (lookback,) and math.isclose(lags.sum(), 1.0) and (lags >= 0).all()


def test_positional_codes_are_distinct_and_bounded():
    codes = sinusoidal_positions(torch.arange(200), 16)
    assert codes.shape == (200, 16) and codes.abs().max() <= 1.0
    assert torch.cdist(codes, codes).add(torch.eye(200)).min() > 1e-3  # no two days share a code


def test_untrained_model_is_close_to_the_naive_forecast(goog):
    config = CodeConfig(lookback=20, d_model=8, heads=2, ff_dim=16)
    data, _ = load_forecast_data(config)
    model = build_model(config, data.n_features, data.horizon, data.scaled_zero_return().tolist())
    np.testing.assert_allclose(data.to_prices("test", predict_scaled(model, data.splits["test"].inputs)),
                               naive_forecast(data, "test"), rtol=3e-3)  # the head starts small, not at zero


def test_overfits_a_sine_wave():
    """A tiny noiseless series: the loop must drive the error close to zero (it learns, it is wired right)."""
    torch.manual_seed(0)
    series = np.sin(np.arange(400) * 2 * np.pi / 25).astype(np.float32)
    lookback, horizon = 24, 3
    starts = np.arange(0, len(series) - lookback - horizon, 3)
    # (windows, 24, 1)
    inputs = torch.from_numpy(np.stack([series[s:s + lookback] for s in starts]))[..., None]
    # (windows, 3)
    targets = torch.from_numpy(np.stack([series[s + lookback:s + lookback + horizon] for s in starts]))
    model = TransformerForecaster(n_features=1, horizon=horizon, d_model=16, heads=2, encoder_layers=1,
                                  decoder_layers=1, ff_dim=32, dropout=0.0, label_len=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    initial = torch.mean((model(inputs) - targets) ** 2).item()
    for _ in range(300):
        loss = torch.mean((model(inputs) - targets) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 2e-3 * initial, (initial, loss.item())


def test_train_dry_run_writes_everything_and_evaluate_reproduces_it(tmp_path):
    metrics = train_script.main(["--dry-run", "--out", str(tmp_path)])
    for name in ("metrics.json", "config.json", "history.csv", "predictions.csv", "model.pt",
                 "scalers.json", "predictions.png", "cumulative_error.png", "returns_scatter.png", "loss.png",
                 "attention.png", "interpretability.png"):
        assert (tmp_path / name).exists(), name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["stage"] == "CodeLLM" and saved["model"] == "transformer"
    for key in ("forecasts", "guard", "scored", "test", "baselines", "split", "data", "train_seconds",
                "epochs_run", "best_epoch", "params", "framework", "seconds_per_epoch",
                "inference_ms_per_window"):
        assert key in saved, key
    assert set(saved["forecasts"]) == {"as_trained", "guarded", "naive", "drift", "ar", "moving_average",
                                       "linear"}
    guarded = saved["forecasts"]["as_trained" if saved["guard"]["kept"] else "naive"]
    assert saved["forecasts"]["guarded"]["rmse"] == guarded["rmse"]

    evaluated = evaluate_script.main(["--out", str(tmp_path)])
    folder = tmp_path / "evaluate" / "default"
    assert (folder / "metrics.json").exists() and (folder / "attention.png").exists()
    assert json.loads((tmp_path / "metrics.json").read_text()) == saved  # training results untouched
    trained = pd.read_csv(tmp_path / "predictions.csv")
    again = pd.read_csv(folder / "predictions.csv")
    np.testing.assert_array_equal(again["as_trained"].to_numpy(), trained["as_trained"].to_numpy())
    assert evaluated["test"] == metrics["test"]


def test_select_on_train_tail_gives_the_guard_all_of_validation(tmp_path):
    """--select-on train-tail: the epoch is chosen on the training split's tail, so the guard tests on
    every validation window, and its rule says so; evaluate.py rebuilds the same cut from config.json."""
    metrics = train_script.main(["--dry-run", "--select-on", "train-tail", "--out", str(tmp_path)])
    config = preset_config(CodeConfig, "tiny", select_on="train-tail")
    data, _ = load_forecast_data(config)
    assert metrics["guard"]["windows"] == len(data.splits["validation"].anchors)
    assert "the whole validation split" in metrics["guard"]["rule"]
    assert evaluate_script.main(["--out", str(tmp_path)])["test"] == metrics["test"]


def dry_forecaster(
    seed_config: CodeConfig | None = None,
) -> tuple[TorchTransformerForecaster, CodeConfig, object]:
    config = seed_config or preset_config(CodeConfig, "tiny")
    data, _ = load_forecast_data(config)
    set_seed(config.seed)
    return TorchTransformerForecaster(config, data), config, data


def test_checkpoint_reload_gives_identical_predictions_and_refuses_foreign_files(tmp_path):
    forecaster, config, data = dry_forecaster()
    harness.fit(forecaster, data, config, verbose=False)
    forecaster.save(tmp_path / CHECKPOINT)
    rebuilt, *_ = dry_forecaster()
    rebuilt.load(tmp_path / CHECKPOINT)
    inputs = data.splits["test"].inputs
    np.testing.assert_array_equal(rebuilt.predict(inputs), forecaster.predict(inputs))
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable CodeLLM checkpoint"):
        rebuilt.load(tmp_path / "garbage.pt")
    torch.save({"model": {}, "config": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a CodeLLM checkpoint"):
        rebuilt.load(tmp_path / "other.pt")


def test_a_crafted_checkpoint_does_not_run_code(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"stage": "CodeLLM", "model": Exploit()}, tmp_path / "model.pt")
    forecaster, *_ = dry_forecaster()
    with pytest.raises(ValueError, match="not a readable CodeLLM checkpoint"):
        forecaster.load(tmp_path / "model.pt")
    assert not marker.exists()


def test_same_seed_same_results():
    runs = []
    for _ in range(2):
        forecaster, config, data = dry_forecaster()
        result = harness.fit(forecaster, data, config, verbose=False)
        runs.append((result.history["loss"], result.history["val_loss"],
                     forecaster.predict(data.splits["test"].inputs)))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


def test_gradient_saliency_finds_the_day_that_matters():
    """A network trained to copy day -3's first feature must credit day -3, and the measurement
    must leave the model as it was (no gradients left behind)."""
    torch.manual_seed(0)
    inputs = torch.randn(256, 8, 2)
    targets = inputs[:, -3, :1]  # (windows, 1)
    model = TransformerForecaster(n_features=2, horizon=1, d_model=16, heads=2, encoder_layers=1,
                                  decoder_layers=1, ff_dim=32, dropout=0.0, label_len=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        loss = torch.mean((model(inputs) - targets) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    saliency = gradient_saliency(model, inputs.numpy())
    assert saliency.argmax() == 8 - 3 and math.isclose(saliency.sum(), 1.0)
    assert all(p.grad is None for p in model.parameters())


def test_the_long_range_recipe_of_the_readme_is_a_preset():
    config = preset_config(CodeConfig, "long-range")
    assert (config.lookback, config.attention, config.patch_len) == (260, "fused", 5)
    config.validate()


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    good = tmp_path_factory.mktemp("codellm_good")
    train_script.main(["--dry-run", "--out", str(good)])
    return good


@pytest.mark.parametrize(("flags", "message"), [
    (["--batch-size", "0"], "--batch-size"), (["--batch-size", "-1"], "--batch-size"),
    (["--epochs", "0"], "--epochs"), (["--threads", "-1"], "--threads"),
    (["--learning-rate", "0"], "--learning-rate"), (["--d-model", "10", "--heads", "4"], "divisible"),
    (["--validation-fraction", "0.4", "--train-fraction", "0.7"], "leave a test split"),
    (["--guard-alpha", "1.5"], "--guard-alpha"), (["--dropout", "1.0"], "--dropout"),
])
def test_bad_options_are_refused_before_anything_is_written(good_run, flags, message):
    good = good_run
    before = {path.name: path.read_bytes() for path in good.iterdir() if path.is_file()}
    with pytest.raises(ValueError, match=message):
        train_script.main(["--dry-run", "--out", str(good), *flags])
    assert {path.name: path.read_bytes() for path in good.iterdir() if path.is_file()} == before


def test_a_checkpoint_of_another_stage_is_named_as_such(tmp_path):
    forecaster, *_ = dry_forecaster()
    torch.save({"stage": "TinyLLM", "model": {}, "config": {}}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="not a CodeLLM checkpoint"):
        forecaster.load(tmp_path / "model.pt")
