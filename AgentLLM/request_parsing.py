"""What the planner pulls out of a request before routing: quoted sentences, tickers, dates, an `as of` day,
the forecasting model and the text style; and the request cut into steps.

    parsed = parse_request("How did GOOG do in 2012, and what did the LSTM forecast for March 2012?")
    parsed.steps    # ['How did GOOG do in 2012', 'what did the LSTM forecast for March 2012']
    dates_in(parsed.steps[1])   # [(Timestamp('2012-03-01'), Timestamp('2012-03-31'))]

Rules, plain regular expressions (a generative model could do this part; see README):
- a quoted sentence ("...", '...', or curly quotes) is taken out first and replaced by `QUOTED_MARK`, so
  that its words neither split the request nor sway the router ("profit fell" is not about prices);
- `as of DAY` (also `as at`, `knowing only data up to DAY`) sets the point in time;
- steps are cut at sentence ends, semicolons, "then", and at "and" / "also" before a new question or verb
  ("..., and what did ..."), never inside "prices and returns";
- dates: 2012-03-05; March 5, 2012; 5 March 2012; the first / second / third / last week of March 2012;
  March 2012; Q1 2012 / the first quarter of 2012; the first / second half of 2012; 2012. Two dates in a
  step make a range from the first's start to the last's end.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field

import pandas as pd

QUOTED_MARK = '"the quoted text"'  # what the router reads in place of a quoted sentence
COMPANY_TICKERS = {
    "google": "GOOG",
    "alphabet": "GOOG",
    "apple": "AAPL",
    "microsoft": "MSFT",
    "amazon": "AMZN",
    "tesla": "TSLA",
    "facebook": "META",
    "meta": "META",
    "nvidia": "NVDA",
    "netflix": "NFLX",
    "ibm": "IBM",
    "intel": "INTC",
    "yahoo": "YHOO",
}
# Upper-case words that are not tickers: the project's own acronyms and common abbreviations.
NOT_TICKERS = {
    "I",
    "A",
    "LSTM",
    "RNN",
    "RSI",
    "MACD",
    "SMA",
    "EMA",
    "RL",
    "PPO",
    "A2C",
    "DQN",
    "EUR",
    "USD",
    "US",
    "OK",
    "AI",
    "CEO",
    "CFO",
    "NYT",
    "JSON",
    "BERT",
    "GPT",
    "LLM",
    "MN",
    "Q1",
    "Q2",
    "Q3",
    "Q4",
    "UK",
    "IPO",
    "ETF",
    "EPS",
    "GDP",
    "CPU",
    "GPU",
    "AM",
    "PM",
    "ML",
    "NLP",
    "TF",
    "BB",
    "MA",
    "THE",
    "AND",
    "WHAT",
    "HOW",
    "IS",
    "IT",
    "NO",
    "DO",
    "OF",
    "ON",
    "IN",
    "TO",
    "BE",
    "MY",
    "ME",
    "AT",
    "BY",
    "OR",
}
MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): number for number, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
YEAR = r"((?:19|20)\d\d)"
ORDINAL_WEEK = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3}
# a step starts again at "and" / "also" / "then" followed by one of these
STEP_STARTERS = (
    r"what|what's|whats|how|where|which|who|is|are|was|were|did|does|do|can|could|would|will|show|"
    r"give|tell|write|run|compute|calculate|forecast|predict|generate|compose|check|classify|rate|"
    r"read|list|get|fetch|compare|make|produce|let|i'd|i|please|judge|score|report"
)

QUOTE_PATTERN = re.compile(r'"([^"]+)"|“([^”]+)”|‘(.+?)’|(?<![\w])\'(.+?)\'(?![\w])')
AS_OF_PATTERN = re.compile(
    r"\b(?:as of|as at|as it stood on|knowing only (?:the )?(?:data|prices|rows) (?:up to|until|through))"
    r"\s+(.+?)(?=$|[,;?!]|\s(?:and|what|how|then)\b|\.\s)",
    re.IGNORECASE,
)


@dataclass
class ParsedRequest:
    """A request, taken apart: `steps` are its pieces with quotes masked; `quotes` in order of appearance."""

    text: str
    masked: str
    steps: list[str]
    quotes: list[str] = field(default_factory=list)
    as_of: pd.Timestamp | None = None


def find_quotes(text: str) -> tuple[list[str], str]:
    """(quoted sentences, the text with each replaced by QUOTED_MARK)."""
    quotes: list[str] = []

    def keep(match: re.Match[str]) -> str:
        quotes.append(next(group for group in match.groups() if group is not None).strip())
        return QUOTED_MARK

    return quotes, QUOTE_PATTERN.sub(keep, text)


def split_steps(masked: str) -> list[str]:
    """The request's steps, in order (quotes already masked, so nothing inside one splits)."""
    pieces = re.split(
        r"(?<=[?!])\s+|(?<=[a-z0-9)\"])\.\s+(?=[A-Z])|;\s*|\s*,?\s+(?:and\s+)?then\s+", masked.strip()
    )
    steps: list[str] = []
    for piece in pieces:
        parts = re.split(
            rf"\s*,?\s+(?:and also|(?:and|also|plus)\s+(?=(?:{STEP_STARTERS})\b))\s*",
            piece,
            flags=re.IGNORECASE,
        )
        steps.extend(part.strip(" ,.?!") for part in parts)
    steps = [step for step in steps if step]
    # a fragment of one or two words ("Thanks", "please") is not a step of its own: join it to its neighbour
    merged: list[str] = []
    for step in steps:
        if merged and len(step.split()) <= 2:
            merged[-1] = f"{merged[-1]} {step}"
        else:
            merged.append(step)
    return merged


