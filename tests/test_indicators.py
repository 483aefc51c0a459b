"""common.forecast.indicators against TA-Lib (the independent reference) and for causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.forecast.indicators import add_indicators, bollinger, ema, macd, rsi, sma

talib = pytest.importorskip("talib")

WASHED_OUT = 300  # rows after which TA-Lib's and our seeding can no longer differ measurably


def assert_close(ours: pd.Series, reference: np.ndarray) -> None:
    ours = ours.to_numpy()[WASHED_OUT:]
    reference = reference[WASHED_OUT:]
    assert not np.isnan(ours).any()
    np.testing.assert_allclose(ours, reference, rtol=1e-6)


def test_sma_matches_talib(goog):
    assert_close(sma(goog["Close"], 20), talib.SMA(goog["Close"].to_numpy(), 20))


@pytest.mark.parametrize("span", [5, 20, 50])
def test_ema_matches_talib(goog, span):
    assert_close(ema(goog["Close"], span), talib.EMA(goog["Close"].to_numpy(), span))


@pytest.mark.parametrize("window", [7, 14])
def test_rsi_matches_talib(goog, window):
    ours = rsi(goog["Close"], window)
    assert_close(ours, talib.RSI(goog["Close"].to_numpy(), window))
    assert ours.dropna().between(0, 100).all()


def test_macd_matches_talib(goog):
    line, signal, hist = talib.MACD(goog["Close"].to_numpy(), 12, 26, 9)
    ours = macd(goog["Close"])
    assert list(ours.columns) == ["macd", "signal", "hist"]
    assert_close(ours["macd"], line)
    assert_close(ours["signal"], signal)
    assert_close(ours["hist"], hist)


def test_bollinger_matches_talib(goog):
    upper, middle, lower = talib.BBANDS(goog["Close"].to_numpy(), 20, 2.0, 2.0)
    ours = bollinger(goog["Close"], 20, 2.0)
    assert list(ours.columns) == ["middle", "upper", "lower"]
    assert_close(ours["upper"], upper)
    assert_close(ours["middle"], middle)
    assert_close(ours["lower"], lower)


def test_warm_up_is_nan_and_index_is_kept(goog):
    close = goog["Close"]
    assert sma(close, 20).iloc[:19].isna().all() and sma(close, 20).iloc[19:].notna().all()
    assert ema(close, 20).iloc[:19].isna().all()
    assert rsi(close, 14).iloc[:14].isna().all()
    assert macd(close)["signal"].iloc[:33].isna().all() and macd(close)["signal"].iloc[33:].notna().all()
    assert sma(close).index.equals(close.index)


def test_indicators_are_causal(goog):
    """Truncating the future leaves every past value unchanged."""
    full = add_indicators(goog)
    for cut in (100, 700, 1500):
        truncated = add_indicators(goog.iloc[:cut])
        pd.testing.assert_frame_equal(truncated, full.iloc[:cut])


def test_indicators_do_not_change_their_input(goog):
    before = goog.copy()
    add_indicators(goog)
    pd.testing.assert_frame_equal(goog, before)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="positive integer"):
        sma(pd.Series([1.0, 2.0, 3.0]), 0)
    with pytest.raises(ValueError, match="NaNs after"):
        ema(pd.Series([1.0, np.nan, 3.0, 4.0]), 2)
    with pytest.raises(ValueError, match="Close"):
        add_indicators(pd.DataFrame({"Open": [1.0]}))
    with pytest.raises(ValueError, match="fast"):
        macd(pd.Series(np.arange(50.0)), fast=26, slow=12)


def test_flat_prices_give_neutral_rsi():
    assert (rsi(pd.Series(np.full(40, 10.0)), 14).dropna() == 50.0).all()
