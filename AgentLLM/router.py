"""Which tool answers a step: the MiniLM router, and the keyword router it is measured against.

The encoder router reads each tool's one-line description and a few example requests once, as MiniLM
sentence vectors. A step is routed to the tool whose description or example is nearest (the highest
cosine), beside the runner-up. Below `threshold`, or nearest to the out-of-scope examples (`UNSUPPORTED`:
weather, recipes, other people's questions), the answer is "cannot help" rather than a guess.

    router = EncoderRouter()                      # loads MiniLM (a few seconds) and encodes the examples
    router.route("what did the LSTM expect the close to be on 2012-03-05")
    # Routing(tool='forecast', score=0.71, runner_up='prices', runner_up_score=0.52)

The examples below were written before the held-out requests in requests/heldout.jsonl and are phrased
differently from them; benchmarks/bench_ask.py measures both routers on the held-out set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from AgentLLM.text import SentenceEncoder
from AgentLLM.tools import TOOLS

UNSUPPORTED = "unsupported"  # the out-of-scope "tool": routing a step here means "cannot help"
THRESHOLD = 0.35  # below this cosine with every example the router says it cannot help

EXAMPLES: dict[str, list[str]] = {
    "prices": [
        "How did GOOG do in 2012?",
        "What was the closing price of Google on 2011-06-01?",
        "Show me the share price between January and March 2010",
        "How much did the stock rise last year?",
        "What was the return of GOOG over 2009?",
        "Give me the high and low of the stock in May 2008",
        "How much would I have made holding Google shares in 2010?",
        "Did the stock go up or down in Q3 2011?",
        "price history of the stock",
        "What was the performance of Google in the second half of 2012?",
    ],
    "indicators": [
        "What was the RSI of GOOG on 2012-06-29?",
        "Show the technical indicators on March 1, 2011",
        "Was the stock overbought at the end of 2010?",
        "What were the moving averages on 2009-12-31?",
        "Give me the MACD and its signal line",
        "Where were the Bollinger Bands on that day?",
        "Was the price above its 20-day moving average?",
        "momentum and trend readings for the stock on a day",
    ],
    "forecast": [
        "What did the LSTM forecast for the first week of March 2012?",
        "What does the Transformer predict for the close on 2012-05-14?",
        "Forecast tomorrow's closing price",
        "What price did the model expect for December 3, 2012?",
        "Predict the next day's close with the neural network",
        "How accurate was the forecast in January 2013?",
        "What did the network think the stock would close at?",
        "Run the Stage 4 model for the next day",
    ],
    "sentiment": [
        f"Is this headline good news: {'QUOTED'}?",
        f"What is the sentiment of {'QUOTED'}?",
        f"Is {'QUOTED'} positive or negative?",
        f"Classify the tone of this sentence: {'QUOTED'}",
        f"Does this news sound bullish or bearish: {'QUOTED'}",
        "How would the sentiment model read that line?",
        f"Is {'QUOTED'} bad news for the company?",
        "Read the mood of this text",
    ],
    "backtest": [
        "What did the trading agent do in 2012?",
        "How did the RL agent perform against buy-and-hold?",
        "Backtest the reinforcement learning strategy from June to December 2012",
        "Was the agent long or short on 2012-10-01?",
        "What position did the PPO agent take on that day?",
        "How much did the trading policy earn in the first quarter of 2012?",
        "Did the agent beat buying and holding?",
        "Show the agent's trades and returns",
    ],
    "generate_text": [
        "Write a line in the style of Shakespeare",
        "Generate some text like a Shakespeare play",
        f"Continue this text: {'QUOTED'}",
        "Compose a verse the way the bard would",
        "Make up a speech for Romeo",
        "Sample a paragraph from the character-level model",
        "Let the word model write something",
        "Produce a few lines of dialogue in old English",
    ],
    UNSUPPORTED: [
        "What's the weather in Paris tomorrow?",
        "Give me a recipe for pancakes",
        "Who won the football match?",
        "Translate this into French",
        "Book me a flight to New York",
        "Tell me a joke",
        "What time is it?",
        "Send an email to my boss",
        "What is the capital of Australia?",
        "Play some music",
    ],
}
EXAMPLES = {
    tool: [example.replace("QUOTED", '"the quoted text"') for example in examples]
    for tool, examples in EXAMPLES.items()
}

# The baseline: a tool's keywords; a step goes to the tool with the most matches (none: cannot help).
KEYWORDS: dict[str, tuple[str, ...]] = {
    "prices": ("price", "close", "closing", "return", "did goog do", "perform", "stock do", "high", "low"),
    "indicators": (
        "rsi",
        "macd",
        "sma",
        "ema",
        "bollinger",
        "indicator",
        "moving average",
        "overbought",
        "oversold",
    ),
    "forecast": ("forecast", "predict", "lstm", "transformer", "tomorrow", "next day"),
    "sentiment": ("sentiment", "positive", "negative", "good news", "bad news", "headline", "tone"),
    "backtest": ("agent", "backtest", "trading", "position", "strategy", "buy-and-hold", "long", "short"),
    "generate_text": ("write", "generate", "shakespeare", "poem", "verse", "compose"),
}


@dataclass
class Routing:
    """The router's choice for one step: `tool` is None when it cannot help (then `reason` says why)."""

    tool: str | None
    score: float
    runner_up: str | None
    runner_up_score: float
    reason: str = ""


