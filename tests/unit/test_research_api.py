"""The `Sleuth` facade and `sleuth research`: streaming, SQLite resume, JSON output, clean errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from sleuth.agents.events import Event
from sleuth.agents.research.report import ReportOptions
from sleuth.agents.results import ResearchReport
from sleuth.api import Sleuth
from sleuth.config import Settings
from sleuth.retrieval.base import Passage
from sleuth.testing import Call, ScriptedLLM, StaticRetriever, fake_sleuth, override

LILU = Passage(
    "p-lilu",
    "Lilu is a masculine Semitic name for a spirit or demon. It is also a wind spirit.",
    "Lilu (mythology)",
)


def script(fail_writer_once: bool = False) -> ScriptedLLM:
    state = {"fail": fail_writer_once}

    def fn(call: Call) -> dict[str, Any]:
        if call.agent == "writer" and state["fail"]:
            state["fail"] = False
            raise ConnectionError("LLM connection dropped")
        return {
            "orchestrator": {"tasks": [{"query": "What is Lilu?", "instructions": ""}]},
            "reader": {"evidence": [{"passage": 1, "sentence": 1, "claim": "Lilu is a spirit"}]},
            "aggregator": {"summary": "Lilu is a spirit.", "unknown": []},
            "writer": {"sentences": [{"text": "Lilu is a Semitic name for a spirit.", "evidence": [1]}]},
            "ask": {"answer": "a wind spirit"},
        }[call.agent]

    return ScriptedLLM(fn=fn)


def sleuth_for(llm: ScriptedLLM) -> Sleuth:
    return Sleuth(Settings(max_rounds=1), llm=llm, retriever=StaticRetriever([LILU]), collection="demo")


async def test_stream_yields_events_live_then_the_report() -> None:
    items = [item async for item in sleuth_for(script()).research_stream("If Gallu is a demon Lilu is what?")]
    assert all(isinstance(i, Event) for i in items[:-1]) and isinstance(items[-1], ResearchReport)
    types = [i.type for i in items[:-1]]
    assert types[0] == "run_started" and types[-1] == "run_finished" and "search" in types
    assert items[-1].citations[0].passage_id == "p-lilu"


async def test_a_run_interrupted_at_the_writer_resumes_from_the_sqlite_checkpoint(tmp_path: Any) -> None:
    llm = script(fail_writer_once=True)
    with pytest.raises(ConnectionError):
        await sleuth_for(llm).research("If Gallu is a demon Lilu is what?", run_id="r1")
    assert (Settings().runs_dir / "checkpoints.sqlite").exists()
    before = len(llm.calls)
    # A new Sleuth (as a new process would) finds the run in SLEUTH_HOME and finishes it.
    report = await sleuth_for(llm).resume("r1")
    assert [c.agent for c in llm.calls[before:]] == ["writer"]
    # The grounded direct answer opens the report, then its quote, then the writer's sentence.
    assert report.status == "answered"
    assert (
        report.answer
        == "The answer is a wind spirit. [1] It is also a wind spirit. [1] Lilu is a Semitic name for a spirit. [2]"
    )


async def test_a_tenant_copy_of_an_in_memory_facade_resumes_a_run_another_copy_paused() -> None:
    # The server runs each job on a shallow copy of the facade scoped to the caller's tenant: the copies must
    # share the one in-memory checkpoint store, or a pause could never be approved by a later job.
    sleuth = fake_sleuth(Settings(max_rounds=1))
    pausing, approving = copy.copy(sleuth), copy.copy(sleuth)
    pausing.tenant = approving.tenant = "acme"
    paused = await pausing.research("What is Lilu?", options=ReportOptions(form="report", approve_plan=True))
    assert paused.status == "awaiting_approval"
    done = await approving.resume(paused.run_id, approve=True)
    assert done.status == "answered" and done.report is not None
    assert [s.heading for s in done.report.sections] == ["Overview", "Details", "Other accounts"]
    # The continued run says it resumed (the approval is not a fresh start).
    assert next(e for e in done.events if e.type == "run_started").data["resumed"] is True


async def test_empty_question_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        await sleuth_for(script()).research("  ")


def test_cli_json_prints_the_report_with_verified_citations() -> None:
    from sleuth.cli import app

    with override(llm=script(), retriever=StaticRetriever([LILU])):
        result = CliRunner().invoke(
            app, ["research", "If Gallu is a demon Lilu is what?", "--json", "--max-rounds", "1"]
        )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"answer", "citations", "search_calls", "patches_used"} <= set(data)
    assert isinstance(data["search_calls"], list) and data["search_calls"][1]["query"] == "What is Lilu?"
    assert data["citations"][0]["quote"] in LILU.text and data["citations"][0]["passage_id"] == "p-lilu"


def test_cli_live_view_shows_searches_and_sources() -> None:
    from sleuth.cli import app

    with override(llm=script(), retriever=StaticRetriever([LILU])):
        result = CliRunner().invoke(app, ["research", "If Gallu is a demon Lilu is what?"])
    assert result.exit_code == 0, result.output
    assert "search “If Gallu is a demon Lilu is what?”" in result.stdout and "sources" in result.stdout
    assert "p-lilu" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["research", "   "], "empty"),
        (["research", "--resume", "no-such-run"], "no-such-run"),
        (["research", "q", "--prompts", "/no/such/dir"], "neither a built-in set nor a directory"),
    ],
)
def test_cli_errors_are_clean(args: list[str], message: str) -> None:
    from sleuth.cli import app

    with override(llm=script(), retriever=StaticRetriever([LILU])):
        result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


async def test_ask_delegates_to_the_asp_agent_with_this_collection_and_prompts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    async def fake_run_ask(question: str, deps: Any, *, variant: str = "always") -> str:
        seen.update(question=question, deps=deps, variant=variant)
        return "answer"

    monkeypatch.setattr("sleuth.agents.ask.short_answer.run_ask", fake_run_ask)
    result = await sleuth_for(script()).ask("What is Lilu?", prompts="minimal", variant="free")
    assert result == "answer" and seen["variant"] == "free" and seen["question"] == "What is Lilu?"
    assert seen["deps"].collection == "demo" and seen["deps"].prompts.name == "minimal"


def test_search_ranks_a_collection_in_each_mode_and_names_what_is_missing(tmp_path: Any) -> None:
    from sleuth.retrieval.index import open_collection
    from sleuth.testing import HashEmbedder

    corpus = tmp_path / "zoo.jsonl"
    docs = [
        {"id": "otter", "title": "Sea otter", "text": "Sea otters use rocks as tools to open shellfish."},
        {"id": "heron", "title": "Grey heron", "text": "The grey heron hunts fish in shallow water."},
    ]
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    with open_collection(Settings(), "zoo", embedder=HashEmbedder()) as collection:
        collection.add([corpus])
    sleuth = Sleuth(Settings(), collection="zoo")
    with override(embedder=HashEmbedder()):
        for mode in ("bm25", "dense", "hybrid"):
            hits = sleuth.search("the grey heron hunts fish", k=1, mode=mode)  # type: ignore[arg-type]
            assert [h.passage.id for h in hits] == ["heron"], mode
        with pytest.raises(ValueError, match="no collection 'nowhere'"):
            sleuth.search("fish", collection="nowhere")
        with pytest.raises(ValueError, match="empty"):
            sleuth.search("  ")
    sleuth.close()


def test_a_tenant_view_shares_the_facade_but_sees_its_own_corrections() -> None:
    sleuth = sleuth_for(script())
    acme = sleuth.for_tenant("acme")
    assert acme.tenant == "acme" and sleuth.tenant is None
    assert acme.llm is sleuth.llm and acme.patches is sleuth.patches
    assert acme.retriever("demo") == sleuth.retriever("demo")
    assert sleuth.for_tenant(None) is sleuth