def parse_request(text: str) -> ParsedRequest:
    quotes, masked = find_quotes(text)
    as_of = None
    found = AS_OF_PATTERN.search(masked)
    if found:
        ranges = dates_in(found.group(1))
        if ranges:
            as_of = ranges[0][1]  # "as of March 2012": the end of March
            masked = (masked[: found.start()] + masked[found.end() :]).strip()
    return ParsedRequest(text=text, masked=masked, steps=split_steps(masked), quotes=quotes, as_of=as_of)


# ------------------------------------------------------------------------------------------ dates


def _month_range(year: int, month: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    first = pd.Timestamp(year=year, month=month, day=1)
    return first, first + pd.offsets.MonthEnd(0)


def dates_in(text: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Every date expression of `text` as a (first day, last day) range, in order of appearance."""
    found: list[tuple[int, tuple[pd.Timestamp, pd.Timestamp]]] = []
    taken = [False] * len(text)

    def claim(match: re.Match[str], span: tuple[pd.Timestamp, pd.Timestamp]) -> None:
        if not any(taken[match.start() : match.end()]):
            found.append((match.start(), span))
            taken[match.start() : match.end()] = [True] * (match.end() - match.start())

    lower = text.lower()
    for match in re.finditer(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", lower):
        try:
            when = pd.Timestamp(year=int(match[1]), month=int(match[2]), day=int(match[3]))
        except ValueError:
            continue
        claim(match, (when, when))
    week = rf"\b(first|1st|second|2nd|third|3rd|fourth|4th|last|final) week of {MONTH},? {YEAR}\b"
    for match in re.finditer(week, lower):
        first, last = _month_range(int(match[3]), MONTHS[match[2]])
        if match[1] in ("last", "final"):
            claim(match, (last - pd.Timedelta(days=6), last))
        else:
            start = first + pd.Timedelta(days=7 * ORDINAL_WEEK[match[1]])
            claim(match, (start, start + pd.Timedelta(days=6)))
    for pattern, order in (
        (rf"\b{MONTH}\.? (\d{{1,2}})(?:st|nd|rd|th)?,? {YEAR}\b", (1, 2, 3)),
        (rf"\b(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?{MONTH},? {YEAR}\b", (2, 1, 3)),
    ):
        for match in re.finditer(pattern, lower):
            month, day_of_month, year = (match[i] for i in order)
            try:
                when = pd.Timestamp(year=int(year), month=MONTHS[month.rstrip(".")], day=int(day_of_month))
            except ValueError:
                continue
            claim(match, (when, when))
    quarter = r"\b(?:q([1-4])|(first|second|third|fourth) quarter)(?: of)? " + YEAR + r"\b"
    for match in re.finditer(quarter, lower):
        number = int(match[1]) if match[1] else ["first", "second", "third", "fourth"].index(match[2]) + 1
        first = _month_range(int(match[3]), 3 * number - 2)[0]
        claim(match, (first, _month_range(int(match[3]), 3 * number)[1]))
    for match in re.finditer(r"\b(first|second) half of " + YEAR + r"\b", lower):
        year, months = int(match[2]), (1, 6) if match[1] == "first" else (7, 12)
        claim(match, (_month_range(year, months[0])[0], _month_range(year, months[1])[1]))
    for match in re.finditer(rf"\b(?:(early|mid|late) )?{MONTH},? {YEAR}\b", lower):
        first, last = _month_range(int(match[3]), MONTHS[match[2]])
        if match[1] == "early":
            last = first + pd.Timedelta(days=9)
        elif match[1] == "late":
            first = last - pd.Timedelta(days=9)
        claim(match, (first, last))
    for match in re.finditer(rf"\b{YEAR}\b", lower):
        year = int(match[1])
        claim(match, (pd.Timestamp(year=year, month=1, day=1), pd.Timestamp(year=year, month=12, day=31)))
    return [span for _, span in sorted(found, key=lambda item: item[0])]


def date_range(text: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The step's dates as one range (first date's start, last date's end), or None when it has none."""
    ranges = dates_in(text)
    if not ranges:
        return None
    return ranges[0][0], max(end for _, end in ranges)


# ------------------------------------------------------------------------------------------ names


def tickers_in(text: str) -> list[str]:
    """Tickers named in the (quote-masked) text: $TSLA, upper-case symbols, or company names."""
    names: list[str] = []
    for match in re.finditer(r"\$?\b([A-Z][A-Z.]{1,5})\b(?:'s)?", text):
        symbol = match[1].rstrip(".")
        if symbol not in NOT_TICKERS and symbol not in names and not re.fullmatch(MONTH, symbol.lower()):
            names.append(symbol)
    for word in re.findall(r"[a-z]+", text.lower()):
        symbol = COMPANY_TICKERS.get(word)
        if symbol and symbol not in names:
            names.append(symbol)
    return names


def model_in(text: str) -> str | None:
    """The forecasting network a step names: "lstm" (Stage 3) or "transformer" (Stage 4), or None."""
    lower = text.lower()
    if re.search(r"\blstm|memoryllm|stage 3|recurrent|keras", lower):
        return "lstm"
    if re.search(r"transformer|codellm|stage 4|attention", lower):
        return "transformer"
    return None


def style_in(text: str) -> str:
    """ "words" when a step asks for the word-level model (Stage 2), else "characters" (Stage 1)."""
    return (
        "words" if re.search(r"\bword(?:-level| level| model)|smallm|stage 2", text.lower()) else "characters"
    )
