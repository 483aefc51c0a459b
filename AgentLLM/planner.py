"""The plan and its execution: a request becomes steps, each step a tool with arguments; the agent runs the
steps in order, passes results on, and keeps a trace of every step.

    planner = RouterPlanner(EncoderRouter())     # the default: the MiniLM router picks each step's tool
    agent = Agent(planner)
    reply = agent.ask("How did GOOG do in 2012, and what did the LSTM forecast for the first week of March?")
    reply.answer        # short text with the numbers
    reply.trace         # [{"tool": "prices", "score": ..., "runner_up": ..., "arguments": {...}, ...}, ...]

`Planner` is the seam for a generative model: anything with `plan(request) -> Plan` can replace the
router. An LLM planner would receive the request and `tool_catalogue()` (each tool's name, one-line
description and arguments) and write the plan as JSON, `[{"tool": "prices", "arguments": {...}}, ...]`;
`Plan.from_json` reads that back, and the agent runs it exactly as it runs the router's plan.

Passing results on: a step without its own dates or ticker takes the previous step's; a sentiment step
with no quoted sentence reads the text the step before it generated (`{"from_step": k, "field": "text"}`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from AgentLLM.request_parsing import QUOTED_MARK, date_range, model_in, parse_request, style_in, tickers_in
from AgentLLM.router import Routing
from AgentLLM.tools import DEFAULT_TICKER, TOOLS, Refusal

CANNOT_HELP = "I cannot help with that"


@dataclass
class Step:
    text: str  # the piece of the request this step answers
    tool: str | None  # None: no tool fits (the step is reported, not run)
    arguments: dict[str, Any]
    routing: Routing | None = None


@dataclass
class Plan:
    steps: list[Step]
    as_of: str | None = None
    cannot_help: str = ""  # why, when no step has a tool

    @property
    def tools(self) -> list[str]:
        return [step.tool for step in self.steps if step.tool]

    @classmethod
    def from_json(cls, items: list[dict[str, Any]], as_of: str | None = None) -> Plan:
        """A plan written by another planner (e.g. an LLM) as [{"tool": ..., "arguments": {...}}, ...]."""
        steps = []
        for item in items:
            if item.get("tool") not in TOOLS:
                raise ValueError(f"the plan names no known tool: {item!r} (known: {', '.join(TOOLS)})")
            steps.append(
                Step(
                    text=str(item.get("text", "")),
                    tool=item["tool"],
                    arguments=dict(item.get("arguments", {})),
                )
            )
        return cls(steps, as_of)


class Router(Protocol):
    name: str

    def route(self, step: str) -> Routing: ...


class Planner(Protocol):
    def plan(self, request: str) -> Plan: ...


def tool_catalogue() -> list[dict[str, Any]]:
    """What a generative planner would be shown: each tool's name, description and arguments."""
    return [
        {"name": tool.name, "description": tool.description, "arguments": [*tool.arguments, "as_of"]}
        for tool in TOOLS.values()
    ]


def _day(value: pd.Timestamp | None) -> str | None:
    return None if value is None else str(value.date())


