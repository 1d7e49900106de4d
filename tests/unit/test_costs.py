"""Dollars: the price table, per node and per run in `ResearchReport`/`AskResult` usage, the CLI footers, the
API job results and the eval reports. Every call of the scripted model reports 1,000 prompt and 500
completion tokens; at $2 / $10 per million tokens one call costs exactly $0.007."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.run import run_research
from sleuth.api import Sleuth
from sleuth.cli import app
from sleuth.config import Settings
from sleuth.evals.arms import ArmContext, build_arms
from sleuth.evals.datasets import QAExample
from sleuth.evals.report import write_reports
from sleuth.evals.runner import ResultsFile, run_qa
from sleuth.llm.pricing import PriceError, PriceTable, format_usd, load_prices, sum_costs
from sleuth.llm.usage import CallRecord
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Passage
from sleuth.server.app import create_app
from sleuth.testing import Call, ScriptedLLM, StaticRetriever, override

LILU = Passage("p-lilu", "Lilu is a masculine Semitic name for a spirit or demon. It is a wind spirit.", "Lilu")
PRICES = PriceTable({"scripted": {"input": 2.0, "output": 10.0}})
CALL_USD = 0.007
"""1,000 x $2/M + 500 x $10/M."""


def reply(call: Call) -> dict[str, Any] | str:
    return {
        "orchestrator": {"tasks": [{"query": "What is Lilu?", "instructions": ""}]},
        "reader": {"evidence": [{"passage": 1, "sentence": 1, "claim": "Lilu is a spirit"}]},
        "aggregator": {"summary": "Lilu is a spirit.", "unknown": []},
        "writer": {"sentences": [{"text": "Lilu is a Semitic name for a spirit.", "evidence": [1]}]},
        "ask": {"answer": "a wind spirit", "next_search": ""},
    }[call.agent]


def scripted() -> ScriptedLLM:
    return ScriptedLLM(fn=reply, prompt_tokens=1000, completion_tokens=500)


def deps(llm: ScriptedLLM, prices: PriceTable = PRICES, **settings: Any) -> AgentDeps:
    values = {"max_rounds": 1, "research_direct_answer": False, **settings}
    return AgentDeps(
        llm=llm,
        retriever=StaticRetriever([LILU]),
        prompts=load_prompt_set(),
        settings=Settings(**values),
        prices=prices,
    )


def price_file(tmp_path: Path, text: str = "scripted: {input: 2, output: 10}\n") -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    return path


# --- the price table ------------------------------------------------------------------------------------


def test_the_shipped_table_prices_local_models_at_zero_and_a_users_file_is_added_over_it(tmp_path: Path) -> None:
    shipped = load_prices(None)
    assert shipped.cost("qwen2.5-coder-0.5b", 10_000, 10_000) == 0.0 and shipped.cost("local", 5, 5) == 0.0
    assert shipped.cost("gpt-anything", 1, 1) is None  # not in the table: unknown, never a guess
    mine = load_prices(
        price_file(tmp_path, '{"local": {"input": 1, "output": 1}, "hosted": {"input": 0.15, "output": 0.6}}')
    )
    assert mine.cost("local", 1_000_000, 0) == 1.0  # the user's price wins
    assert mine.cost("hosted", 1000, 1000) == 0.00075  # exact: 0.00015 + 0.0006
    assert mine.cost("qwen2.5-coder-1.5b", 1, 1) == 0.0  # the shipped entries stay


def test_costs_are_exact_decimals_and_unknown_or_cached_calls_are_said_so() -> None:
    def call(model: str, cached: bool = False) -> CallRecord:
        return CallRecord("writer", 1000, 500, 0.1, cached, 0.0, model)

    assert PRICES.cost_of([call("scripted")] * 3) == 0.021  # not 0.021000000000000005
    assert PRICES.cost_of([call("scripted"), call("scripted", cached=True)]) == CALL_USD  # a cache hit is free
    assert PRICES.cost_of([call("scripted"), call("unknown")]) is None
    assert PRICES.cost_of([]) == 0.0
    assert sum_costs([0.1, 0.2]) == 0.3 and sum_costs([0.1, None]) is None
    assert [format_usd(c) for c in (None, 0.0, 0.007, 0.021, 1.5)] == [
        "n/a",
        "$0",
        "$0.007000",
        "$0.0210",
        "$1.5000",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scripted: [1, 2", "not YAML or JSON"),
        ("scripted: {input: -1, output: 1}", "scripted.input"),
        ("scripted: {input: 1}", "scripted.output"),
        ("- a list", "must map model names"),
    ],
)
def test_a_bad_price_table_is_refused_with_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PriceError, match=message):
        load_prices(price_file(tmp_path, text))
    with pytest.raises(PriceError, match="cannot read"):
        load_prices(tmp_path / "missing.yaml")


# --- runs ----------------------------------------------------------------------------------------------


async def test_a_research_report_has_exact_dollars_per_node_and_for_the_run() -> None:
    llm = scripted()
    report = await run_research("What is Lilu?", deps(llm))
    calls = {node: usage.calls for node, usage in report.usage.items()}
    assert calls == {
        "orchestrator": 1,
        "search": 0,
        "reader": 1,
        "aggregator": 0,
        "writer": 1,
        "verify": 0,
        "total": 3,
    }
    assert report.usage["orchestrator"].cost_usd == 0.007
    assert report.usage["reader"].cost_usd == 0.007
    assert report.usage["aggregator"].cost_usd == 0.0  # no call (last round): nothing spent
    assert report.usage["writer"].cost_usd == 0.007
    assert report.usage["total"].cost_usd == 0.021 and report.cost_usd == 0.021
    assert report.usage["writer"].models == {"writer": "scripted"}
    dumped = report.model_dump(mode="json")
    assert dumped["cost_usd"] == 0.021 and dumped["usage"]["reader"]["cost_usd"] == 0.007


async def test_a_model_the_table_does_not_price_costs_none_not_zero() -> None:
    report = await run_research("What is Lilu?", deps(scripted(), prices=PriceTable()))
    assert report.usage["writer"].cost_usd is None and report.cost_usd is None
    assert report.usage["search"].cost_usd == 0.0  # no calls, so nothing spent whatever the table says
    assert report.usage["total"].prompt_tokens == 3000  # tokens are still counted


async def test_an_ask_result_has_exact_dollars_per_role() -> None:
    result = await Sleuth(
        Settings(), llm=scripted(), retriever=StaticRetriever([LILU]), checkpoints="memory", prices=PRICES
    ).ask("What is Lilu?")
    assert result.answer == "a wind spirit"
    assert result.usage["ask"].calls == 1 and result.usage["ask"].cost_usd == 0.007
    assert result.usage["ask"].models == {"ask": "scripted"} and result.cost_usd == 0.007


# --- where people see it ------------------------------------------------------------------------------


def test_the_research_and_ask_footers_show_the_runs_dollars(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLEUTH_PRICES_PATH", str(price_file(tmp_path)))
    monkeypatch.setenv("SLEUTH_RESEARCH_DIRECT_ANSWER", "false")
    with override(llm=scripted(), retriever=StaticRetriever([LILU])):
        research = CliRunner().invoke(app, ["research", "What is Lilu?", "--max-rounds", "1"])
        ask = CliRunner().invoke(app, ["ask", "What is Lilu?"])
        research_json = CliRunner().invoke(app, ["research", "What is Lilu?", "--max-rounds", "1", "--json"])
    assert research.exit_code == 0 and ask.exit_code == 0, research.output + ask.output
    assert "4500 tokens · $0.0210 ·" in research.stdout.replace("\n", " ")
    assert "1500 tokens · $0.007000 ·" in ask.stdout
    assert json.loads(research_json.stdout)["cost_usd"] == 0.021


def test_a_footer_says_n_a_for_a_model_without_a_price(monkeypatch: pytest.MonkeyPatch) -> None:
    with override(llm=scripted(), retriever=StaticRetriever([LILU])):
        result = CliRunner().invoke(app, ["ask", "What is Lilu?"])
    assert result.exit_code == 0, result.output
    assert "tokens · cost n/a ·" in result.stdout


def test_a_bad_price_file_fails_the_command_cleanly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLEUTH_PRICES_PATH", str(price_file(tmp_path, "scripted: {input: x}")))
    with override(llm=scripted(), retriever=StaticRetriever([LILU])):
        result = CliRunner().invoke(app, ["ask", "What is Lilu?"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "price table" in result.output


async def test_an_api_job_result_carries_the_runs_dollars(tmp_path: Path) -> None:
    settings = Settings(prices_path=price_file(tmp_path))
    sleuth = Sleuth(settings, llm=scripted(), retriever=StaticRetriever([LILU]), checkpoints="memory")
    server = create_app(settings, sleuth=sleuth)
    secret = server.state.sleuth.tokens.create("reader")[1]
    transport = httpx.ASGITransport(app=server)
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://sleuth", headers=headers) as client:
            done = (await client.post("/v1/ask", json={"question": "What is Lilu?", "wait": True})).json()
            fetched = (await client.get(f"/v1/jobs/{done['id']}")).json()
    finally:
        await server.state.sleuth.jobs.shutdown()
    assert done["status"] == "succeeded", done
    for job in (done, fetched):
        assert job["result"]["cost_usd"] == 0.007
        assert job["result"]["usage"]["ask"]["cost_usd"] == 0.007
        assert job["result"]["usage"]["ask"]["models"] == {"ask": "scripted"}


async def test_eval_arms_record_their_dollars_per_question(tmp_path: Path) -> None:
    llm = ScriptedLLM(fn=lambda call: "<answer>a wind spirit</answer>", prompt_tokens=1000, completion_tokens=500)
    ctx = ArmContext(
        llm=llm,
        settings=Settings(),
        prompts=load_prompt_set(),
        retriever=lambda mode: StaticRetriever([LILU]),
        lookup={LILU.id: LILU}.get,
        prices=PRICES,
    )
    example = QAExample("q1", "What is Lilu?", ["a wind spirit"], [LILU.id])
    records = await run_qa([example], build_arms(["naive", "oracle"], ctx), ResultsFile(tmp_path / "r.jsonl"))
    assert {r["arm"]: r["cost_usd"] for r in records} == {"naive": 0.007, "oracle": 0.007}


def test_eval_reports_show_dollars_per_question_and_n_a_for_an_unpriced_arm(tmp_path: Path) -> None:
    def record(example: str, arm: str, cost: float | None) -> dict[str, Any]:
        return {"example_id": example, "arm": arm, "f1": 1.0, "tokens": 1500, "cost_usd": cost, "latency_s": 1.0}

    records = [
        record("q1", "grounded", 0.007),
        record("q2", "grounded", 0.014),
        record("q1", "naive", None),
        record("q2", "naive", None),
    ]
    report = write_reports(tmp_path, records, {"dataset": "mini"})
    grounded = report["arms"]["grounded"]["cost_usd"]
    assert grounded["mean"] == pytest.approx(0.0105) and grounded["total"] == 0.021
    assert report["arms"]["naive"]["cost_usd"] is None
    markdown = (tmp_path / "report.md").read_text()
    costs = markdown.split("## Costs per question", 1)[1]
    assert "| cost_usd |" in costs
    rows = {line.split(" | ")[0]: line for line in costs.splitlines() if line.startswith("| ")}
    assert "| 0.010500 [0.007000, 0.014000] (total $0.021000) |" in rows["| grounded"]
    assert "| n/a |" in rows["| naive"]
    assert "<td>n/a</td>" in (tmp_path / "report.html").read_text()