class EncoderRouter:
    """Routes by the cosine between a step's MiniLM vector and each tool's description and examples."""

    name = "encoder"

    def __init__(self, encoder: SentenceEncoder | None = None, threshold: float = THRESHOLD) -> None:
        self.encoder = encoder or SentenceEncoder()
        self.threshold = threshold
        self.labels: list[str] = []
        texts: list[str] = []
        for tool, examples in EXAMPLES.items():
            described = [TOOLS[tool].description] if tool in TOOLS else []
            for text in described + examples:
                self.labels.append(tool)
                texts.append(text)
        self.vectors = self.encoder.encode(texts)  # (examples, 384), unit length
        self.tools = list(EXAMPLES)

    def route(self, step: str) -> Routing:
        similarities = self.vectors @ self.encoder.encode([step])[0]  # (examples,) cosines
        labels = np.array(self.labels)
        best = {tool: float(similarities[labels == tool].max()) for tool in self.tools}
        ranked = sorted(best, key=best.__getitem__, reverse=True)
        top, second = ranked[0], ranked[1]
        if top == UNSUPPORTED:
            return Routing(
                None,
                best[top],
                second,
                best[second],
                f"nearest to requests this agent has no tool for (cosine {best[top]:.2f})",
            )
        if best[top] < self.threshold:
            return Routing(
                None,
                best[top],
                top,
                best[top],
                f"no tool is close enough (best: {top}, cosine {best[top]:.2f} < {self.threshold})",
            )
        runner_up = next(tool for tool in ranked[1:] if tool != UNSUPPORTED)
        return Routing(top, round(best[top], 4), runner_up, round(best[runner_up], 4))


class KeywordRouter:
    """The baseline: count each tool's keywords in the step; the most wins, ties go to the first tool."""

    name = "keyword"

    def route(self, step: str) -> Routing:
        lower = step.lower()
        hits = {
            tool: sum(bool(re.search(rf"\b{re.escape(word)}", lower)) for word in words)
            for tool, words in KEYWORDS.items()
        }
        ranked = sorted(hits, key=lambda tool: -hits[tool])  # stable: ties keep the table's order
        top, second = ranked[0], ranked[1]
        if hits[top] == 0:
            return Routing(None, 0.0, None, 0.0, "no tool's keyword appears in the request")
        return Routing(top, float(hits[top]), second, float(hits[second]))
