"""Eval jobs as a library: `run_eval` reports its progress as events, writes the reports it returns, resumes,
and refuses bad options before any model is called."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sleuth.config import Settings
from sleuth.evals.datasets import load_dataset
from sleuth.evals.jobs import EvalError, LongformEval, QAEval, run_eval
from sleuth.testing import ScriptedLLM, StaticRetriever, override


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    corpus = [{"id": "p1", "title": "Lilu", "text": "Lilu is a spirit in Mesopotamian mythology."}]
    questions = [{"id": "q1", "question": "What is Lilu?", "answers": ["a spirit"], "gold_passage_ids": ["p1"]}]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (folder / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in questions))
    return folder


@pytest.fixture
def fake(dataset: Path) -> Iterator[ScriptedLLM]:
    """Every model the job opens is this scripted fake; the corpus is searched without being indexed."""
    llm = ScriptedLLM(fn=lambda call: "<answer>a spirit</answer>")
    with override(llm=llm, retriever=StaticRetriever(list(load_dataset(dataset).passages()))):
        yield llm


async def test_a_qa_eval_reports_progress_writes_its_reports_and_resumes(
    dataset: Path, tmp_path: Path, fake: ScriptedLLM
) -> None:
    config = QAEval(dataset=dataset, out=tmp_path / "out", arms=["naive", "oracle"])
    events: list[dict[str, Any]] = []
    result = await run_eval(Settings(), config, on_event=events.append)
    assert [e["event"] for e in events] == ["questions", "result", "result"]
    assert events[0]["total"] == 2 and not any(e["error"] for e in events[1:])
    assert result.report["arms"]["oracle"]["em"]["mean"] == 1.0
    assert all(path.exists() for path in result.paths) and {p.name for p in result.paths} == {
        "report.json",
        "report.md",
        "report.html",
    }
    again: list[dict[str, Any]] = []
    await run_eval(Settings(), config, on_event=again.append)
    assert again == [{"event": "questions", "total": 0}]  # everything was done


async def test_bad_options_are_refused_before_a_model_is_called(
    dataset: Path, tmp_path: Path, fake: ScriptedLLM
) -> None:
    with pytest.raises(EvalError, match="unknown agent 'writer'"):
        await run_eval(Settings(), QAEval(dataset=dataset, out=tmp_path / "a", agent="writer"))
    with pytest.raises(EvalError, match="needs a 'rubric'"):
        await run_eval(Settings(), LongformEval(dataset=dataset, out=tmp_path / "b"))
    with pytest.raises(EvalError, match="holds no eval run"):
        await run_eval(Settings(), QAEval(dataset=dataset, out=tmp_path / "c", report_only=True))
    assert fake.calls == [] and not (tmp_path / "a").exists()  # nothing ran, nothing was written
