"""The agent's tools: the earlier stages' models behind plain functions, each with a typed signature and a
docstring that says what it answers. `ask.py`'s router picks one per step of a request; nothing here
knows about routing.

    prices("GOOG", "2012-01-01", "2012-12-31", as_of="2013-03-01")   # Stage 3/4's price data
    indicators("GOOG", "2012-06-29", as_of=...)                      # common/forecast/indicators.py
    forecast("GOOG", "2012-03-01", "2012-03-07", "lstm", as_of=...)  # a saved Stage 3 / 4 run
    sentiment("Operating profit fell to EUR 5 mn", as_of=...)        # Stage 5's reader
    backtest("2012-01-01", "2012-06-30", as_of=...)                  # Stage 6's saved RL run
    generate_text("ROMEO:", as_of=...)                               # a saved Stage 1 / 2 run

Point in time. Every tool takes `as_of` (a day; None means the last day of the data) and refuses, with one
`Refusal` sentence, to read any row after it:
- prices and indicators for a day after `as_of` are refused; indicators on a day use rows up to it only;
- a forecast "for" day D uses rows before D only, so it is refused when a trading day lies between
  `as_of` and D; it is read from a saved run's out-of-sample predictions (its network was fitted on rows
  before the run's test split), and a day that no saved run covers gets a fresh tiny network trained on
  rows up to D, which the answer says;
- the RL agent was trained and chosen on rows up to the end of its validation split: asked with an
  earlier `as_of`, it refuses, since its decisions would carry what it learned from later rows;
- sentences and generated text carry no date: `as_of` is recorded and has nothing to filter.

This module is the one place where Stage 6's agent reaches into other stages (declared in
tests/test_runtime.py): Stage 5 for the encoder and the sentiment reader, Stage 4's map of forecasting
stages, and Stages 1 / 2 for sampling. Each is imported inside the tool that needs it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.paths import output_dir

DEFAULT_TICKER = "GOOG"  # the one series shipped in data/, so every default runs offline
FORECAST_MODELS = {
    "lstm": ("MemoryLLM", "LSTM (Stage 3)"),
    "transformer": ("CodeLLM", "Transformer (Stage 4)"),
}
MAX_FORECAST_DAYS = 31  # a longer range is a table, not an answer


class Refusal(ValueError):
    """A tool's one-sentence refusal (a row after as_of, an unknown ticker, no saved run): the agent
    shows it as the answer and the trace says which step stopped."""


@dataclass(frozen=True)
class Tool:
    """A tool as the router and the planner see it: its name, its function, and the text the router
    compares requests with (`description` plus `examples`, in `router.py`)."""

    name: str
    function: Callable[..., dict[str, Any]]
    arguments: tuple[str, ...]  # the keyword arguments the planner fills from the request

    @property
    def description(self) -> str:
        return (self.function.__doc__ or "").strip().splitlines()[0]


# ------------------------------------------------------------------------------------------ point in time


def day(value: str | pd.Timestamp | None, what: str) -> pd.Timestamp | None:
    """A date as a day (None stays None); a ValueError names the bad input."""
    if value is None:
        return None
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError):
        raise Refusal(f"{what} {value!r} is not a date: write it as YYYY-MM-DD") from None


def load_until(ticker: str, as_of: str | pd.Timestamp | None) -> tuple[pd.DataFrame, pd.Timestamp]:
    """(prices up to as_of, the as_of day used): embedded data only, never a download. as_of None is
    the data's last day; an as_of before the data's first day is refused."""
    from common.forecast.prices import load_prices

    try:
        prices = load_prices(ticker, source="embedded")
    except ValueError as error:  # the unknown-ticker message of common/forecast/prices.py
        first = str(error).split(":")[0]
        raise Refusal(
            f"{first}: only GOOG ships offline with the project (give it, or train a stage on your own CSV)"
        ) from None
    cutoff = day(as_of, "as_of") or prices.index[-1]
    if cutoff < prices.index[0]:
        raise Refusal(
            f"as_of {cutoff.date()} is before {ticker.upper()}'s first day "
            f"({prices.index[0].date()}): there is nothing to read yet"
        )
    return prices.loc[:cutoff], cutoff


def refuse_after(last_day: pd.Timestamp, as_of: pd.Timestamp, what: str) -> None:
    """The one sentence every tool says when a request needs a row after as_of."""
    if last_day > as_of:
        raise Refusal(
            f"as_of is {as_of.date()}, and {what} up to {last_day.date()} would use rows after it: "
            f"ask about days on or before {as_of.date()}"
        )


def rows_between(
    prices: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp | None, ticker: str
) -> pd.DataFrame:
    selected = prices.loc[start:end]
    if selected.empty:
        first = "the start" if start is None else str(start.date())
        span = f"{first} to {'the end' if end is None else end.date()}"
        raise Refusal(
            f"{ticker.upper()} has no trading days from {span} (the data covers "
            f"{prices.index[0].date()} to {prices.index[-1].date()})"
        )
    return selected


# ------------------------------------------------------------------------------------------ the tools


def prices(
    ticker: str = DEFAULT_TICKER, start: str | None = None, end: str | None = None, as_of: str | None = None
) -> dict[str, Any]:
    """Prices and returns of a stock over a date range: first and last close, total return, high, low."""
    first, last = day(start, "start"), day(end, "end")
    history, cutoff = load_until(ticker, None)  # the whole file, to name a refused day exactly
    cutoff = day(as_of, "as_of") or cutoff
    refuse_after(last or history.index[-1], cutoff, f"{ticker.upper()}'s prices")
    rows = rows_between(history.loc[:cutoff], first, last, ticker)
    close = rows["Close"]
    # the return over the range counts from the close before its first day, when there is one
    before = history.loc[: rows.index[0]].iloc[:-1]
    base = float(before["Close"].iloc[-1]) if len(before) else float(close.iloc[0])
    log_returns = np.log(close / close.shift(1)).dropna()
    result = {
        "ticker": ticker.upper(),
        "first_day": str(rows.index[0].date()),
        "last_day": str(rows.index[-1].date()),
        "days": len(rows),
        "start_close": round(base, 2),
        "end_close": round(float(close.iloc[-1]), 2),
        "total_return_pct": round(100 * (float(close.iloc[-1]) / base - 1), 2),
        "high": round(float(rows["High"].max() if "High" in rows else close.max()), 2),
        "low": round(float(rows["Low"].min() if "Low" in rows else close.min()), 2),
        "daily_volatility_pct": round(100 * float(log_returns.std()), 2) if len(log_returns) > 1 else None,
    }
    result["summary"] = (
        f"{result['ticker']} from {result['first_day']} to {result['last_day']} ({len(rows)} "
        f"trading days): close {result['start_close']}{' (the day before)' if len(before) else ''} -> "
        f"{result['end_close']}, "
        f"{result['total_return_pct']:+.2f} %; high {result['high']}, low {result['low']}."
    )
    return result


def indicators(
    ticker: str = DEFAULT_TICKER, date: str | None = None, as_of: str | None = None
) -> dict[str, Any]:
    """Technical indicators of a stock on a day: SMA, EMA, RSI, MACD and Bollinger Bands."""
    from common.forecast.indicators import add_indicators

    history, cutoff = load_until(ticker, None)
    cutoff = day(as_of, "as_of") or cutoff
    asked = day(date, "date") or cutoff
    refuse_after(asked, cutoff, f"{ticker.upper()}'s indicators")
    rows = rows_between(history.loc[:cutoff], None, asked, ticker)  # rows up to the day only
    table = add_indicators(rows).dropna()
    if table.empty:
        raise Refusal(
            f"{ticker.upper()} has too few days before {asked.date()} for the indicators (they need about 50)"
        )
    row = table.iloc[-1]
    values = {
        name: round(float(value), 3) for name, value in row.items() if name not in ("Volume", "Adj Close")
    }
    result = {"ticker": ticker.upper(), "date": str(table.index[-1].date()), **values}
    columns = {
        "sma_20": "SMA(20)",
        "ema_20": "EMA(20)",
        "rsi_14": "RSI(14)",
        "macd": "MACD",
        "macd_signal": "MACD signal",
        "bb_lower": "Bollinger lower",
        "bb_upper": "upper",
    }
    shown = ", ".join(f"{label} {values[name]:.2f}" for name, label in columns.items() if name in values)
    result["summary"] = (
        f"{result['ticker']} on {result['date']}: close {values.get('Close', float('nan')):.2f}, {shown}."
    )
    return result


def forecast(
    ticker: str = DEFAULT_TICKER,
    start: str | None = None,
    end: str | None = None,
    model: str = "transformer",
    as_of: str | None = None,
) -> dict[str, Any]:
    """Forecast of a stock's next-day closing price by the LSTM or the Transformer network, for days."""
    if model not in FORECAST_MODELS:
        raise Refusal(f"unknown forecasting model {model!r}: use lstm or transformer")
    history, data_end = load_until(ticker, None)
    cutoff = day(as_of, "as_of") or data_end
    first = day(start, "start") or cutoff
    last = day(end, "end") or first
    days = history.loc[first:last].index
    if len(days) == 0:
        raise Refusal(
            f"{ticker.upper()} has no trading days from {first.date()} to {last.date()} to forecast "
            f"(the data covers {history.index[0].date()} to {data_end.date()})"
        )
    if len(days) > MAX_FORECAST_DAYS:
        raise Refusal(f"that is {len(days)} trading days to forecast: ask for {MAX_FORECAST_DAYS} or fewer")
    # a forecast for day D reads rows before D only: no trading day may lie between as_of and D
    previous_rows = history.index[history.index < days[-1]]
    refuse_after(
        previous_rows[-1] if len(previous_rows) else days[-1],
        cutoff,
        f"a forecast for {days[-1].date()} reads rows",
    )
    folder = output_dir(FORECAST_MODELS[model][0])
    table, source = _saved_forecasts(folder, ticker, days)
    if table is None:
        refuse_after(days[-1], cutoff, "a fresh network trained for these days reads rows")
        table, source = _fresh_forecasts(model, ticker, days)
    table = table.loc[days]
    known = table.index <= cutoff  # the actual close is shown only where as_of has it
    rows = [
        {
            "date": str(when.date()),
            "forecast": round(float(row["as_trained"]), 2),
            "deployed": round(float(row["guarded"]), 2),
            "previous_close": round(float(row["anchor_close"]), 2),
            "actual": round(float(row["actual"]), 2) if seen else None,
        }
        for (when, row), seen in zip(table.iterrows(), known)
    ]
    errors = [abs(item["forecast"] - item["actual"]) for item in rows if item["actual"] is not None]
    naive = [abs(item["previous_close"] - item["actual"]) for item in rows if item["actual"] is not None]
    label = FORECAST_MODELS[model][1]
    result = {
        "ticker": ticker.upper(),
        "model": label,
        "source": source,
        "forecasts": rows,
        "mean_abs_error": round(float(np.mean(errors)), 2) if errors else None,
        "naive_mean_abs_error": round(float(np.mean(naive)), 2) if naive else None,
    }
    shown = "; ".join(
        f"{item['date']}: {item['forecast']:.2f}"
        + (f" (actual {item['actual']:.2f})" if item["actual"] is not None else "")
        for item in rows[:7]
    )
    more = f"; ... {len(rows) - 7} more" if len(rows) > 7 else ""
    score = (
        f" Mean absolute error {result['mean_abs_error']:.2f} against {result['naive_mean_abs_error']:.2f} "
        "for 'no change'."
        if errors
        else ""
    )
    fell_back = all(item["deployed"] == item["previous_close"] for item in rows)
    deployed = (
        " As deployed, the stage's guard falls back to 'no change' (the network did not beat it on "
        "validation)."
        if fell_back
        else ""
    )
    result["summary"] = (
        f"The {label} forecast of {ticker.upper()}'s close, {source}: {shown}{more}.{score}{deployed}"
    )
    return result


