"""The dollar budget (`SLEUTH_MAX_COST_USD`): once a run's priced calls reach it, no further round is searched,
the answer is written from the evidence found, and an event says so. Every scripted call costs $0.007."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research import routing
from sleuth.agents.research.report import ReportOptions
from sleuth.agents.research.run import run_research
from sleuth.config import Settings
from sleuth.llm.pricing import PriceTable
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Passage
from sleuth.testing import Call, ScriptedLLM, StaticRetriever

LILU = Passage("p-lilu", "Lilu is a masculine Semitic name for a spirit or demon. It is a wind spirit.", "Lilu")
PRICES = PriceTable({"scripted": {"input": 2.0, "output": 10.0}})
QUESTION = "Who or what is Lilu?"


def reply(call: Call, plans: Iterator[int]) -> dict[str, Any]:
    """A model that always finds more to search (a new query each round): only a limit ends its rounds."""
    query = f"Lilu demon {next(plans)}" if call.agent == "orchestrator" else ""
    return {
        "orchestrator": {"tasks": [{"query": query, "instructions": ""}]},
        "reader": {"evidence": [{"passage": 1, "sentence": 1, "claim": "Lilu is a spirit"}]},
        "aggregator": {"summary": "Lilu is a spirit.", "unknown": ["where Lilu comes from"]},
        "writer": {"sentences": [{"text": "Lilu is a Semitic name for a spirit.", "evidence": [1]}]},
        "planner": {
            "title": "Lilu",
            "sections": [
                {"heading": "Origin", "questions": ["Lilu origin"]},
                {"heading": "Myths", "questions": ["Lilu myths"]},
            ],
        },
    }[call.agent]


def deps(llm: ScriptedLLM, prices: PriceTable = PRICES, **settings: Any) -> AgentDeps:
    values = {"max_rounds": 3, "research_direct_answer": False, "reader_batch_size": 4, **settings}
    return AgentDeps(
        llm=llm,
        retriever=StaticRetriever([LILU]),
        prompts=load_prompt_set(),
        settings=Settings(**values),
        prices=prices,
    )


def scripted() -> ScriptedLLM:
    plans = itertools.count(1)
    return ScriptedLLM(fn=lambda call: reply(call, plans), prompt_tokens=1000, completion_tokens=500)


async def test_without_a_budget_the_model_keeps_searching() -> None:
    llm = scripted()
    report = await run_research(QUESTION, deps(llm))
    assert len(llm.calls_for("orchestrator")) == 3 and len(report.plan) == 3
    assert not [e for e in report.events if e.type == "budget_reached"]


async def test_the_budget_stops_the_run_after_round_one_and_it_still_writes_from_its_evidence() -> None:
    llm = scripted()
    report = await run_research(QUESTION, deps(llm, max_cost_usd=0.01))
    # Round 1: the orchestrator and one reader, $0.014 >= $0.01: no aggregator call, no second round.
    assert [c.agent for c in llm.calls] == ["orchestrator", "reader", "writer"]
    assert len(report.plan) == 1
    assert report.status == "answered" and report.citations[0].passage_id == "p-lilu"
    assert report.answer == "Lilu is a Semitic name for a spirit. [1]"
    [event] = [e for e in report.events if e.type == "budget_reached"]
    assert event.node == "aggregator" and event.data["round"] == 1
    assert event.data["spent_usd"] == 0.014 and event.data["budget_usd"] == 0.01
    assert "written from the evidence found so far" in event.data["message"]
    # The writing itself still runs: the run cost $0.021 in all, as its usage says.
    assert report.cost_usd == 0.021


async def test_a_budget_reached_by_the_aggregators_own_call_stops_the_next_round() -> None:
    llm = scripted()
    report = await run_research(QUESTION, deps(llm, max_cost_usd=0.021))
    # $0.014 after round 1 leaves room, so the aggregator summarises ($0.021): that ends the search.
    assert [c.agent for c in llm.calls] == ["orchestrator", "reader", "aggregator", "writer"]
    [event] = [e for e in report.events if e.type == "budget_reached"]
    assert event.data["spent_usd"] == 0.021 and report.cost_usd == 0.028


async def test_a_report_out_of_budget_is_its_opening_without_sections() -> None:
    llm = scripted()
    report = await run_research(QUESTION, deps(llm, max_cost_usd=0.0), options=ReportOptions(form="report"))
    assert not llm.calls_for("planner") and not llm.calls_for("section_writer")
    assert report.report is not None and report.report.sections == []
    assert report.status == "answered" and "Lilu is a Semitic name for a spirit. [1]" in report.answer


async def test_a_budget_that_cannot_see_a_models_calls_says_so() -> None:
    llm = scripted()
    report = await run_research(QUESTION, deps(llm, prices=PriceTable(), max_cost_usd=0.01, max_rounds=2))
    warnings = [e.data["message"] for e in report.events if e.type == "warning"]
    assert "the dollar budget does not count calls to scripted: not in the price table" in warnings
    assert len(report.plan) == 2 and report.cost_usd is None  # unpriced calls never stop the run, never cost $0


def test_routing_writes_once_the_dollars_are_spent_whatever_is_still_unknown() -> None:
    base: Any = {"search_calls": [{"query": "q", "k": 4, "hit_ids": [], "round": 1}], "round": 1, "max_rounds": 3}
    base |= {"token_budget": 10_000, "tokens_used": 0, "unknown": ["more"]}
    assert routing.after_aggregator({**base, "usd_budget": 0.05, "usd_used": 0.049}) == "orchestrator"
    assert routing.after_aggregator({**base, "usd_budget": 0.05, "usd_used": 0.05}) == "writer"
    assert routing.after_aggregator({**base, "usd_budget": None, "usd_used": 9.0}) == "orchestrator"
    assert routing.after_aggregator({**base, "form": "report", "usd_budget": 0.0, "usd_used": 0.0}) == "writer"
    assert routing.after_aggregator({**base, "form": "report"}) == "outline"
