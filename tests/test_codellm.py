"""CodeLLM: the attention is what it claims, the loop learns, runs are repeatable and the scripts run end to end."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from CodeLLM import evaluate as evaluate_script
from CodeLLM import train as train_script
from CodeLLM.attention import attention_per_lag, gradient_saliency
from CodeLLM.model import MultiHeadAttention, TransformerForecaster, sinusoidal_positions
from CodeLLM.train import CodeConfig
from CodeLLM.training import CHECKPOINT, build_model, fit, forecast, predict_scaled
from common.baselines import naive_forecast
from common.forecast_setup import load_forecast_data
from common.torch_utils import load_checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models split badly across threads; one thread is faster and leaves the other core free."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def test_untrained_model_is_the_naive_forecast(goog):
    config = CodeConfig(lookback=20, d_model=8, heads=2, ff_dim=16)
    data, _ = load_forecast_data(config)
    from CodeLLM.training import zero_return_output

    model = build_model(config, data.n_features, data.horizon, zero_return_output(data))
    np.testing.assert_allclose(data.to_prices("test", predict_scaled(model, data.splits["test"].inputs)),
                               naive_forecast(data, "test"), rtol=1e-6)


def test_overfits_a_sine_wave():
    """A tiny noiseless series: the loop must drive the error close to zero (it learns, it is wired right)."""
    torch.manual_seed(0)
    series = np.sin(np.arange(400) * 2 * np.pi / 25).astype(np.float32)
    lookback, horizon = 24, 3
    starts = np.arange(0, len(series) - lookback - horizon, 3)
    inputs = torch.from_numpy(np.stack([series[s:s + lookback] for s in starts]))[..., None]  # (windows, 24, 1)
    targets = torch.from_numpy(np.stack([series[s + lookback:s + lookback + horizon] for s in starts]))  # (windows, 3)
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
    for name in ("metrics.json", "config.json", "history.csv", "predictions.csv", "model.pt", "last.pt",
                 "predictions.png", "residuals.png", "loss.png", "attention.png"):
        assert (tmp_path / name).exists(), name
    assert any((tmp_path / "tensorboard").iterdir())
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["stage"] == "CodeLLM" and saved["model"] == "transformer"
    for key in ("test", "baselines", "split", "data", "train_seconds", "epochs_run", "best_epoch", "params",
                "framework", "seconds_per_epoch", "inference_ms_per_window", "validation"):
        assert key in saved, key
    assert set(saved["baselines"]) == {"naive", "moving_average", "linear"}
    assert saved["validation"]["rmse"] <= saved["validation"]["naive_rmse"]  # shrinkage never loses on validation

    evaluated = evaluate_script.main(["--out", str(tmp_path)])
    folder = tmp_path / "evaluate" / "GOOG"
    assert (folder / "metrics.json").exists() and (folder / "attention.png").exists()
    assert json.loads((tmp_path / "metrics.json").read_text()) == saved  # training results untouched
    trained = pd.read_csv(tmp_path / "predictions.csv")
    again = pd.read_csv(folder / "predictions.csv")
    np.testing.assert_array_equal(again["predicted"].to_numpy(), trained["predicted"].to_numpy())
    assert evaluated["test"] == metrics["test"]


def test_checkpoint_reload_gives_identical_predictions(tmp_path):
    config = train_script.dry_run_config(CodeConfig(out=str(tmp_path)))
    data, _ = load_forecast_data(config)
    result = fit(config, data, tmp_path, verbose=0)
    checkpoint = load_checkpoint(tmp_path / CHECKPOINT)
    rebuilt = build_model(config, data.n_features, data.horizon)
    rebuilt.load_state_dict(checkpoint["model"])
    assert float(rebuilt.strength) == result.strength
    np.testing.assert_array_equal(forecast(rebuilt, data), forecast(result.model, data))


def test_same_seed_same_results_and_resume(tmp_path):
    config = train_script.dry_run_config(CodeConfig(epochs=2, patience=5))
    data, _ = load_forecast_data(config)
    first = fit(config, data, verbose=0)
    second = fit(config, data, verbose=0)
    assert first.history["val_rmse"] == second.history["val_rmse"] and first.validation == second.validation
    np.testing.assert_array_equal(forecast(first.model, data), forecast(second.model, data))
    # An interrupted run resumed from last.pt ends where an uninterrupted one does.
    fit(dataclasses.replace(config, epochs=1), data, tmp_path, verbose=0)
    resumed = fit(dataclasses.replace(config, resume=True), data, tmp_path, verbose=0)
    assert resumed.epochs_run == 2
    assert resumed.history["val_rmse"] == first.history["val_rmse"]
    np.testing.assert_array_equal(forecast(resumed.model, data), forecast(first.model, data))


def test_gradient_saliency_finds_the_day_that_matters():
    """A network trained to copy day -3's first feature must credit day -3, and the measurement
    must leave the model as it was (strength restored, no gradients left behind)."""
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
    model.strength.fill_(0.0)
    saliency = gradient_saliency(model, inputs.numpy())
    assert saliency.argmax() == 8 - 3 and math.isclose(saliency.sum(), 1.0)
    assert float(model.strength) == 0.0 and all(p.grad is None for p in model.parameters())
