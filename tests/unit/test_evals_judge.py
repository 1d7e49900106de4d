"""ScholarQA-CS weighting arithmetic and the judge's two modes, with a scripted model."""

import pytest

from sleuth.evals.citations import OverlapSupport
from sleuth.evals.datasets import QAExample, RubricItem
from sleuth.evals.judge import (
    WEIGHTS,
    LongformScores,
    answer_words,
    judge_longform,
    length_score,
    rubric_score,
)
from sleuth.testing import ScriptedLLM


def test_weights_sum_to_one():
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert WEIGHTS == {"rubric": 0.6, "length": 0.05, "expertise": 0.05, "citations": 0.2, "excerpts": 0.1}


@pytest.mark.parametrize(
    ("words", "expected"), [(0, 1.0), (300, 1.0), (450, 0.5), (525, 0.25), (600, 0.0), (900, 0.0)]
)
def test_length_full_to_300_zero_at_600(words, expected):
    assert length_score(words) == pytest.approx(expected)


def test_important_items_weigh_twice():
    items = [RubricItem("a", important=True), RubricItem("b", important=False)]
    # (2*1 + 1*0) / 3
    assert rubric_score(items, [1.0, 0.0]) == pytest.approx(2 / 3)
    # (2*0 + 1*1) / 3
    assert rubric_score(items, [0.0, 1.0]) == pytest.approx(1 / 3)
    # (2*0.5 + 1*1 + 2*1) / 5
    items.append(RubricItem("c"))
    assert rubric_score(items, [0.5, 1.0, 1.0]) == pytest.approx(0.8)
    with pytest.raises(ValueError):
        rubric_score(items, [1.0])


def test_total_is_the_weighted_sum():
    s = LongformScores(rubric=0.5, length=1.0, expertise=0.4, citations=0.75, excerpts=0.5)
    # 0.6*0.5 + 0.05*1 + 0.05*0.4 + 0.2*0.75 + 0.1*0.5 = 0.3 + 0.05 + 0.02 + 0.15 + 0.05
    assert s.total == pytest.approx(0.57)
    assert s.as_dict()["score"] == pytest.approx(0.57)


def test_answer_words_ignores_markers():
    assert answer_words("One two [1] three [2, 3].") == 3


PASSAGES = {"p1": "Transformers use self-attention over all tokens of the input sequence."}
ANSWER = "Transformers use self-attention over all input tokens [1]."
CITES = [{"n": 1, "passage_id": "p1", "quote": "self-attention over all tokens"}]


async def test_rubric_mode():
    llm = ScriptedLLM(
        by_schema={
            "RubricVerdict": {"items": [{"index": 1, "score": 2}, {"index": 2, "score": 1}], "expertise": 6}
        }
    )
    example = QAExample(
        "x",
        "How do transformers work?",
        rubric=[RubricItem("mentions self-attention"), RubricItem("mentions positions", False)],
    )
    out = await judge_longform(llm, "grade", example, ANSWER, CITES, PASSAGES, OverlapSupport())
    # rubric (2*1 + 1*0.5)/3; length 1; expertise 0.6; citations (1+1)/2; excerpts 1
    rubric = 2.5 / 3
    assert out["judge_mode"] == "rubric" and out["rubric"] == pytest.approx(rubric)
    assert out["score"] == pytest.approx(0.6 * rubric + 0.05 + 0.05 * 0.6 + 0.2 + 0.1)
    assert "mentions positions" in llm.calls[0].prompt and llm.calls[0].agent == "judge"


async def test_reference_mode_and_missing_reference():
    llm = ScriptedLLM(by_schema={"ReferenceVerdict": {"reason": "ok", "coverage": 5, "expertise": 10}})
    example = QAExample("x", "q", reference_answer="Transformers rely on attention.")
    out = await judge_longform(llm, "grade", example, "No citations here at all.", [], {}, OverlapSupport())
    # coverage 0.5, length 1, expertise 1, citations 0 (none), excerpts 0
    assert out["judge_mode"] == "reference"
    assert out["score"] == pytest.approx(0.6 * 0.5 + 0.05 + 0.05)
    assert "Transformers rely on attention." in llm.calls[0].prompt
    with pytest.raises(ValueError, match="neither a rubric nor a reference"):
        await judge_longform(llm, "grade", QAExample("y", "q"), "a", [], {}, OverlapSupport())