def _saved_forecasts(folder: Path, ticker: str, days: pd.DatetimeIndex) -> tuple[pd.DataFrame | None, str]:
    """The saved run's out-of-sample (test split) one-day forecasts covering `days`, or (None, why not)."""
    predictions, metrics_path = folder / "predictions.csv", folder / "metrics.json"
    if not (predictions.is_file() and metrics_path.is_file()):
        return None, f"no saved run in {folder}"
    metrics = json.loads(metrics_path.read_text())
    if str(metrics.get("data", {}).get("source", "")).split(":")[-1].upper() != ticker.upper():
        return None, f"the saved run in {folder} is not on {ticker.upper()}"
    table = pd.read_csv(predictions, parse_dates=["date"])
    table = table[table["step"] == 1].set_index("date")
    if not days.isin(table.index).all():
        return (
            None,
            f"the saved run's test split ({table.index[0].date()} to {table.index[-1].date()}) misses a day",
        )
    fitted_until = metrics.get("split", {}).get("validation", [None, None])[1]
    return table, (
        f"from the saved run in {folder.relative_to(folder.parents[1])} (fitted on rows up to "
        f"{fitted_until}, before these days)"
    )


def _fresh_forecasts(model: str, ticker: str, days: pd.DatetimeIndex) -> tuple[pd.DataFrame, str]:
    """Train a tiny network (the stage's `tiny` preset, seconds) on prices ending at the last day asked;
    its test split holds the days, and it is fitted on rows before that split only."""
    from CodeLLM.stages import stage_runner
    from common.config import preset_config

    config_cls, run = stage_runner(model)
    with tempfile.TemporaryDirectory(prefix="agentllm_forecast_") as out:
        config = preset_config(
            config_cls, "tiny", ticker=ticker, source="embedded", end=str(days[-1].date()), out=out
        )
        run(config, verbose=False)
        table = pd.read_csv(Path(out) / "predictions.csv", parse_dates=["date"])
    table = table[table["step"] == 1].set_index("date")
    if not days.isin(table.index).all():
        raise Refusal(
            f"the days asked reach back before a fresh run's test split (from {table.index[0].date()}): "
            "ask for fewer days"
        )
    return table, (
        "from a FRESH TINY network trained just now (no saved run covers these days: train one with "
        f"python {FORECAST_MODELS[model][0]}/train.py for a real forecast)"
    )


