"""Measure the agent's routers (AgentLLM/ask.py) on the held-out requests: routing accuracy and the share of
requests answered correctly end to end, for the MiniLM encoder router and the keyword baseline.

    .venv/bin/python benchmarks/bench_ask.py                 # -> outputs/bench/ask/results.json, .md
    .venv/bin/python benchmarks/bench_ask.py --route-only    # routing only: no tool runs (seconds)

A request is **routed correctly** when the plan's tools, in order, are exactly its expected tools (none
for a request no tool fits, which must get "cannot help"). It is **correct end to end** when it is routed
correctly, every argument the file lists for a step (ticker, dates, model, quoted text, style) is what the
step ran with, and the outcome is the expected one: an answer with no step stopped, the tool's one-line
refusal (a row after as_of, an unknown ticker), or "cannot help". A step stopped because a stage has no
saved run (e.g. no TinyLLM run to sample from) counts as "unavailable": not correct, and counted apart.

The held-out file, requests/heldout.jsonl, was written after the router's examples (AgentLLM/router.py),
in other words, and was not used to choose them.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.paths import REPO_ROOT, output_dir  # noqa: E402

HELDOUT = REPO_ROOT / "AgentLLM" / "requests" / "heldout.jsonl"
UNAVAILABLE = "no saved"  # how a tool's refusal starts when a stage has no run to use


def load_requests(path: Path = HELDOUT) -> list[dict[str, Any]]:
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for item in items:
        if len(item["args"]) != len(item["tools"]):
            raise ValueError(
                f"{path}: {item['request']!r} lists {len(item['tools'])} tools but "
                f"{len(item['args'])} argument sets"
            )
    return items


def judge(item: dict[str, Any], reply: Any) -> dict[str, Any]:
    """Routing and end-to-end verdicts of one request against its expected tools, arguments and outcome."""
    routed = reply.plan == item["tools"]
    ran = [entry for entry in reply.trace if entry["tool"]]
    arguments_ok = routed and all(
        all(str(entry.get("arguments", {}).get(name)) == str(value) for name, value in expected.items())
        for expected, entry in zip(item["args"], ran)
    )
    errors = [entry["error"] for entry in ran if entry.get("error")]
    if not reply.trace:
        outcome = "cannot_help"
    elif errors and errors[0].startswith(UNAVAILABLE):
        outcome = "unavailable"
    else:
        outcome = "refusal" if errors else "answer"
    return {
        "request": item["request"],
        "expected": item["tools"],
        "planned": reply.plan,
        "routed": routed,
        "arguments_ok": arguments_ok,
        "outcome": outcome,
        "expected_outcome": item["outcome"],
        "end_to_end": routed and arguments_ok and outcome == item["outcome"],
        "answer": reply.answer[:300],
    }


def measure(router: str, items: list[dict[str, Any]], route_only: bool) -> dict[str, Any]:
    from AgentLLM.ask import build_agent
    from AgentLLM.planner import Reply

    agent, load_seconds = build_agent(router)
    rows, seconds = [], []
    for item in items:
        started = time.perf_counter()
        if route_only:
            plan = agent.planner.plan(item["request"])
            reply = Reply(
                "",
                [{"tool": step.tool, "arguments": step.arguments} for step in plan.steps],
                None,
                plan.tools,
            )
        else:
            reply = agent.ask(item["request"])
        seconds.append(time.perf_counter() - started)
        rows.append({**judge(item, reply), "seconds": round(seconds[-1], 3)})
    per_tool = {}
    for tool in ("prices", "indicators", "forecast", "sentiment", "backtest", "generate_text", "(none)"):
        mine = [
            row for row in rows if (tool in row["expected"]) or (tool == "(none)" and not row["expected"])
        ]
        per_tool[tool] = {"requests": len(mine), "routed": sum(row["routed"] for row in mine)}
    return {
        "router": router,
        "requests": len(rows),
        "routing_accuracy": sum(r["routed"] for r in rows) / len(rows),
        "end_to_end": None if route_only else sum(r["end_to_end"] for r in rows) / len(rows),
        "unavailable": sum(r["outcome"] == "unavailable" for r in rows),
        "per_tool": per_tool,
        "load_seconds": round(load_seconds, 2),
        "seconds_per_request": {
            "median": round(statistics.median(seconds), 3),
            "max": round(max(seconds), 3),
        },
        "rows": rows,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| router | routing accuracy | end to end | " + " | ".join(results[0]["per_tool"]) + " |",
        "|---|---|---|" + "---|" * len(results[0]["per_tool"]),
    ]
    for result in results:
        cells = [f"{v['routed']}/{v['requests']}" for v in result["per_tool"].values()]
        end = "—" if result["end_to_end"] is None else f"{100 * result['end_to_end']:.1f} %"
        lines.append(
            f"| {result['router']} | {100 * result['routing_accuracy']:.1f} % | {end} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--route-only", action="store_true", help="plan every request, run no tool")
    parser.add_argument(
        "--out", default=str(output_dir("bench") / "ask"), help="folder for results.json / .md"
    )
    options = parser.parse_args(argv)
    from common import runtime

    runtime.prepare_environment()
    items = load_requests()
    started = time.perf_counter()
    results = [measure(router, items, options.route_only) for router in ("keyword", "encoder")]
    summary = {
        "requests": len(items),
        "cpu": cpu_model(),
        "route_only": options.route_only,
        "seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=str))
    (out / "results.md").write_text(table(results) + "\n")
    print(table(results))
    for result in results:
        print(
            f"{result['router']}: load {result['load_seconds']} s, "
            f"per request {result['seconds_per_request']}, unavailable {result['unavailable']}"
        )
        for row in result["rows"]:
            if not row["end_to_end"]:
                print(
                    f"  miss: {row['request'][:70]!r} expected {row['expected']} planned {row['planned']} "
                    f"args_ok={row['arguments_ok']} outcome={row['outcome']}"
                )
    print(f"results in {out} ({summary['cpu']}, {summary['seconds']} s)")
    return summary


if __name__ == "__main__":
    main()
