"""Optimizer metrics: the number and the feedback the reflection model reads."""

from __future__ import annotations

import pytest

from sleuth.evals.datasets import QAExample, RubricItem
from sleuth.optimizers.base import Rollout, Search
from sleuth.optimizers.metrics import AnswerMetric, RubricJudgeMetric, build_metric
from sleuth.testing import ScriptedLLM

EXAMPLE = QAExample("q1", "Who directed Big Eyes?", ["Tim Burton"])


def rollout(answer: str, passages: dict[str, str] | None = None, citations: list | None = None) -> Rollout:
    searches = [Search("Who directed Big Eyes?", passages)] if passages is not None else []
    return Rollout(EXAMPLE, answer=answer, searches=searches, citations=citations or [])


async def test_feedback_separates_a_missed_search_from_an_unused_passage() -> None:
    missed = await AnswerMetric("em").score(rollout("Steven Spielberg", {"p1": "Big Eyes is a 2014 film."}))
    unused = await AnswerMetric("em").score(
        rollout("Steven Spielberg", {"p1": "Big Eyes was directed by Tim Burton."})
    )
    assert missed.value == unused.value == 0.0
    assert "never appeared in any retrieved passage" in missed.feedback
    assert "was in the retrieved passages" in unused.feedback
    assert "1 search(es): 'Who directed Big Eyes?'" in unused.feedback


async def test_verbose_right_answer_gets_partial_f1_and_a_hint_to_be_short() -> None:
    score = await AnswerMetric("f1").score(rollout("It was directed by Tim Burton", {}))
    assert 0 < score.value < 1
    assert "give only the few words" in score.feedback
    assert score.parts["em"] == 0.0


async def test_no_search_and_bad_citations_are_called_out() -> None:
    no_search = await AnswerMetric("em").score(rollout("Tim Burton"))
    assert no_search.value == 1.0
    assert "made no search at all" in no_search.feedback
    cited = await AnswerMetric("em").score(
        rollout(
            "Tim Burton",
            {"p1": "Big Eyes was directed by Tim Burton."},
            citations=[
                {"passage_id": "p1", "quote": "directed by Tim Burton"},
                {"passage_id": "p1", "quote": "made up"},
            ],
        )
    )
    assert "1 of 2 citation(s) quote their passage correctly" in cited.feedback
    assert cited.parts["citations_valid"] == 0.5


async def test_rubric_judge_weights_important_items_twice_and_passes_its_comment_on() -> None:
    example = QAExample(
        "r1",
        "Why is the sky blue?",
        rubric=[RubricItem("Rayleigh scattering", True), RubricItem("mentions sunsets", False)],
    )
    llm = ScriptedLLM(by_agent={"judge": {"met": [False, True], "comment": "No mechanism given."}})
    score = await RubricJudgeMetric(llm).score(Rollout(example, answer="Sunsets are red."))
    assert score.value == pytest.approx(1 / 3)
    assert "No mechanism given." in score.feedback and "Rayleigh scattering" in score.feedback
    assert "Rubric:\n1. Rayleigh scattering" in llm.calls[0].prompt


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        build_metric("bleu")
