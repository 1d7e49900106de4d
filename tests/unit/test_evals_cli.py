"""`sleuth eval qa`, `sleuth eval longform` and `sleuth distill` end to end with a scripted model."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.evals import corpus
from sleuth.evals.datasets import load_dataset
from sleuth.testing import Call, ScriptedLLM, StaticRetriever, override


def reply(call: Call) -> str | dict:
    last = call.messages[-1]["content"]
    if call.schema_name == "ReferenceVerdict":
        return {"reason": "fine", "coverage": 6, "expertise": 5}
    if call.schema_name in ("Reading", "FinalReading"):  # the grounded strategy
        return {"answer": "a spirit" if "Question: If Gallu" in last else "a demon", "next_search": ""}
    if call.agent == "summarizer":
        return "Lilu is a spirit in Mesopotamian mythology."
    if call.agent == "reader":
        return "<answer>a spirit</answer>"
    if "<information>" in call.prompt or "Time is up" in last or "no search in this mode" in last:
        return "<answer>spirit</answer>"
    return "<search>What is Lilu?</search>"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    d.mkdir()
    corpus = [
        {"id": "p1", "title": "Lilu", "text": "Lilu is a spirit in Mesopotamian mythology."},
        {"id": "p2", "title": "Gallu", "text": "Gallu is a demon of the underworld."},
    ]
    questions = [
        {
            "id": "q1",
            "question": "If Gallu is a demon Lilu is what?",
            "answers": ["a spirit"],
            "gold_passage_ids": ["p1", "p2"],
            "reference_answer": "Lilu is a spirit [0].",
        },
        {
            "id": "q2",
            "question": "What is Gallu?",
            "answers": ["demon"],
            "gold_passage_ids": ["p2"],
            "reference_answer": "A demon.",
        },
    ]
    (d / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (d / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in questions))
    return d


@pytest.fixture
def llm(dataset: Path) -> Iterator[ScriptedLLM]:
    """The task, judge and teacher model is this scripted fake; the corpus is searched without being indexed."""
    fake = ScriptedLLM(fn=reply)
    with override(llm=fake, retriever=StaticRetriever(list(load_dataset(dataset).passages()))):
        yield fake


def test_eval_qa_writes_reports_and_resumes(dataset: Path, tmp_path: Path, llm: ScriptedLLM):
    out = tmp_path / "out"
    args = ["eval", "qa", "--dataset", str(dataset), "--out", str(out), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["arms"]) == {"grounded", "always", "free", "closed", "naive", "oracle"}
    assert report["arms"]["grounded"]["em"]["mean"] == 1.0 and report["arms"]["grounded"]["errors"] == 0
    assert "gap_closed_f1" in report["breakdown"] and "f1_by_type" in report["breakdown"]
    assert report["arms"]["naive"]["em"]["mean"] == 0.5  # "a spirit" right on q1, wrong on q2
    # Paired with the floor on the same questions: grounded is right where naive was wrong, and no worse.
    versus = report["breakdown"]["f1_vs_naive"]["grounded"]
    assert (versus["n"], versus["better"], versus["worse"]) == (2, 1, 0) and versus["mean"] > 0
    assert "naive" not in report["breakdown"]["f1_vs_naive"]
    assert "- **grounded**: +" in (out / "report.md").read_text()
    for name in ("report.json", "report.md", "report.html", "results.jsonl", "run.json"):
        assert (out / name).exists()
    calls = len(llm.calls)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and len(llm.calls) == calls  # everything was done: no model call
    assert len((out / "results.jsonl").read_text().splitlines()) == 12  # 2 questions × 6 arms


def test_eval_qa_clear_errors(dataset: Path, tmp_path: Path, llm: ScriptedLLM):
    bad = CliRunner().invoke(
        app, ["eval", "qa", "--dataset", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]
    )
    assert bad.exit_code != 0 and "no such dataset" in " ".join(bad.output.split())
    arms = CliRunner().invoke(
        app, ["eval", "qa", "--dataset", str(dataset), "--out", str(tmp_path / "o"), "--arms", "always,psychic"]
    )
    assert arms.exit_code != 0 and "unknown arm 'psychic'" in " ".join(arms.output.split())


def test_eval_longform_reference_mode(dataset: Path, tmp_path: Path, llm: ScriptedLLM, monkeypatch):
    from sleuth.evals import arms
    from sleuth.evals.arms import ArmRun

    async def fake_research(self, example):
        return ArmRun(
            answer="Lilu is a spirit in Mesopotamian mythology [1].",
            citations=[{"n": 1, "passage_id": "p1", "quote": "Lilu is a spirit"}],
            search_calls=1,
        )

    monkeypatch.setattr(arms.ResearchArm, "run", fake_research)
    out = tmp_path / "lf"
    result = CliRunner().invoke(app, ["eval", "longform", "--dataset", str(dataset), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["arms"]["research"]
    # coverage 0.6*0.6 + length 0.05 + expertise 0.05*0.5 + citations 0.2*1 + excerpts 0.1*1
    assert stats["score"]["mean"] == pytest.approx(0.36 + 0.05 + 0.025 + 0.2 + 0.1)


def test_eval_longform_both_forms_without_a_judge_reports_what_code_checks(
    dataset: Path, tmp_path: Path, llm: ScriptedLLM, monkeypatch
):
    from sleuth.evals import arms
    from sleuth.evals.arms import ArmRun

    async def fake_research(self, example):
        report = self.form == "report"
        answer = "# T\n\nLilu is a spirit in Mesopotamian mythology [1].\n\n## Sources\n\n1. Lilu (p1)"
        return ArmRun(
            answer=answer if report else "Lilu is a spirit in Mesopotamian mythology [1].",
            citations=[{"n": 1, "passage_id": "p1", "quote": "Lilu is a spirit"}],
            search_calls=1,
            details={
                "form": self.form,
                "sections": 3 if report else 0,
                "kept_sentences": 1,
                "dropped_sentences": 1,
            },
        )

    monkeypatch.setattr(arms.ResearchArm, "run", fake_research)
    out = tmp_path / "lf"
    args = ["eval", "longform", "--dataset", str(dataset), "--out", str(out), "--forms", "answer,report"]
    result = CliRunner().invoke(app, [*args, "--no-judge", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["arms"]
    assert set(stats) == {"research", "report"} and "score" not in stats["report"]  # no judge, no judge score
    # q1 cites p1 of its gold p1, p2; q2 (gold p2) cites p1: precision (1 + 0) / 2, recall (0.5 + 0) / 2.
    assert stats["report"]["gold_cite_precision"]["mean"] == pytest.approx(0.5)
    assert stats["report"]["gold_cite_recall"]["mean"] == pytest.approx(0.25)
    assert stats["report"]["sections"]["mean"] == 3 and stats["research"]["sections"]["mean"] == 0
    assert stats["report"]["dropped_share"]["mean"] == pytest.approx(0.5)
    # The report's sources list is not counted as words: its title and the same 7 words as the answer.
    assert (stats["report"]["words"]["mean"], stats["research"]["words"]["mean"]) == (8, 7)
    result = CliRunner().invoke(app, [*args, "--forms", "essay"])
    assert result.exit_code != 0 and "--forms takes" in result.output


def test_distill_keeps_grounded_correct_runs(dataset: Path, tmp_path: Path, llm: ScriptedLLM):
    out = tmp_path / "sft.jsonl"
    result = CliRunner().invoke(
        app,
        ["distill", "--teacher-url", "http://teacher/v1", "--dataset", str(dataset), "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    # q1: "spirit" vs "a spirit" -> F1 1.0, grounded in the summary -> kept; q2: "spirit" vs "demon" -> f1 drop
    assert (counts["total"], counts["kept"], counts["dropped_by_rule"]["f1"]) == (2, 1, 1)
    line = json.loads(out.read_text().splitlines()[0])
    assert line["messages"][0]["role"] == "system" and "<information>" in line["messages"][3]["content"]


def test_corpus_indexed_once_into_a_collection_named_after_the_dataset(dataset: Path):
    from sleuth.config import Settings
    from sleuth.retrieval.index import open_collection
    from sleuth.testing import HashEmbedder

    data = load_dataset(dataset)
    indexed: list[tuple[int, int]] = []
    with override(embedder=HashEmbedder()):
        retriever = corpus.open_retrievers(Settings(), data, lambda done, total: indexed.append((done, total)))
        assert retriever("bm25").search("Gallu demon underworld", 1)[0].passage.id == "p2"
        assert {h.passage.id for h in retriever("hybrid").search("Lilu spirit", 2)} == {"p1", "p2"}
        assert indexed and indexed[-1][0] == 2
        indexed.clear()
        corpus.open_retrievers(Settings(), data, lambda done, total: indexed.append((done, total)))
        assert all(done == 0 for done, _ in indexed)  # reused: the unchanged corpus is not indexed again
        assert open_collection(Settings(), "tiny").count == 2


def test_report_only_compares_arms_on_complete_questions(dataset: Path, tmp_path: Path, llm: ScriptedLLM):
    out = tmp_path / "partial"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"dataset": str(dataset.resolve()), "agent": "ask"}))
    rows = [
        {"example_id": "q1", "arm": "naive", "em": 1.0},
        {"example_id": "q1", "arm": "oracle", "em": 1.0},
        {"example_id": "q2", "arm": "naive", "em": 0.0},
    ]  # q2 has no oracle run yet
    base = {"f1": 0.0, "cover": 0.0, "search_calls": 0, "turns": 1, "tokens": 1, "latency_s": 1.0, "error": None}
    (out / "results.jsonl").write_text("".join(json.dumps({**base, **r}) + "\n" for r in rows))
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "qa",
            "--dataset",
            str(dataset),
            "--out",
            str(out),
            "--arms",
            "naive,oracle",
            "--report-only",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["questions"] == 1 and report["meta"]["questions_left_out"] == 1
    assert report["arms"]["naive"]["em"]["mean"] == 1.0 and not llm.calls


@pytest.mark.parametrize("folder", ["ds", "x", "..", "hotpot qa (dev)", "a" * 80 + "_b", "set_"])
def test_collection_name_is_valid_for_any_dataset_folder(folder: str):
    from sleuth.evals.datasets import Dataset
    from sleuth.retrieval.index import _NAME

    name = corpus.collection_name(Dataset(name=folder, examples=[], corpus_path=None))
    assert _NAME.match(name), name