def sentiment(text: str, as_of: str | None = None) -> dict[str, Any]:
    """Sentiment of a sentence or headline: negative, neutral or positive, with probabilities."""
    from AgentLLM.text import CLASSES, load_reader

    if not text or not text.strip():
        raise Refusal("there is no sentence to read: put the text in quotes")
    reader = load_reader()
    probabilities = reader.read([text.strip()])[0]
    label = CLASSES[int(np.argmax(probabilities))]
    result = {
        "text": text.strip(),
        "label": label,
        "probabilities": {name: round(float(p), 3) for name, p in zip(CLASSES, probabilities)},
        "reader": reader.describe().get("model"),
        "as_of_note": "a sentence carries no date",
    }
    result["summary"] = (
        f"Stage 5's reader ({result['reader']}) reads {text.strip()!r} as {label} "
        f"(p = {float(np.max(probabilities)):.2f})."
    )
    return result


def backtest(
    start: str | None = None, end: str | None = None, as_of: str | None = None, ticker: str = DEFAULT_TICKER
) -> dict[str, Any]:
    """The RL trading agent's positions and backtest over a date range, beside buy-and-hold."""
    from common.trading.backtest import span_log_returns

    folder = output_dir("AgentLLM")
    path, config_path, metrics_path = (
        folder / "positions.csv",
        folder / "config.json",
        folder / "metrics.json",
    )
    if not (path.is_file() and metrics_path.is_file()):
        raise Refusal(
            f"no saved trading agent in {folder}: train one with python AgentLLM/train.py (about 3 minutes)"
        )
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    if config.get("csv") or str(config.get("ticker", DEFAULT_TICKER)).upper() != ticker.upper():
        raise Refusal(
            f"the saved trading agent trades {config.get('csv') or config.get('ticker')}, "
            f"not {ticker.upper()}"
        )
    frame = pd.read_csv(path, parse_dates=["date"]).set_index("date")
    chosen_until = pd.Timestamp(json.loads(metrics_path.read_text())["splits"]["validation"]["last_decision"])
    cutoff = day(as_of, "as_of") or frame.index[-1]
    if cutoff < chosen_until:
        raise Refusal(
            f"as_of is {cutoff.date()}, and the saved agent was trained and chosen on rows up to "
            f"{chosen_until.date()}: its decisions would use rows after as_of"
        )
    first, last = day(start, "start") or frame.index[0], day(end, "end") or cutoff
    refuse_after(last, cutoff, "a backtest")
    inside = np.flatnonzero((frame.index >= first) & (frame.index <= last))
    if len(inside) == 0 or (len(inside) == 1 and inside[0] == 0):
        raise Refusal(
            f"the agent made no decision from {first.date()} to {last.date()} (it covers "
            f"{frame.index[0].date()} to {frame.index[-1].date()})"
        )
    # decisions of days [begin, stop), held to day `stop`; one day asked: the decision before it, held on it
    begin, stop = (
        (int(inside[0]), int(inside[-1])) if len(inside) > 1 else (int(inside[0]) - 1, int(inside[0]))
    )
    cost_bps = float(config.get("cost_bps", 10.0))
    open_, close = frame["open"].to_numpy(float), frame["close"].to_numpy(float)
    returns = {
        name: 100
        * float(
            np.expm1(
                span_log_returns(open_, close, frame[name].to_numpy(float), begin, stop, cost_bps)[0].sum()
            )
        )
        for name in ("guarded", "as_trained", "buy_and_hold")
    }
    splits = sorted(set(frame["split"].iloc[begin : stop + 1]))
    last_position = float(frame["as_trained"].iloc[stop])
    position_name = {1.0: "long", 0.0: "flat", -1.0: "short"}.get(last_position, f"{last_position:+.2f}")
    result = {
        "first_day": str(frame.index[begin].date()),
        "last_day": str(frame.index[stop].date()),
        "cost_bps": cost_bps,
        "return_pct": {name: round(value, 2) for name, value in returns.items()},
        "agent_decision_on_last_day": position_name,
        "splits": splits,
        "in_sample": any(split != "test" for split in splits),
    }
    warning = (
        " These days include the agent's own training / validation days (in-sample)."
        if result["in_sample"]
        else ""
    )
    result["summary"] = (
        f"From {result['first_day']} to {result['last_day']} at {cost_bps:g} bps per side: the RL "
        f"agent as trained {returns['as_trained']:+.2f} %, as deployed (guarded) "
        f"{returns['guarded']:+.2f} %, buy-and-hold {returns['buy_and_hold']:+.2f} %. On "
        f"{result['last_day']} the agent decided to be {position_name}.{warning}"
    )
    return result


