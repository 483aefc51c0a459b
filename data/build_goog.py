"""Rebuild data/GOOG.csv from the public-domain Quandl WIKI prices shipped in bokeh-sampledata.

The project never downloads at run time; this script documents (and re-checks) how the embedded
file was made:

    pip download --no-deps bokeh-sampledata==2026.1 -d /tmp/bk
    python data/build_goog.py /tmp/bk/bokeh_sampledata-2026.1-py3-none-any.whl

It reads `bokeh_sampledata/_data/stocks.csv.gz` from the wheel, keeps the GOOG rows only and writes
`Date,Open,High,Low,Close,Volume,Adj Close` sorted by date.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import zipfile
from pathlib import Path

MEMBER = "bokeh_sampledata/_data/stocks.csv.gz"
COLUMNS = ["Date", "Open", "High", "Low", "Close", "Volume", "Adj Close"]
OUT = Path(__file__).resolve().parent / "GOOG.csv"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("wheel", type=Path, help="path to bokeh_sampledata-2026.1-py3-none-any.whl")
    parser.add_argument("--ticker", default="GOOG", help="ticker to extract (the project ships GOOG only)")
    args = parser.parse_args()

    with zipfile.ZipFile(args.wheel) as wheel:
        raw = gzip.decompress(wheel.read(MEMBER)).decode("utf-8")
    rows = [row for row in csv.DictReader(io.StringIO(raw)) if row["Ticker"] == args.ticker]
    if not rows:
        raise SystemExit(f"no rows for ticker {args.ticker!r} in {MEMBER}")
    rows.sort(key=lambda row: row["Date"])
    with open(OUT, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row[column] for column in COLUMNS])
    print(f"wrote {len(rows)} rows, {rows[0]['Date']} -> {rows[-1]['Date']}, to {OUT}")


if __name__ == "__main__":
    main()
