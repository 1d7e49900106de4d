"""All arms on the same questions with a scripted model: scores, resumability, concurrency, reports."""

import asyncio
import base64
import json
from pathlib import Path

import pytest

from sleuth.config import Settings
from sleuth.evals.arms import ArmContext, ArmRun, build_arms, extract_answer
from sleuth.evals.datasets import QAExample
from sleuth.evals.report import bootstrap_ci, summarize, write_reports
from sleuth.evals.runner import ResultsFile, RunMismatchError, check_run_meta, run_qa
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Passage
from sleuth.testing import Call, ScriptedLLM, StaticRetriever

PASSAGES = [
    Passage("p1", "Jaws is a 1975 film directed by Steven Spielberg.", "Jaws"),
    Passage("p2", "Steven Spielberg was born in Cincinnati, Ohio.", "Steven Spielberg"),
    Passage("p3", "The Eiffel Tower is in Paris.", "Eiffel Tower"),
]
EXAMPLES = [
    QAExample("q1", "Where was the director of Jaws born?", ["Cincinnati"], ["p1", "p2"]),
    QAExample("q2", "Where is the Eiffel Tower?", ["Paris"], ["p3"]),
]


def reply(call: Call) -> str:
    """A model that searches once, then answers from what it was shown."""
    last = call.messages[-1]["content"]
    if call.agent == "summarizer":
        return "Steven Spielberg was born in Cincinnati." if "Jaws" in call.prompt else "It is in Paris."
    if call.agent == "reader":
        return "<answer>Cincinnati</answer>" if "Cincinnati" in call.prompt else "<answer>Paris</answer>"
    if "<information>" in call.prompt or "Time is up" in last or "no search in this mode" in last:
        return "<answer>Cincinnati</answer>" if "Jaws" in call.prompt else "<answer>Lyon</answer>"
    return "<search>Who directed Jaws and where was he born?</search>"


def context(llm) -> ArmContext:
    by_id = {p.id: p for p in PASSAGES}
    return ArmContext(
        llm=llm,
        settings=Settings(),
        prompts=load_prompt_set("defaults"),
        retriever=lambda mode: StaticRetriever(PASSAGES),
        lookup=by_id.get,
    )


async def test_all_five_arms_scored_on_the_same_questions(tmp_path: Path):
    llm = ScriptedLLM(fn=reply)
    arms = build_arms(["always", "free", "closed", "naive", "oracle"], context(llm))
    results = ResultsFile(tmp_path / "results.jsonl")
    records = await run_qa(EXAMPLES, arms, results, concurrency=3)
    assert len(records) == 10 and not any(r["error"] for r in records)
    by = {(r["example_id"], r["arm"]): r for r in records}
    assert by["q1", "always"]["f1"] == 1.0 and by["q1", "always"]["search_calls"] == 1
    assert by["q1", "always"]["gold_recall"] == 1.0  # the StaticRetriever returned p1 and p2
    assert by["q2", "always"]["em"] == 0.0  # the model said Lyon
    assert by["q1", "closed"]["search_calls"] == 0 and by["q1", "closed"]["gold_recall"] == 0.0
    assert by["q2", "oracle"]["em"] == 1.0 and by["q2", "oracle"]["retrieved_ids"] == ["p3"]
    assert by["q2", "naive"]["search_calls"] == 1
    assert by["q1", "always"]["tokens"] > 0
    assert by["q1", "always"]["trajectory"][-1]["content"].startswith("<answer>")


async def test_restart_skips_done_and_retries_errors(tmp_path: Path):
    class Flaky:
        name = "flaky"

        def __init__(self):
            self.seen = []

        async def run(self, example):
            self.seen.append(example.id)
            if example.id == "q2" and self.seen.count("q2") == 1:
                raise RuntimeError("server hiccup")
            return ArmRun(answer=example.answers[0])

    arm = Flaky()
    results = ResultsFile(tmp_path / "results.jsonl")
    first = await run_qa(EXAMPLES, [arm], results)
    assert {r["example_id"]: r["error"] for r in first} == {"q1": None, "q2": "RuntimeError: server hiccup"}
    # a torn last line (killed mid-write) is ignored
    with results.path.open("a") as fh:
        fh.write('{"example_id": "q1", "arm"')
    second = await run_qa(EXAMPLES, [arm], results)
    assert [r["example_id"] for r in second] == ["q2"] and arm.seen == ["q1", "q2", "q2"]
    assert {r["example_id"]: r["em"] for r in results.records()} == {"q1": 1.0, "q2": 1.0}


async def test_concurrency_is_bounded():
    in_flight = peak = 0

    class Slow:
        name = "slow"

        async def run(self, example):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return ArmRun(answer="x")

    examples = [QAExample(f"q{i}", "q", ["x"]) for i in range(8)]
    await run_qa(examples, [Slow()], _MemoryResults(), concurrency=3)
    assert peak == 3