def generate_text(
    prompt: str = "ROMEO:",
    style: str = "characters",
    as_of: str | None = None,
    length: int = 200,
    seed: int = 1,
) -> dict[str, Any]:
    """Write text in the style of Shakespeare with a trained character or word language model."""
    import torch

    from common.lm.harness import continue_text, generate, never_sample

    if style == "words":
        from SmaLLM.sample import load_run

        stage = "SmaLLM"
    else:
        from TinyLLM.sample import load_run

        stage = "TinyLLM"
    folder = output_dir(stage)
    if not (folder / "checkpoint.pt").is_file():
        raise Refusal(
            f"no saved {stage} run in {folder}: train one with python {stage}/train.py (about 4 "
            "minutes), then ask again"
        )
    model, tokenizer = load_run(folder, torch.device("cpu"))
    prompt_ids = tokenizer.encode(prompt)
    ids = generate(
        model,
        prompt_ids,
        length,
        0.8,
        40,
        torch.Generator().manual_seed(seed),
        exclude=never_sample(tokenizer),
    )
    text = continue_text(tokenizer, prompt, prompt_ids, ids)
    return {
        "stage": stage,
        "prompt": prompt,
        "text": text,
        "as_of_note": "generated text carries no date",
        "summary": f"{stage} ({folder.name}) continues {prompt!r}:\n{text}",
    }


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("prices", prices, ("ticker", "start", "end")),
        Tool("indicators", indicators, ("ticker", "date")),
        Tool("forecast", forecast, ("ticker", "start", "end", "model")),
        Tool("sentiment", sentiment, ("text",)),
        Tool("backtest", backtest, ("start", "end", "ticker")),
        Tool("generate_text", generate_text, ("prompt", "style")),
    )
}
