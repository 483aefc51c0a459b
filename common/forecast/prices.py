"""Loading prices, offline by default.

`load_prices` reads the embedded GOOG file in data/, a user's CSV, or (only when asked, or when the
embedded file cannot cover the request) yfinance, whose downloads are cached under data/cache/.

Cleaning rules, the same for every source: column names are matched case-insensitively; rows with a
missing price are dropped (with a warning that says how many); duplicate dates keep the last row;
rows are sorted by date; High and Low are swapped back where High is below Low (with a warning); a gap
of more than a month between dates gets a warning naming it. Anything that cannot be cleaned safely
(a non-positive Close, a negative Volume) raises a ValueError saying why.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.config import option
from common.paths import CACHE_DIR, DATA_DIR
from common.runs import atomic_path

PRICE_COLUMNS = ["Open", "High", "Low", "Close", "Volume"]
SOURCES = ("auto", "embedded", "yfinance")
# Letters, digits and the few symbols real tickers use (BRK.B, ^GSPC, EURUSD=X, BTC-USD).
TICKER_PATTERN = re.compile(r"^[A-Za-z0-9^][A-Za-z0-9.\-=^]{0,14}$")
# Canonical column name for each spelling we accept, compared after lower-casing and dropping
# spaces/underscores: "adj_close", "Adj Close", "adjclose" are all "Adj Close".
_COLUMN_ALIASES = {
    "date": "Date", "datetime": "Date", "timestamp": "Date",
    "open": "Open", "high": "High", "low": "Low", "close": "Close",
    "volume": "Volume", "adjclose": "Adj Close",
}


def check_ticker(ticker: str) -> str:
    """Return the ticker upper-cased, or raise if it cannot be a ticker (it becomes a file name)."""
    if not isinstance(ticker, str) or not TICKER_PATTERN.match(ticker) or ".." in ticker:
        raise ValueError(
            f"{ticker!r} is not a ticker symbol: use letters, digits and . - ^ = only "
            "(e.g. GOOG, BRK.B, ^GSPC)"
        )
    return ticker.upper()


def canonical_column(name: object) -> str | None:
    """The canonical name of a column we accept ("adj_close" -> "Adj Close"), or None for any other."""
    return _COLUMN_ALIASES.get(re.sub(r"[\s_]", "", str(name)).lower())


def parse_days(values: pd.Series, origin: str) -> pd.DatetimeIndex:
    """Dates as days: parsed, time zone and time of day dropped; a ValueError names the first bad one."""
    dates = pd.to_datetime(values, errors="coerce")
    if dates.isna().any():
        first = values[dates.isna()].iloc[0]
        raise ValueError(f"{origin}: {int(dates.isna().sum())} dates could not be read (first: {first!r}); "
                         "use YYYY-MM-DD")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    return pd.DatetimeIndex(dates.dt.normalize())


def clean_prices(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Normalise a raw price table: canonical columns, DatetimeIndex `Date`, numeric, sorted, deduplicated."""
    if frame.empty:
        raise ValueError(f"{origin} has no rows: a price file needs a header and at least one row")
    renamed = {}
    for column in frame.columns:
        canonical = canonical_column(column)
        if canonical is not None and canonical not in renamed.values():
            renamed[column] = canonical
    frame = frame.rename(columns=renamed)
    if "Date" not in frame.columns and isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.rename_axis("Date").reset_index()
    for required in ("Date", "Close"):
        if required not in frame.columns:
            raise ValueError(
                f"{origin} has no {required} column (found: {', '.join(map(str, frame.columns))}); "
                "a price file needs at least Date and Close columns"
            )
    columns = [c for c in [*PRICE_COLUMNS, "Adj Close"] if c in frame.columns]
    prices = pd.DataFrame(index=pd.DatetimeIndex(parse_days(frame["Date"], origin), name="Date"))
    for column in columns:
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            position = int(bad.to_numpy().nonzero()[0][0])
            raise ValueError(
                f"{origin}: column {column} has non-numeric values (first {raw.iloc[position]!r} on "
                f"{prices.index[position].date()}); prices must be numbers"
            )
        prices[column] = values.to_numpy(dtype=float)
    # A user's CSV may hold only Date and Close: derive what the indicators need, and say so.
    missing = [c for c in ("Open", "High", "Low") if c not in prices.columns]
    if missing:
        warnings.warn(f"{origin} has no {', '.join(missing)} column(s); using Close for them", stacklevel=3)
        for column in missing:
            prices[column] = prices["Close"]
    if "Volume" not in prices.columns:
        warnings.warn(f"{origin} has no Volume column; volume features will be left out", stacklevel=3)
        prices["Volume"] = 0.0
    prices = prices[[*PRICE_COLUMNS, *(["Adj Close"] if "Adj Close" in prices.columns else [])]]

    incomplete = prices[PRICE_COLUMNS].isna().any(axis=1)
    if incomplete.any():
        warnings.warn(
            f"{origin}: dropped {int(incomplete.sum())} row(s) with missing prices "
            f"(first on {prices.index[incomplete][0].date()})", stacklevel=3,
        )
        prices = prices[~incomplete]
    duplicated = prices.index.duplicated(keep="last")
    if duplicated.any():
        warnings.warn(f"{origin}: {int(duplicated.sum())} duplicate date(s); kept the last row of each",
                      stacklevel=3)
        prices = prices[~duplicated]
    prices = prices.sort_index()
    if prices.empty:
        raise ValueError(f"{origin} has no complete rows left after dropping missing prices")
    if (prices["Close"] <= 0).any():
        day = prices.index[prices["Close"] <= 0][0].date()
        raise ValueError(f"{origin}: Close must be positive (found {prices['Close'].min()} on {day})")
    if (prices["Volume"] < 0).any():
        day = prices.index[prices["Volume"] < 0][0].date()
        raise ValueError(f"{origin}: Volume counts shares traded and cannot be negative (found "
                         f"{prices['Volume'].min():g} on {day}): fix that column, or delete it")
    prices = _repair_swapped_range(prices, origin)
    _warn_about_gaps(prices.index, origin)
    return prices


