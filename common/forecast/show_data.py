"""Draw the embedded price series with its indicators: the first thing `make demo` shows.

    python -m common.forecast.show_data                    # GOOG, offline -> outputs/data/GOOG_indicators.png
    python -m common.forecast.show_data --csv my.csv --out outputs/data
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import option, parse_config, run_cli
from common.forecast.indicators import add_indicators
from common.forecast.plots import plot_indicator_chart
from common.forecast.prices import SOURCES, load_prices
from common.paths import output_dir


@dataclass
class ShowDataConfig:
    ticker: str = option("GOOG", "ticker symbol; GOOG ships in data/ so it works offline")
    csv: str | None = option(None, "read prices from this CSV instead (needs Date and Close columns)")
    start: str | None = option(None, "first date to draw, YYYY-MM-DD")
    end: str | None = option(None, "last date to draw, YYYY-MM-DD")
    source: str = option("auto", "where prices come from: embedded data/, yfinance, or auto", choices=SOURCES)
    out: str = option(str(output_dir("data")), "folder for the chart")


def main(argv: list[str] | None = None) -> None:
    config = parse_config(ShowDataConfig, argv, description=__doc__)
    prices = load_prices(config.ticker, csv=config.csv, start=config.start, end=config.end,
                         source=config.source)
    name = "custom" if config.csv else config.ticker.upper()
    frame = add_indicators(prices)
    path = plot_indicator_chart(
        frame, f"{config.out}/{name}_indicators.png",
        title=f"{name} daily close, {frame.index[0].date()} to {frame.index[-1].date()}: "
              "trend, momentum, volatility",
    )
    print(f"{len(prices)} days of {name} -> {path}")


if __name__ == "__main__":
    run_cli(main)
