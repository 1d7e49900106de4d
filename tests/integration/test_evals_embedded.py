"""Eval arms and the judge on the real embedded model: one oracle read, one reference-mode judgement."""

from __future__ import annotations

from pathlib import Path

import pytest

from sleuth.config import Settings
from sleuth.evals.arms import ArmContext, build_arms
from sleuth.evals.citations import OverlapSupport
from sleuth.evals.datasets import QAExample
from sleuth.evals.judge import judge_longform
from sleuth.evals.runner import ResultsFile, run_qa
from sleuth.llm import connect
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Passage
from sleuth.testing import StaticRetriever

pytestmark = pytest.mark.integration

PASSAGES = [
    Passage("p1", "Lilu is a masculine Akkadian word for a spirit, related to Sumerian demons.", "Lilu"),
    Passage("p2", "Gallu is a demon of the Mesopotamian underworld.", "Gallu"),
]


async def test_oracle_arm_and_reference_judge_on_the_embedded_model(tmp_path: Path) -> None:
    settings = Settings()
    prompts = load_prompt_set("defaults")
    example = QAExample(
        "q1",
        "If Gallu is a demon, Lilu is what?",
        ["a spirit"],
        ["p1", "p2"],
        reference_answer="Lilu is a spirit in Akkadian tradition.",
    )
    by_id = {p.id: p for p in PASSAGES}
    async with connect(settings) as llm:
        ctx = ArmContext(
            llm=llm,
            settings=settings,
            prompts=prompts,
            retriever=lambda mode: StaticRetriever(PASSAGES),
            lookup=by_id.get,
        )
        records = await run_qa([example], build_arms(["oracle"], ctx), ResultsFile(tmp_path / "r.jsonl"))
        graded = await judge_longform(
            llm,
            prompts["judge"],
            example,
            "Lilu is a spirit [1].",
            [{"n": 1, "passage_id": "p1", "quote": "a spirit"}],
            {"p1": PASSAGES[0].text},
            OverlapSupport(),
        )
    record = records[0]
    assert record["error"] is None and record["prediction"] and record["tokens"] > 0
    print(f"oracle answer {record['prediction']!r}: f1 {record['f1']:.2f}; judge score {graded['score']:.2f}")
    assert 0.0 <= graded["rubric"] <= 1.0 and graded["excerpts"] == 1.0
