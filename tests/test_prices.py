"""common.forecast.prices: the embedded files, user CSVs and every bad input the loader must explain."""

from __future__ import annotations

import pandas as pd
import pytest

from common.forecast import prices as prices_module
from common.forecast.prices import load_prices
from common.lm.corpus import load_corpus


def write(tmp_path, text, name="prices.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_embedded_goog(goog):
    assert len(goog) == 2148
    assert goog.index.name == "Date" and isinstance(goog.index, pd.DatetimeIndex)
    assert list(goog.columns) == ["Open", "High", "Low", "Close", "Volume", "Adj Close"]
    assert str(goog.index[0].date()) == "2004-08-19" and str(goog.index[-1].date()) == "2013-03-01"
    assert goog.index.is_monotonic_increasing and goog.index.is_unique
    assert not goog.isna().any().any()


def test_auto_uses_embedded_when_it_covers_the_request(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("auto must not download when the embedded file covers the request")

    monkeypatch.setattr(prices_module, "_download_yfinance", no_network)
    prices = load_prices("goog", start="2010-01-01", end="2010-12-31")
    assert prices.index[0] >= pd.Timestamp("2010-01-01") and prices.index[-1] <= pd.Timestamp("2010-12-31")
    assert 240 < len(prices) < 260


def test_csv_columns_are_matched_case_insensitively(tmp_path):
    path = write(tmp_path, "date,OPEN,high,low,close,adj_close,volume\n"
                           "2020-01-03,1,2,0.5,1.5,1.4,100\n2020-01-02,1,2,0.5,1.2,1.1,90\n")
    prices = load_prices(csv=path)
    assert list(prices.columns) == ["Open", "High", "Low", "Close", "Volume", "Adj Close"]
    assert prices.index.is_monotonic_increasing and prices["Close"].tolist() == [1.2, 1.5]


def test_csv_with_only_date_and_close_works_with_a_warning(tmp_path):
    path = write(tmp_path, "Date,Close\n2020-01-02,10\n2020-01-03,11\n")
    with pytest.warns(UserWarning, match="no Open"):
        prices = load_prices(csv=path)
    assert (prices["High"] == prices["Close"]).all() and (prices["Volume"] == 0).all()


def test_duplicate_dates_keep_the_last_row(tmp_path):
    path = write(tmp_path, "Date,Open,High,Low,Close,Volume\n"
                           "2020-01-02,1,1,1,1,1\n2020-01-02,2,2,2,2,2\n2020-01-03,3,3,3,3,3\n")
    with pytest.warns(UserWarning, match="duplicate"):
        prices = load_prices(csv=path)
    assert prices["Close"].tolist() == [2.0, 3.0]


def test_rows_with_missing_prices_are_dropped_and_reported(tmp_path):
    path = write(tmp_path, "Date,Open,High,Low,Close,Volume\n"
                           "2020-01-02,1,1,1,1,1\n2020-01-03,2,2,2,,2\n2020-01-06,3,3,3,3,3\n")
    with pytest.warns(UserWarning, match="dropped 1 row"):
        prices = load_prices(csv=path)
    assert len(prices) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Date,Open,High,Low,Volume\n2020-01-02,1,1,1,1\n", "no Close column"),
        ("Open,Close\n1,2\n", "no Date column"),
        ("", "empty"),
        ("Date,Close\n", "no rows"),
        ("Date,Close\n2020-01-02,abc\n", "non-numeric"),
        ("Date,Close\nyesterday,1\n", "could not be read"),
        ("Date,Close\n2020-01-02,-5\n", "positive"),
    ],
)
def test_bad_csvs_give_clear_errors(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_prices(csv=write(tmp_path, text))


def test_missing_csv_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_prices(csv=tmp_path / "nope.csv")


@pytest.mark.parametrize("ticker", ["../../etc/passwd", "GO OG", "", "A" * 30, "..", "x/y"])
def test_strings_that_are_not_tickers_are_refused(ticker):
    with pytest.raises(ValueError, match="not a ticker"):
        load_prices(ticker)


def test_unknown_ticker_offline_says_what_was_tried(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(prices_module, "_download_yfinance", offline)
    monkeypatch.setattr(prices_module, "CACHE_DIR", tmp_path)
    with pytest.raises(ValueError, match="no prices for ZZZZ.*embedded.*yfinance.*cache"):
        load_prices("ZZZZ")
    with pytest.raises(ValueError, match="no embedded data for ZZZZ"):
        load_prices("ZZZZ", source="embedded")


def test_yfinance_falls_back_to_the_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(prices_module, "CACHE_DIR", tmp_path)
    write(tmp_path, "Date,Open,High,Low,Close,Volume\n2020-01-02,1,1,1,1,1\n", name="ABC.csv")

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(prices_module, "_download_yfinance", offline)
    with pytest.warns(UserWarning, match="cached copy"):
        prices = load_prices("ABC", source="yfinance")
    assert prices["Close"].tolist() == [1.0]


def test_yfinance_download_is_cleaned_and_cached(monkeypatch, tmp_path):
    monkeypatch.setattr(prices_module, "CACHE_DIR", tmp_path)
    frame = pd.DataFrame(
        {"Date": pd.to_datetime(["2020-01-02", "2020-01-03"]), "Open": [1, 2], "High": [1, 2], "Low": [1, 2],
         "Close": [1.0, 2.0], "Adj Close": [1.0, 2.0], "Volume": [5, 6]}
    )
    monkeypatch.setattr(prices_module, "_download_yfinance", lambda *args: frame)
    prices = load_prices("ABC", source="yfinance")
    assert prices["Close"].tolist() == [1.0, 2.0]
    assert load_prices(csv=tmp_path / "ABC.csv")["Close"].tolist() == [1.0, 2.0]


def test_unknown_source():
    with pytest.raises(ValueError, match="unknown source"):
        load_prices(source="bloomberg")


def test_corpus():
    text = load_corpus("shakespeare")
    assert 900_000 < len(text) < 1_200_000
    assert "HAMLET" in text and "gutenberg" not in text.lower()


def test_corpus_bad_inputs(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        load_corpus(tmp_path / "empty.txt")
    (tmp_path / "binary.bin").write_bytes(b"\x00\x01\x02abc")
    with pytest.raises(ValueError, match="binary"):
        load_corpus(tmp_path / "binary.bin")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8"):
        load_corpus(tmp_path / "latin1.txt")
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "missing.txt")


def test_an_offline_yfinance_gives_one_line_not_its_log_noise(monkeypatch, tmp_path, capsys):
    """yfinance logs a DNS failure over many lines and returns an empty frame: we say it in one."""
    import logging
    import sys
    import types

    def noisy_download(*args, **kwargs):
        logging.getLogger("yfinance").error(
            "1 Failed download:\n['ZZZZ']: ConnectionError(DNS lookup failed)"
        )
        print("Traceback (most recent call last): ... many lines ...", file=sys.stderr)
        return pd.DataFrame()

    errors = {"ZZZZ": "ConnectionError(DNS lookup failed)\nmore"}
    fake = types.SimpleNamespace(download=noisy_download, shared=types.SimpleNamespace(_ERRORS=errors))
    monkeypatch.setitem(sys.modules, "yfinance", fake)
    monkeypatch.setattr(prices_module, "CACHE_DIR", tmp_path)
    with pytest.raises(ValueError) as error:
        load_prices("ZZZZ", source="yfinance")
    message = str(error.value)
    assert "DNS lookup failed" in message and "\n" not in message
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Failed download" not in captured.err