class RouterPlanner:
    """The default planner: cut the request into steps, route each, and fill its arguments from the text."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def plan(self, request: str) -> Plan:
        if not request or not request.strip():
            return Plan(
                [], cannot_help='the request is empty: ask a question, e.g. "How did GOOG do in 2012?"'
            )
        parsed = parse_request(request)
        quotes = iter(parsed.quotes)
        request_tickers = tickers_in(parsed.masked)
        context: dict[str, Any] = {
            "ticker": request_tickers[0] if request_tickers else DEFAULT_TICKER,
            "range": None,
            "model": model_in(parsed.masked) or "transformer",
        }
        steps: list[Step] = []
        for text in parsed.steps:
            step_quotes = [next(quotes, "") for _ in range(text.count(QUOTED_MARK))]
            routing = self.router.route(text)
            if routing.tool is None:
                steps.append(Step(text, None, {}, routing))
                continue
            tickers, span = tickers_in(text), date_range(text)
            context["ticker"] = tickers[0] if tickers else context["ticker"]
            context["range"] = span or context["range"]  # no dates of its own: the previous step's
            context["model"] = model_in(text) or context["model"]
            arguments = self._arguments(routing.tool, text, context, step_quotes, steps)
            steps.append(Step(text, routing.tool, arguments, routing))
        if not any(step.tool for step in steps):
            reasons = "; ".join(step.routing.reason for step in steps if step.routing) or "no step"
            return Plan(
                [],
                _day(parsed.as_of),
                cannot_help=f"{CANNOT_HELP}: none of my tools fits ({reasons}). "
                f"I can answer about prices, indicators, forecasts, the sentiment of a sentence, the "
                f"trading agent, and write Shakespeare-like text.",
            )
        return Plan(steps, _day(parsed.as_of))

    @staticmethod
    def _arguments(
        tool: str, text: str, context: dict[str, Any], quotes: list[str], earlier: list[Step]
    ) -> dict[str, Any]:
        span = context["range"]
        start, end = (_day(span[0]), _day(span[1])) if span else (None, None)
        if tool == "prices":
            return {"ticker": context["ticker"], "start": start, "end": end}
        if tool == "indicators":
            return {"ticker": context["ticker"], "date": end}
        if tool == "forecast":
            return {"ticker": context["ticker"], "start": start, "end": end, "model": context["model"]}
        if tool == "backtest":
            return {"ticker": context["ticker"], "start": start, "end": end}
        if tool == "sentiment":
            if quotes:
                return {"text": quotes[0]}
            generated = [index for index, step in enumerate(earlier) if step.tool == "generate_text"]
            return {"text": {"from_step": generated[-1] + 1, "field": "text"}} if generated else {"text": ""}
        return {"prompt": quotes[0] if quotes else "ROMEO:", "style": style_in(text)}  # generate_text


@dataclass
class Reply:
    answer: str
    trace: list[dict[str, Any]] = field(default_factory=list)
    as_of: str | None = None
    plan: list[str] = field(default_factory=list)  # the planned tools, also those after a step that stopped

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "as_of": self.as_of, "plan": self.plan, "trace": self.trace}


class Agent:
    """Runs a planner's plan step by step; a refusal stops the plan and the trace says where."""

    def __init__(self, planner: Planner, as_of: str | None = None) -> None:
        self.planner = planner
        self.as_of = as_of  # a default point in time; a request's own "as of ..." wins

    def ask(self, request: str) -> Reply:
        plan = self.planner.plan(request)
        as_of = plan.as_of or self.as_of
        if not plan.steps:
            return Reply(plan.cannot_help, [], as_of, [])
        trace: list[dict[str, Any]] = []
        lines: list[str] = []
        for number, step in enumerate(plan.steps, start=1):
            entry: dict[str, Any] = {
                "step": number,
                "text": step.text,
                "tool": step.tool,
                "score": step.routing.score if step.routing else None,
                "runner_up": step.routing.runner_up if step.routing else None,
                "runner_up_score": step.routing.runner_up_score if step.routing else None,
            }
            trace.append(entry)
            if step.tool is None:
                reason = step.routing.reason if step.routing else "no tool"
                entry.update(arguments={}, result=None, seconds=0.0, error=f"{CANNOT_HELP}: {reason}")
                lines.append(f"({CANNOT_HELP}: {step.text!r}; {reason}.)")
                continue
            started = time.perf_counter()
            entry["arguments"] = {**step.arguments, "as_of": as_of}
            try:
                arguments = self._resolved(step.arguments, trace)
                entry["arguments"] = {**arguments, "as_of": as_of}
                result = TOOLS[step.tool].function(**arguments, as_of=as_of)
            except (
                ValueError,
                FileNotFoundError,
                OSError,
            ) as error:  # Refusal, MissingPretrained, a bad file
                message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                entry.update(result=None, seconds=round(time.perf_counter() - started, 3), error=message)
                lines.append(f"Stopped at step {number} ({step.tool}): {message}.")
                break
            entry.update(result=result, seconds=round(time.perf_counter() - started, 3))
            lines.append(result["summary"])
        return Reply("\n".join(lines), trace, as_of, plan.tools)

    @staticmethod
    def _resolved(arguments: dict[str, Any], trace: list[dict[str, Any]]) -> dict[str, Any]:
        """Arguments with each {"from_step": k, "field": name} replaced by that step's result field."""
        resolved = {}
        for name, value in arguments.items():
            if isinstance(value, dict) and "from_step" in value:
                earlier = trace[value["from_step"] - 1].get("result") or {}
                if value["field"] not in earlier:
                    raise Refusal(f"step {value['from_step']} gave no {value['field']} to pass on")
                value = earlier[value["field"]]
            resolved[name] = value
        return resolved
