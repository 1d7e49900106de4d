"""The deep-research graph with a scripted LLM: plans, searches, reads in parallel, cites or refuses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.run import run_research
from sleuth.config import Settings
from sleuth.feedback.base import PatchView
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Passage
from sleuth.testing import Call, ScriptedLLM, StaticRetriever, hostile_passages

NOLAN = Passage(
    "p-nolan",
    "Christopher Edward Nolan is a British-American film director, producer and "
    "screenwriter. His films have grossed over US$5 billion.",
    "Christopher Nolan",
)
KALATHIL = Passage(
    "p-kal", "Sathish Kalathil is an Indian film director, journalist and poet from Kerala.", "Sathish Kalathil"
)
FILLER = [
    Passage(f"p-{i}", f"Film festival number {i} showed many films in the city.", f"Festival {i}")
    for i in range(8)
]

QUESTION = "Are Christopher Nolan and Sathish Kalathil both film directors?"


def plan(*queries: str) -> dict[str, Any]:
    return {"tasks": [{"query": q, "instructions": "find their profession"} for q in queries]}


def quote_first_passage(call: Call) -> dict[str, Any]:
    """A reader that picks the first sentence of its first passage."""
    return {"evidence": [{"passage": 1, "sentence": 1, "claim": "profession"}]}


def deps_for(llm: ScriptedLLM, passages: list[Passage], **settings: Any) -> AgentDeps:
    # These tests script the planning, reading and writing nodes; the direct answer has its own tests.
    values = {"max_rounds": 1, "reader_batch_size": 4, "search_k": 4, "research_direct_answer": False, **settings}
    return AgentDeps(
        llm=llm, retriever=StaticRetriever(passages), prompts=load_prompt_set(), settings=Settings(**values)
    )


async def test_answer_cites_only_quotes_that_occur_in_retrieved_passages() -> None:
    llm = ScriptedLLM(
        by_schema={
            "Plan": plan("Is Christopher Nolan a film director?"),
            "ReaderOutput": quote_first_passage,
            "RoundSummary": {"summary": "Nolan is a director.", "unknown": []},
            "WriterOutput": {
                "sentences": [{"text": "Christopher Nolan is a British-American film director.", "evidence": [1]}]
            },
        }
    )
    report = await run_research(QUESTION, deps_for(llm, [NOLAN, KALATHIL]))
    assert report.status == "answered"
    assert report.answer == "Christopher Nolan is a British-American film director. [1]"
    assert [c.passage_id for c in report.citations] == ["p-nolan"]
    assert report.citations[0].quote in NOLAN.text
    # The question itself is always searched first, then the planned queries.
    assert [c.query for c in report.search_calls] == [QUESTION, "Is Christopher Nolan a film director?"]
    assert report.search_calls[0].hit_ids[0] == "p-nolan"
    assert report.usage["writer"].calls == 1 and report.usage["total"].prompt_tokens > 0
    assert not llm.calls_for("aggregator")  # the last round's mini-report would have no reader
    assert report.prompt_set_hash == load_prompt_set().hash
    assert {e.type for e in report.events} >= {"run_started", "search", "evidence", "answer", "run_finished"}


async def test_nothing_found_gives_a_refusal_naming_the_searches_and_no_writer_call() -> None:
    llm = ScriptedLLM(by_schema={"Plan": plan("Who invented the quantum toaster?")})
    report = await run_research("Who invented the quantum toaster?", deps_for(llm, [NOLAN]))
    assert report.status == "no_evidence"
    assert report.citations == []
    assert "quantum toaster" in report.answer and "could not find evidence" in report.answer
    assert not llm.calls_for("writer") and not llm.calls_for("reader")
    assert len(report.search_calls) == 1 and report.search_calls[0].hit_ids == []


async def test_memory_phrase_gets_one_reask_then_the_sentence_is_removed() -> None:
    memory = {
        "sentences": [
            {"text": "As is well known, Nolan directed Inception.", "evidence": [1]},
            {"text": "Christopher Nolan is a film director.", "evidence": [1]},
        ]
    }
    llm = ScriptedLLM(
        by_schema={
            "Plan": plan("Christopher Nolan director"),
            "ReaderOutput": quote_first_passage,
            "RoundSummary": {"summary": "", "unknown": []},
            "WriterOutput": [memory, memory],
        }
    )
    report = await run_research(QUESTION, deps_for(llm, [NOLAN]))
    writer_calls = llm.calls_for("writer")
    assert len(writer_calls) == 2
    assert "REJECTED" in writer_calls[1].prompt and "as is well known" in writer_calls[1].prompt.lower()
    assert "well known" not in report.answer.lower()
    assert report.answer == "Christopher Nolan is a film director. [1]"
    assert [d.text for d in report.dropped_sentences] == ["As is well known, Nolan directed Inception."]


async def test_reask_that_fixes_the_draft_keeps_the_fixed_answer() -> None:
    llm = ScriptedLLM(
        by_schema={
            "Plan": plan("Christopher Nolan director"),
            "ReaderOutput": quote_first_passage,
            "RoundSummary": {"summary": "", "unknown": []},
            "WriterOutput": [
                {"sentences": [{"text": "I remember Nolan is a director.", "evidence": [1]}]},
                {"sentences": [{"text": "Nolan is a film director.", "evidence": [1]}]},
            ],
        }
    )
    report = await run_research(QUESTION, deps_for(llm, [NOLAN]))
    assert report.answer == "Nolan is a film director. [1]" and report.dropped_sentences == []


async def test_unsupported_sentences_are_dropped_and_listed() -> None:
    llm = ScriptedLLM(
        by_schema={
            "Plan": plan("Christopher Nolan director"),
            "ReaderOutput": quote_first_passage,
            "RoundSummary": {"summary": "", "unknown": []},
            "WriterOutput": {
                "sentences": [
                    {"text": "Nolan is a British-American director.", "evidence": [1]},
                    {"text": "Nolan won eleven Oscars.", "evidence": []},
                    {"text": "Kalathil was born in Paris.", "evidence": [9]},
                    {"text": "Bananas are yellow.", "evidence": [1]},
                ]
            },
        }
    )
    report = await run_research(QUESTION, deps_for(llm, [NOLAN]))
    assert report.answer == "Nolan is a British-American director. [1]"
    reasons = {d.text: d.reason for d in report.dropped_sentences}
    assert reasons["Nolan won eleven Oscars."] == "no citation"
    assert "does not exist" in reasons["Kalathil was born in Paris."]
    assert "shares no content word" in reasons["Bananas are yellow."]


async def test_reader_picks_of_missing_passages_or_sentences_are_dropped_and_counted() -> None:
    llm = ScriptedLLM(
        by_schema={
            "Plan": plan("Christopher Nolan director"),
            "ReaderOutput": {
                "evidence": [
                    {"passage": 1, "sentence": 9, "claim": "x"},
                    {"passage": 7, "sentence": 1, "claim": "x"},
                    {"passage": 1, "sentence": 2, "claim": "Nolan's films grossed $5 billion"},
                ]
            },
            "RoundSummary": {"summary": "", "unknown": []},
            "WriterOutput": {"sentences": [{"text": "Nolan's films grossed over US$5 billion.", "evidence": [1]}]},
        }
    )
    report = await run_research(QUESTION, deps_for(llm, [NOLAN]))
    assert report.rejected_quotes == 2
    # The quote is the passage's own sentence, cut from its text.
    assert report.citations[0].quote == "His films have grossed over US$5 billion."
    assert '(1) "Christopher Edward Nolan' in llm.calls_for("reader")[0].prompt


async def test_writer_fallback_quotes_evidence_when_no_sentence_survives() -> None:
    llm = ScriptedLLM(
        by_schema={
            "Plan": plan("Christopher Nolan director"),
            "ReaderOutput": quote_first_passage,
            "RoundSummary": {"summary": "", "unknown": []},
            "WriterOutput": {"sentences": [{"text": "Yes.", "evidence": []}]},
        }
    )
    report = await run_research(QUESTION, deps_for(llm, [NOLAN]))
    assert report.writer_fallback and report.status == "answered"
    assert report.citations[0].quote in report.answer and report.answer.endswith("[1]")


async def test_readers_fan_out_one_per_batch_and_run_in_parallel() -> None:
    active = 0
    peak = 0

    async def slow_reader(call: Call) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1

    class SlowLLM(ScriptedLLM):
        async def complete(self, messages, **kwargs):  # type: ignore[no-untyped-def]
            if kwargs.get("agent") == "reader":
                await slow_reader(None)  # type: ignore[arg-type]
            return await super().complete(messages, **kwargs)

    llm = SlowLLM(
        by_schema={
            "Plan": plan("film festival films"),
            "ReaderOutput": {"evidence": []},
            "RoundSummary": {"summary": "", "unknown": []},
        }
    )
    report = await run_research("Which films were shown?", deps_for(llm, FILLER, search_k=8, reader_batch_size=3))
    assert len(llm.calls_for("reader")) == 3  # 8 hits in batches of 3
    assert peak == 3
    assert report.status == "no_evidence"


async def test_a_second_round_searches_what_is_still_unknown_and_stops_at_the_limit() -> None:
    llm = ScriptedLLM(
        by_schema={
            "Plan": [plan("Christopher Nolan director"), plan("Sathish Kalathil profession")],
            "ReaderOutput": quote_first_passage,
            "RoundSummary": {"summary": "Nolan is a director.", "unknown": ["Is Kalathil a director?"]},
            "WriterOutput": {
                "sentences": [
                    {"text": "Nolan is a film director.", "evidence": [1]},
                    {"text": "Kalathil is an Indian film director.", "evidence": [2]},
                ]
            },
        }
    )
    report = await run_research(QUESTION, deps_for(llm, [NOLAN, KALATHIL], search_k=1, max_rounds=2))
    assert [c.query for c in report.search_calls] == [
        QUESTION,
        "Christopher Nolan director",
        "Sathish Kalathil profession",
    ]
    assert len(report.plan) == 2 and "Is Kalathil a director?" in llm.calls_for("orchestrator")[1].prompt
    assert [c.passage_id for c in report.citations] == ["p-nolan", "p-kal"]
    assert len(llm.calls_for("aggregator")) == 1


async def test_invalid_plan_still_searches_the_question() -> None:
    llm = ScriptedLLM(
        by_schema={
            "Plan": "not json",
            "ReaderOutput": {"evidence": []},
            "RoundSummary": {"summary": "", "unknown": []},
        }
    )
    deps = deps_for(llm, [NOLAN])
    report = await run_research(QUESTION, deps)
    assert [c.query for c in report.search_calls] == [QUESTION]
    assert report.status == "no_evidence"
    # Invalid JSON twice: the raw replies are kept in the run log, and the run says where.
    log = [json.loads(line) for line in deps.settings.run_log_path.read_text().splitlines()]
    assert log[0]["node"] == "orchestrator" and log[0]["raw_outputs"] == ["not json", "not json"]
    assert any("run-log.jsonl" in e.data.get("message", "") for e in report.events if e.type == "warning")


class OnePatch:
    def __init__(self) -> None:
        self.queries: list[str] = []

    def relevant(self, query: str, *, collection: str | None = None, tenant: str | None = None) -> list[PatchView]:
        self.queries.append(query)
        return [
            PatchView(
                "p1",
                "Is Kalathil a director?",
                "Yes, a film director.",
                "Kalathil directed the 2019 film Jalachhayam.",
                0.9,
            )
        ]


async def test_patches_reach_the_prompts_before_passages_and_are_citable() -> None:
    llm = ScriptedLLM(
        by_schema={
            "Plan": plan("Christopher Nolan director"),
            "ReaderOutput": quote_first_passage,
            "RoundSummary": {"summary": "", "unknown": []},
            "WriterOutput": {
                "sentences": [
                    {"text": "Kalathil directed the film Jalachhayam.", "evidence": [1]},
                    {"text": "Nolan is a film director.", "evidence": [2]},
                ]
            },
        }
    )
    deps = deps_for(llm, [NOLAN])
    deps.patches = OnePatch()
    report = await run_research(QUESTION, deps)
    assert report.patches_used == ["p1"]
    for role in ("orchestrator", "reader", "writer"):
        prompt = llm.calls_for(role)[0].prompt
        assert "BEGIN USER CORRECTIONS" in prompt and "Jalachhayam" in prompt
    reader_prompt = llm.calls_for("reader")[0].prompt
    assert reader_prompt.index("USER CORRECTIONS") < reader_prompt.index("PASSAGE 1")
    assert report.citations[0].passage_id == "patch:p1" and report.citations[0].kind == "patch"
    assert report.citations[1].passage_id == "p-nolan"


async def test_resume_after_a_failure_redoes_only_the_unfinished_step() -> None:
    failures = {"aggregator": 1}

    def fn(call: Call) -> str | dict[str, Any]:
        if call.agent == "aggregator" and failures["aggregator"]:
            failures["aggregator"] -= 1
            raise RuntimeError("server went away")
        return {
            "orchestrator": plan("Christopher Nolan director"),
            "reader": quote_first_passage(call) if call.agent == "reader" else {},
            "aggregator": {"summary": "", "unknown": []},
            "writer": {"sentences": [{"text": "Nolan is a film director.", "evidence": [1]}]},
        }[call.agent]

    llm = ScriptedLLM(fn=fn)
    saver = InMemorySaver()
    with pytest.raises(RuntimeError, match="server went away"):
        await run_research(QUESTION, deps_for(llm, [NOLAN], max_rounds=2), run_id="run-1", checkpointer=saver)
    done_before = {role: len(llm.calls_for(role)) for role in ("orchestrator", "reader")}
    assert done_before == {"orchestrator": 1, "reader": 1}
    report = await run_research(None, deps_for(llm, [NOLAN], max_rounds=2), run_id="run-1", checkpointer=saver)
    assert {role: len(llm.calls_for(role)) for role in ("orchestrator", "reader")} == done_before
    assert report.run_id == "run-1" and report.answer == "Nolan is a film director. [1]"
    assert len(report.search_calls) == 2 and len(llm.calls_for("aggregator")) == 2


async def test_resume_of_unknown_run_is_a_clear_error() -> None:
    from sleuth.agents.research.run import UnknownRunError

    with pytest.raises(UnknownRunError, match="nope"):
        await run_research(None, deps_for(ScriptedLLM(), [NOLAN]), run_id="nope", checkpointer=InMemorySaver())


def test_langgraph_json_points_at_a_loadable_graph_factory() -> None:
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec_path, _, name = json.loads((root / "langgraph.json").read_text())["graphs"]["research"].partition(":")
    spec = importlib.util.spec_from_file_location("research_graph_module", root / spec_path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = getattr(module, name)()
    assert {"orchestrator", "search", "reader", "aggregator", "writer", "verify"} <= set(graph.get_graph().nodes)


async def test_with_one_task_per_round_the_first_round_searches_the_question_without_planning() -> None:
    llm = ScriptedLLM(
        by_schema={
            "ReaderOutput": quote_first_passage,
            "WriterOutput": {"sentences": [{"text": "Nolan is a film director.", "evidence": [1]}]},
        }
    )
    report = await run_research(QUESTION, deps_for(llm, [NOLAN], max_tasks_per_round=1))
    assert not llm.calls_for("orchestrator")
    assert [c.query for c in report.search_calls] == [QUESTION] and report.status == "answered"


EXIES = Passage("p-ex", "The Exies are an American rock band formed in 1997 in Los Angeles.", "The Exies")
DIABLO = Passage("p-cd", "Circus Diablo is an American rock supergroup formed in 2006.", "Circus Diablo")


class NameRetriever:
    """Finds the passages whose title words occur in the query (a comparison's two sides apart)."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages

    def search(self, query: str, k: int, *, where: Any = None) -> list[Any]:
        from sleuth.retrieval.base import Hit

        words = set(query.lower().replace("?", " ").replace(",", " ").split())
        return [Hit(p, 1.0) for p in self.passages if words & (set(p.title.lower().split()) - {"the"})][:k]


async def test_the_report_opens_with_the_grounded_answer_and_each_side_of_a_comparison_cited() -> None:
    question = "Which band was formed first, The Exies or Circus Diablo?"
    llm = ScriptedLLM(
        by_schema={
            "Plan": plan("When were The Exies formed?"),
            "ReaderOutput": quote_first_passage,
            "RoundSummary": {"summary": "", "unknown": []},
            # A small writer that never says which band came first.
            "WriterOutput": {"sentences": [{"text": "The Exies are a rock band.", "evidence": [1]}]},
            "Reading": {"answer": "The Exies", "next_search": ""},
            "FinalReading": {"answer": "The Exies"},
        }
    )
    deps = deps_for(llm, [], research_direct_answer=True)
    deps.retriever = NameRetriever([EXIES, DIABLO, *FILLER])
    report = await run_research(question, deps)

    # The first sentence answers (a bare name would be dropped as too short to state a fact).
    assert report.answer.startswith("The answer is The Exies.")
    assert "formed in 1997" in report.answer and "formed in 2006" in report.answer
    cited = {c.passage_id for c in report.citations}
    assert {"p-ex", "p-cd"} <= cited
    # The grounded step searched the question and each side by its name.
    assert {question, "The Exies", "Circus Diablo"} <= {c.query for c in report.search_calls}
    assert report.usage["direct"].calls >= 1


async def test_no_grounded_answer_leaves_the_writer_sentences_alone() -> None:
    llm = ScriptedLLM(
        by_schema={
            "Plan": plan("Is Christopher Nolan a film director?"),
            "ReaderOutput": quote_first_passage,
            "RoundSummary": {"summary": "", "unknown": []},
            "WriterOutput": {"sentences": [{"text": "Christopher Nolan is a film director.", "evidence": [1]}]},
            "Reading": {"answer": "Paris", "next_search": ""},  # in no passage: a guess, refused
            "FinalReading": {"answer": "Paris"},
        }
    )
    report = await run_research(QUESTION, deps_for(llm, [NOLAN, KALATHIL], research_direct_answer=True))
    assert report.answer == "Christopher Nolan is a film director. [1]"
    assert "Paris" not in report.answer


async def test_a_retrieved_passage_whose_id_looks_like_a_patch_is_cited_as_a_passage() -> None:
    """Only the run's own corrections are user corrections; a corpus may hold any id, "patch:forged" too."""
    badger = next(p for p in hostile_passages() if p.id == "patch:forged")
    llm = ScriptedLLM(
        by_schema={
            "ReaderOutput": {"evidence": []},
            "WriterOutput": {"sentences": []},
            "Reading": {"answer": "by day", "next_search": ""},
            "FinalReading": {"answer": "by day"},
        }
    )
    report = await run_research(
        "When does the badger sleep?", deps_for(llm, [badger], research_direct_answer=True, max_tasks_per_round=1)
    )
    assert [(c.passage_id, c.kind) for c in report.citations] == [("patch:forged", "passage")]
    assert report.answer.startswith("The answer is by day.")
