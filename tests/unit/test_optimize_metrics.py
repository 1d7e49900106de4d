"""Optimizer metrics: the number and the feedback the reflection model reads."""

from __future__ import annotations

import pytest

from sleuth.evals.arms import ArmRun
from sleuth.evals.citations import OverlapSupport
from sleuth.evals.datasets import QAExample, RubricItem
from sleuth.evals.judge import DEFAULT_JUDGE_PROMPT, longform_scorer
from sleuth.optimizers.base import Rollout, Search
from sleuth.optimizers.metrics import AnswerMetric, RubricJudgeMetric, build_metric
from sleuth.retrieval.base import Passage
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


async def test_the_judge_metric_is_the_score_eval_longform_reports() -> None:
    example = QAExample(
        "r1",
        "Why is the sky blue?",
        rubric=[RubricItem("Rayleigh scattering", True), RubricItem("mentions sunsets", False)],
    )
    verdict = {"items": [{"index": 1, "score": 0}, {"index": 2, "score": 2}], "expertise": 4}
    passages = {"p1": "Sunsets are red because blue light is scattered away."}
    citations = [{"n": 1, "passage_id": "p1", "quote": "Sunsets are red"}]
    rollout = Rollout(
        example, answer="Sunsets are red [1].", citations=citations, searches=[Search("sky", passages)]
    )
    llm = ScriptedLLM(by_schema={"RubricVerdict": verdict})
    score = await RubricJudgeMetric(llm).score(rollout)
    lookup = {pid: Passage(pid, text) for pid, text in passages.items()}.get
    reported = await longform_scorer(llm, DEFAULT_JUDGE_PROMPT, OverlapSupport(), lookup)(
        example, "research", ArmRun(answer=rollout.answer, citations=citations)
    )
    assert score.value == pytest.approx(reported["score"]) and score.parts["rubric"] == pytest.approx(1 / 3)
    assert score.parts["citations"] == 1.0  # the rollout's own passages back the quote
    assert "Rayleigh scattering" in score.feedback and "mentions sunsets" not in score.feedback
    assert "[most important] Rayleigh scattering" in llm.calls[0].prompt and llm.calls[0].agent == "judge"


async def test_the_judge_metric_falls_back_on_the_gold_answers() -> None:
    llm = ScriptedLLM(by_schema={"ReferenceVerdict": {"reason": "Wrong city.", "coverage": 0, "expertise": 2}})
    score = await RubricJudgeMetric(llm).score(
        Rollout(QAExample("q", "Capital of France?", ["Paris"]), answer="Lyon")
    )
    assert "REFERENCE ANSWER (written by an expert):\nParis" in llm.calls[0].prompt
    assert score.parts["rubric"] == 0.0 and "Wrong city." in score.feedback


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        build_metric("bleu")


def multihop_rollout(queries: list[str], retrieved: dict[str, str]) -> Rollout:
    example = QAExample(
        "m1",
        "When did the state where Pocahontas Mounds is located join the United States?",
        ["1817"],
        gold_passage_ids=["g1", "g2"],
        meta={
            "question_decomposition": [
                {"question": "Which state is Pocahontas Mounds in?", "answer": "Mississippi"},
                {"question": "When did #1 join the United States?", "answer": "1817"},
            ]
        },
    )
    searches = [Search(q, retrieved if i == 0 else {}) for i, q in enumerate(queries)]
    return Rollout(example, answer="1969", searches=searches)


async def test_feedback_names_the_gold_passages_the_searches_missed_and_the_hop_structure() -> None:
    titles = {"g1": "Pocahontas Mounds", "g2": "History of Mississippi"}
    one_search = await build_metric("f1", titles=titles).score(
        multihop_rollout(["When did the state of Pocahontas Mounds join?"], {"g1": "Pocahontas Mounds ... 1969"})
    )
    assert "never found: 'History of Mississippi'; found: 'Pocahontas Mounds'" in one_search.feedback
    assert "search again about that name" in one_search.feedback  # the missing hop, said as a fix
    assert "2 steps: 1) Which state is Pocahontas Mounds in? 2) When did #1" in one_search.feedback
    assert "Mississippi'" not in one_search.feedback.split("steps:")[1].split("(#1")[0]  # hop answers hidden
    two_searches = await AnswerMetric("f1", titles).score(
        multihop_rollout(["Which state is Pocahontas Mounds in?", "When did it join?"], {"g1": "..."})
    )
    assert "never found: 'History of Mississippi'" in two_searches.feedback
    assert "search again about that name" not in two_searches.feedback  # it did search again


async def test_feedback_without_titles_counts_gold_passages_and_right_answers_get_no_hop_lines() -> None:
    untitled = await AnswerMetric("f1").score(multihop_rollout(["q"], {}))
    assert "The needed facts are in 2 passages; the searches found 0 of them." in untitled.feedback
    right = await AnswerMetric("f1").score(Rollout(multihop_rollout(["q"], {}).example, answer="1817"))
    assert right.value == 1.0 and "steps" not in right.feedback and "never found" not in right.feedback
