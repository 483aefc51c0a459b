"""Ask the project a question in plain English: the agent cuts it into steps, routes each step to a tool (the
earlier stages' models) with Stage 5's MiniLM encoder, runs the tools in order and shows its work.

    python AgentLLM/ask.py "How did GOOG do in 2012, and what did the LSTM forecast for the first week of \
        March 2012?"
    python AgentLLM/ask.py "Is this headline good news: 'Operating profit fell to EUR 5 mn'?"
    python AgentLLM/ask.py --explain "What was the RSI on 2012-06-29 as of 2012-07-31?"   # + the trace
    python AgentLLM/ask.py --json "..."          # {"answer": ..., "trace": [...]} on one line
    python AgentLLM/ask.py --router keyword "..."  # the keyword baseline instead of the encoder
    python AgentLLM/ask.py                       # an interactive prompt; 'why' shows the last trace

What this is: tool orchestration with an encoder that routes requests. No generative model runs here (none
has offline weights in this project); `planner.Planner` is where one would slot in (see README). Nothing is
downloaded: prices are the embedded ones, MiniLM comes from its installed package.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from AgentLLM.planner import Agent, Reply, RouterPlanner


def build_agent(router: str = "encoder", as_of: str | None = None, threads: int = 0) -> tuple[Agent, float]:
    """(the agent, seconds it took to load its router: MiniLM and its example vectors for "encoder")."""
    from AgentLLM.router import EncoderRouter, KeywordRouter
    from AgentLLM.text import SentenceEncoder

    started = time.perf_counter()
    chosen = KeywordRouter() if router == "keyword" else EncoderRouter(SentenceEncoder(threads))
    return Agent(RouterPlanner(chosen), as_of), time.perf_counter() - started


def format_trace(reply: Reply) -> str:
    """The trace as a few readable lines per step."""
    if not reply.trace:
        return "trace: no step ran (no tool fits the request)"
    lines = [f"trace (as_of {reply.as_of or 'the last day of the data'}):"]
    for entry in reply.trace:
        score = "" if entry["score"] is None else f" score {entry['score']:.2f}"
        runner_up = (
            f", runner-up {entry['runner_up']} {entry['runner_up_score']:.2f}"
            if entry.get("runner_up")
            else ""
        )
        lines.append(f"  {entry['step']}. {entry['text']!r} -> {entry['tool']}{score}{runner_up}")
        arguments = {
            name: value for name, value in (entry.get("arguments") or {}).items() if value is not None
        }
        lines.append(f"     arguments {json.dumps(arguments, default=str)}; {entry.get('seconds', 0):.2f} s")
        if entry.get("error"):
            lines.append(f"     stopped: {entry['error']}")
        elif entry.get("result") is not None:
            shown = {name: value for name, value in entry["result"].items() if name != "summary"}
            text = json.dumps(shown, default=str)
            lines.append(f"     result {text[:400]}{' ...' if len(text) > 400 else ''}")
    return "\n".join(lines)


def interactive(agent: Agent, explain: bool) -> None:
    """A prompt: each line is a request; 'why' shows the last trace; 'quit' or Ctrl-D ends."""
    print(
        "Ask about GOOG's prices, indicators, forecasts, a sentence's sentiment, the trading agent, or "
        "ask for Shakespeare. 'why' shows how the last answer was made; 'quit' ends."
    )
    last: Reply | None = None
    while True:
        try:
            line = input("ask> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if line.lower() in ("quit", "exit", "q"):
            return
        if line.lower() in ("why", "why?", "trace"):
            print(format_trace(last) if last else "nothing asked yet")
            continue
        last = agent.ask(line)
        print(last.answer)
        if explain:
            print(format_trace(last))


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("request", nargs="*", help="the question; none starts the interactive prompt")
    parser.add_argument(
        "--json", action="store_true", help="print the answer and the whole trace as one JSON object"
    )
    parser.add_argument("--explain", action="store_true", help="print the trace after the answer")
    parser.add_argument(
        "--as-of",
        default=None,
        help="point in time, YYYY-MM-DD: no tool reads a row after it "
        "(default: the last day of the data; a request's own 'as of ...' wins)",
    )
    parser.add_argument(
        "--router",
        choices=("encoder", "keyword"),
        default="encoder",
        help="encoder: MiniLM similarity (default); keyword: the baseline",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="PyTorch threads for the encoder (0: one per core)"
    )
    options = parser.parse_args(argv)

    from common import runtime

    runtime.prepare_environment()  # before torch loads: the project's thread and log settings
    agent, load_seconds = build_agent(options.router, options.as_of, options.threads)
    if not options.request:
        interactive(agent, options.explain)
        return None
    started = time.perf_counter()
    reply = agent.ask(" ".join(options.request))
    output = {
        **reply.to_json(),
        "router": options.router,
        "load_seconds": round(load_seconds, 2),
        "answer_seconds": round(time.perf_counter() - started, 2),
    }
    if options.json:
        print(json.dumps(output, default=str))
    else:
        print(reply.answer)
        if options.explain:
            print(format_trace(reply))
    return output


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as error:  # e.g. MiniLM not installed: one line, no traceback
        sys.exit(f"error: {error}")