class _MemoryResults(ResultsFile):
    def __init__(self):
        self.lines = []

    def records(self):
        return self.lines

    def append(self, record):
        self.lines.append(record)


def test_run_meta_refuses_another_dataset(tmp_path: Path):
    check_run_meta(tmp_path, {"dataset": "a", "agent": "ask", "arms": ["always"]})
    check_run_meta(tmp_path, {"dataset": "a", "agent": "ask", "arms": ["naive"]})
    assert json.loads((tmp_path / "run.json").read_text())["arms"] == ["always", "naive"]
    with pytest.raises(RunMismatchError, match="dataset"):
        check_run_meta(tmp_path, {"dataset": "b", "agent": "ask", "arms": []})


def test_unknown_arm_and_oracle_without_gold():
    with pytest.raises(ValueError, match="unknown arm 'wild'"):
        build_arms(["wild"], context(ScriptedLLM()))
    with pytest.raises(ValueError, match="unknown arm 'free' for agent 'research'"):
        build_arms(["free"], context(ScriptedLLM()), agent="research")


def test_extract_answer():
    assert extract_answer("thinking <answer> Paris </answer>") == "Paris"
    assert extract_answer("<answer>Paris") == "Paris"
    assert extract_answer("Paris") == "Paris"


def test_bootstrap_ci_brackets_the_mean():
    mean, lo, hi = bootstrap_ci([0, 1] * 50)
    assert mean == 0.5 and lo < 0.5 < hi and hi - lo < 0.3
    assert bootstrap_ci([1.0]) == (1.0, 1.0, 1.0)


async def test_reports_have_every_arm_and_embedded_plots(tmp_path: Path):
    llm = ScriptedLLM(fn=reply)
    arms = build_arms(["always", "free", "closed", "naive", "oracle"], context(llm))
    records = await run_qa(EXAMPLES, arms, ResultsFile(tmp_path / "results.jsonl"))
    report = write_reports(tmp_path, records, {"dataset": "mini", "model": "scripted"})
    assert set(report["arms"]) == {"always", "free", "closed", "naive", "oracle"}
    assert report["arms"]["oracle"]["em"]["mean"] == 1.0
    assert summarize(records, ["em"])["closed"]["em"]["n"] == 2
    md = (tmp_path / "report.md").read_text()
    assert "| oracle |" in md and "search_calls" in md
    page = (tmp_path / "report.html").read_text()
    pngs = page.split("data:image/png;base64,")[1:]
    assert len(pngs) >= 3
    assert base64.b64decode(pngs[0].split("'")[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "src='http" not in page  # self-contained


async def test_research_arm_scores_answer_and_its_citations(tmp_path: Path):
    llm = ScriptedLLM(
        by_schema={
            "Plan": {"tasks": [{"query": "Who directed Jaws?", "instructions": "find the director"}]},
            "ReaderOutput": {"evidence": [{"passage": 1, "sentence": 1, "claim": "director"}]},
            "RoundSummary": {"summary": "Spielberg directed Jaws.", "unknown": []},
            "WriterOutput": {
                "sentences": [{"text": "Jaws is a 1975 film directed by Steven Spielberg.", "evidence": [1]}]
            },
            "Reading": {"answer": "Steven Spielberg", "next_search": ""},
            "FinalReading": {"answer": "Steven Spielberg"},
        }
    )
    ctx = context(llm)
    ctx.settings = Settings(max_rounds=1, search_k=2)
    example = QAExample("r1", "Who directed Jaws?", ["Steven Spielberg"], ["p1"])
    [record] = await run_qa(
        [example], build_arms(["research", "naive"], ctx, agent="research")[:1], ResultsFile(tmp_path / "r.jsonl")
    )
    assert record["error"] is None and record["arm"] == "research"
    assert record["cover"] == 1.0 and record["gold_recall"] == 1.0 and record["search_calls"] >= 1
    assert record["citations"][0]["passage_id"] == "p1"
    assert record["citation_precision"] == 1.0 and record["citation_recall"] == 1.0


async def test_a_short_grounded_answer_is_scored_against_the_passages_it_cites(tmp_path: Path):
    # The answer carries no [n] markers: its citations stand for the whole answer. Scored as a sentence with
    # no citation, its citations were never judged (precision none) and a longer answer had recall 0.
    llm = ScriptedLLM(by_schema={"Reading": {"answer": "Cincinnati, Ohio", "next_search": ""}})
    example = QAExample("g1", "Where was Steven Spielberg born?", ["Cincinnati"], ["p2"])
    [record] = await run_qa([example], build_arms(["grounded"], context(llm)), ResultsFile(tmp_path / "g.jsonl"))
    assert record["error"] is None and record["citations"][0]["passage_id"] == "p2"
    assert record["citations_used"] >= 1 and record["citation_precision"] == 1.0