def _repair_swapped_range(prices: pd.DataFrame, origin: str) -> pd.DataFrame:
    """High below Low can only be a mistake (the two columns swapped, or mislabelled): swap them back on
    those rows, with a warning, so that the day's range is never negative."""
    swapped = prices["High"] < prices["Low"]
    if not swapped.any():
        return prices
    warnings.warn(f"{origin}: High is below Low on {int(swapped.sum())} of {len(prices)} row(s) (first on "
                  f"{prices.index[swapped][0].date()}): the columns look swapped there; used the larger as "
                  "High and the smaller as Low", stacklevel=4)
    prices = prices.copy()
    high, low = prices.loc[swapped, "High"].to_numpy(), prices.loc[swapped, "Low"].to_numpy()
    prices.loc[swapped, "High"], prices.loc[swapped, "Low"] = low, high
    return prices


MAX_GAP_DAYS = 31  # a daily series has no month without a trading day: a longer gap is missing data


def _warn_about_gaps(dates: pd.DatetimeIndex, origin: str) -> None:
    """Warn, naming the longest one, when the dates jump by more than a month: a window that spans the
    gap would read years apart as consecutive days."""
    if len(dates) < 2:
        return
    gaps = dates[1:] - dates[:-1]
    long = gaps > pd.Timedelta(days=MAX_GAP_DAYS)
    if not long.any():
        return
    longest = int(gaps.argmax())
    days = gaps[longest].days
    span = f"{days / 365.25:.1f} years" if days >= 365 else f"{days} days"
    warnings.warn(f"{origin}: the dates jump from {dates[longest].date()} to {dates[longest + 1].date()} "
                  f"({span} without a row; {int(long.sum())} gap(s) longer than {MAX_GAP_DAYS} days): "
                  "windows across a gap read distant days as consecutive; give a series without gaps, or "
                  "--start after the gap", stacklevel=4)


