"""CodeLLM's options for long windows (fused attention, patches, a linear skip path): each computes
what it claims, and leaving them at their defaults changes nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from CodeLLM.attention import attention_per_lag, gradient_saliency
from CodeLLM.model import MultiHeadAttention, TransformerForecaster
from CodeLLM.train import CodeConfig


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model(lookback: int = 20, horizon: int = 2, **options) -> TransformerForecaster:
    torch.manual_seed(0)
    built = TransformerForecaster(n_features=3, horizon=horizon, d_model=16, heads=4, encoder_layers=2,
                                  decoder_layers=2, ff_dim=32, dropout=0.0, label_len=4,
                                  max_lookback=lookback, **options)
    with torch.no_grad():  # a trained-looking head, so the outputs depend on the inputs
        built.head.weight.normal_()
    return built.eval()


@pytest.mark.parametrize("causal", [False, True])
def test_fused_attention_equals_the_explicit_formula(causal):
    torch.manual_seed(0)
    explicit = MultiHeadAttention(d_model=12, heads=3)
    fused = MultiHeadAttention(d_model=12, heads=3, fused=True)
    fused.load_state_dict(explicit.state_dict())
    queries = torch.randn(2, 6, 12, requires_grad=True)
    expected, weights = explicit(queries, queries, causal=causal)
    got, no_weights = fused(queries, queries, causal=causal, need_weights=False)
    assert no_weights is None
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # asked for its weights, a fused block computes them the explicit way
    torch.testing.assert_close(fused(queries, queries, causal=causal)[1], weights)
    expected_grad, = torch.autograd.grad(expected.square().sum(), queries)
    got_grad, = torch.autograd.grad(got.square().sum(), queries)
    torch.testing.assert_close(got_grad, expected_grad, rtol=1e-4, atol=1e-6)


def test_a_fused_forecaster_forecasts_like_the_explicit_one():
    explicit, fused = model(), model(attention="fused")
    fused.load_state_dict(explicit.state_dict())  # same parameters: the option adds none
    inputs = torch.randn(5, 20, 3)
    with torch.no_grad():
        torch.testing.assert_close(fused(inputs), explicit(inputs), rtol=1e-5, atol=1e-6)
        forecast, maps = fused.forward_with_attention(inputs)  # weights asked for: all maps are there
    assert all(w is not None for w in maps.encoder + maps.decoder_self + maps.decoder_cross)


def test_default_options_add_no_parameters():
    default = model()
    assert set(default.state_dict()) == set(model(attention="fused").state_dict())
    assert not any(name.startswith(("patch_", "skip")) for name in default.state_dict())


@pytest.mark.parametrize("lookback, patch_len", [(20, 5), (23, 5), (7, 3), (12, 12), (9, 1)])
def test_patches_shapes_and_where_they_look(lookback, patch_len):
    patched = model(lookback=lookback, patch_len=patch_len)
    tokens = math.ceil(lookback / patch_len)
    forecast, maps = patched.forward_with_attention(torch.randn(4, lookback, 3))
    assert forecast.shape == (4, 2)
    assert maps.encoder[0].shape == (4, 4, tokens, tokens)
    assert maps.decoder_cross[0].shape == (4, 4, 4 + 2, tokens)
    inputs = np.random.default_rng(0).normal(size=(6, lookback, 3)).astype(np.float32)
    for method in ("cross", "rollout"):
        lags = attention_per_lag(patched, inputs, method)
        assert lags.shape == (lookback,) and math.isclose(lags.sum(), 1.0) and (lags >= 0).all()
    assert gradient_saliency(patched, inputs).shape == (lookback,)


def test_a_patch_shares_its_weight_among_its_days_and_the_padding_gets_none():
    patched = model(lookback=7, patch_len=3)  # patches: [pad, pad, day 0], [days 1-3], [days 4-6]
    days = patched.tokens_to_days(torch.tensor([[0.3, 0.6, 0.1]]), lookback=7)
    torch.testing.assert_close(days, torch.tensor([[0.1, 0.2, 0.2, 0.2, 1 / 30, 1 / 30, 1 / 30]]))


def test_a_patch_token_reads_exactly_its_own_days():
    """Changing one day moves only the embedding of the patch that holds it."""
    patched = model(lookback=10, patch_len=4)  # patches: [pad, pad, 0, 1], [2-5], [6-9]
    inputs = torch.randn(1, 10, 3)
    changed = inputs.clone()
    changed[0, 3] += 1.0
    with torch.no_grad():
        moved = (patched._embed_patches(changed) - patched._embed_patches(inputs)).abs().sum(dim=-1)[0]
    assert moved[1] > 0 and moved[0] == 0 and moved[2] == 0


def test_the_linear_skip_starts_at_zero_and_reads_the_whole_window():
    plain, skipped = model(), model(linear_skip=True)
    skipped.load_state_dict({**skipped.state_dict(), **plain.state_dict()})
    inputs = torch.randn(3, 20, 3)
    with torch.no_grad():
        torch.testing.assert_close(skipped(inputs), plain(inputs))  # zero-initialised: no change yet
        skipped.skip.weight[0, 0] = 1.0  # the oldest day's first feature -> the first horizon step
        torch.testing.assert_close(skipped(inputs)[:, 0] - plain(inputs)[:, 0], inputs[:, 0, 0])
    with pytest.raises(ValueError, match="reads exactly 20 days"):
        skipped(torch.randn(3, 19, 3))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="patch_len"):
        model(lookback=10, patch_len=11)
    with pytest.raises(ValueError, match="attention"):
        model(attention="flash")
    with pytest.raises(ValueError, match="patch-len"):
        CodeConfig(patch_len=0).validate()