def read_price_csv(path: str | Path) -> pd.DataFrame:
    """Read and clean a price CSV (any capitalisation of Date/Open/High/Low/Close/Volume/Adj Close)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"price file {path} does not exist")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError as error:
        raise ValueError(f"{path} is empty: a price file needs a header and at least one row") from error
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ValueError(f"{path} is not a readable CSV file ({error})") from error
    return clean_prices(frame, origin=str(path))


def _download_yfinance(ticker: str, start: str | None, end: str | None) -> pd.DataFrame:
    """Download daily prices with yfinance (imported only here: it is never needed offline).

    yfinance reports a failure (no network, unknown ticker) as several lines of log noise and an
    empty frame; here the noise is swallowed and the first line of its error becomes the message.
    """
    import contextlib
    import io
    import logging

    import yfinance

    logger = logging.getLogger("yfinance")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            frame = yfinance.download(ticker, start=start, end=end, auto_adjust=False, progress=False,
                                      threads=False)
    finally:
        logger.setLevel(level)
    if frame is None or frame.empty:
        errors = getattr(getattr(yfinance, "shared", None), "_ERRORS", None) or {}
        reason = str(next(iter(errors.values()), "no rows")).strip().splitlines()
        raise ValueError(f"yfinance returned no rows for {ticker}: {(reason or ['no rows'])[0][:160]}")
    if isinstance(frame.columns, pd.MultiIndex):  # newer yfinance: (field, ticker) columns
        frame.columns = frame.columns.get_level_values(0)
    return frame.reset_index()


def _between(prices: pd.DataFrame, start: str | None, end: str | None, origin: str) -> pd.DataFrame:
    selected = prices.loc[pd.Timestamp(start) if start else None : pd.Timestamp(end) if end else None]
    if selected.empty:
        raise ValueError(
            f"{origin} has no rows between {start or 'the start'} and {end or 'the end'} "
            f"(it covers {prices.index[0].date()} to {prices.index[-1].date()})"
        )
    return selected


def _covers(prices: pd.DataFrame, start: str | None, end: str | None) -> bool:
    return (start is None or pd.Timestamp(start) >= prices.index[0]) and (
        end is None or pd.Timestamp(end) <= prices.index[-1]
    )


def load_prices(
    ticker: str = "GOOG",
    csv: str | Path | None = None,
    start: str | None = None,
    end: str | None = None,
    source: str = "auto",
) -> pd.DataFrame:
    """Daily prices indexed by a `DatetimeIndex` named Date: Open, High, Low, Close, Volume (+ Adj Close).

    source: "embedded" reads data/{TICKER}.csv; "yfinance" downloads (caching under data/cache/);
    "auto" uses the embedded file when it covers start..end, else yfinance, else the cache. With
    `csv` the file is read instead and `ticker`/`source` are ignored.
    """
    if csv is not None:
        return _between(read_price_csv(csv), start, end, str(csv))
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}: use one of {', '.join(SOURCES)}")
    ticker = check_ticker(ticker)
    embedded = DATA_DIR / f"{ticker}.csv"
    cached = CACHE_DIR / f"{ticker}.csv"
    tried = []

    if source in ("auto", "embedded"):
        if embedded.exists():
            prices = read_price_csv(embedded)
            if source == "embedded" or _covers(prices, start, end):
                return _between(prices, start, end, f"embedded {embedded.name}")
            tried.append(f"embedded data/{embedded.name} "
                         f"(covers {prices.index[0].date()}..{prices.index[-1].date()} only)")
        elif source == "embedded":
            raise ValueError(
                f"no embedded data for {ticker}: only data/GOOG.csv ships with the project; "
                "use --csv PATH or --source yfinance (needs internet)"
            )
        else:
            tried.append(f"embedded data/{embedded.name} (not shipped)")

    try:
        frame = _download_yfinance(ticker, start, end)
        prices = clean_prices(frame, origin=f"yfinance {ticker}")
        with atomic_path(cached) as tmp:
            prices.to_csv(tmp)
        return prices
    except Exception as error:  # no network, unknown ticker, rate limit: all fall back to the cache
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        tried.append(f"yfinance download ({first_line})")

    if cached.exists():
        prices = read_price_csv(cached)
        warnings.warn(
            f"yfinance unavailable for {ticker}; using the cached copy {cached} "
            f"({prices.index[0].date()}..{prices.index[-1].date()})", stacklevel=2,
        )
        return _between(prices, start, end, f"cached {cached.name}")
    tried.append(f"cache {cached} (none)")
    raise ValueError(f"no prices for {ticker}. Tried: " + "; ".join(tried)
                     + ". Use --csv PATH to give a file.")


@dataclass
class PriceOptions:
    """Which prices a run reads: the options every price stage shares (Stages 3, 4 and 6), as flags."""

    ticker: str = option("GOOG", "ticker symbol; GOOG ships in data/ so the default runs offline")
    csv: str | None = option(None, "read prices from this CSV instead (needs Date and Close columns)")
    start: str | None = option(None, "first date to use, YYYY-MM-DD")
    end: str | None = option(None, "last date to use, YYYY-MM-DD")
    source: str = option("auto", "embedded data/, yfinance (needs internet; cached), or auto",
                         choices=SOURCES)

    def load(self) -> pd.DataFrame:
        return load_prices(self.ticker, csv=self.csv, start=self.start, end=self.end, source=self.source)

    def source_name(self) -> str:
        """Where the prices came from, for metrics.json: "csv:PATH" or "SOURCE:TICKER"."""
        return f"csv:{self.csv}" if self.csv else f"{self.source}:{self.ticker.upper()}"
