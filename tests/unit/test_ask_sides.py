"""A yes/no comparison read one side at a time: the split, the combination, and the grounded run using it."""

from __future__ import annotations

import pytest

from sleuth.agents.ask.grounded import run_grounded
from sleuth.agents.ask.sides import split_sides
from sleuth.agents.deps import AgentDeps
from sleuth.agents.events import EventLog
from sleuth.config import Settings
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Passage
from sleuth.testing import ScriptedLLM, StaticRetriever

NANTONG = Passage("p-nt", "Nantong is a prefecture-level city in southeastern Jiangsu province, China.", "Nantong")
JINGDEZHEN = Passage("p-jd", "Jingdezhen is a prefecture-level city in Jiangxi province, China.", "Jingdezhen")
SAME = "Are Nantong and Jingdezhen situated in the same province?"


class NoPatches:
    def relevant(self, query: str, *, collection: str | None = None, tenant: str | None = None) -> list[object]:
        return []


def make_deps(llm: ScriptedLLM) -> AgentDeps:
    retriever = StaticRetriever([NANTONG, JINGDEZHEN])
    return AgentDeps(
        llm=llm,
        retriever=retriever,
        prompts=load_prompt_set(),
        settings=Settings(),
        patches=NoPatches(),
        events=EventLog(),
    )


def test_split_sides_of_same_and_both_questions_only() -> None:
    same = split_sides(SAME)
    assert same is not None and (same.names, same.kind, same.asked) == (
        ("Nantong", "Jingdezhen"),
        "same",
        "province",
    )
    assert same.question(1) == "Jingdezhen: which province?"
    both = split_sides("Are Frozen and Escape from the Dark both animated features?")
    assert both is not None and both.question(1) == "Is Escape from the Dark an animated feature?"
    assert split_sides("Are King Vidor and Géza von Cziffra both American?").question(1) == (  # type: ignore[union-attr]
        "Is Géza von Cziffra American?"
    )
    assert split_sides("Which band was formed first, The Exies or Circus Diablo?") is None  # not yes/no
    assert split_sides("Is Nantong in Jiangsu province?") is None  # one name


@pytest.mark.parametrize(
    ("answers", "decided"),
    [(("Jiangsu", "Jiangxi"), "no"), (("Jiangsu", "Jiangsu province"), "yes"), (("Jiangsu", ""), None)],
)
def test_same_compares_the_sides_words_whole(answers: tuple[str, str], decided: str | None) -> None:
    sides = split_sides(SAME)
    assert sides is not None and sides.combine(answers) == decided  # "Jiangsu"/"Jiangxi" share a 5-letter stem


@pytest.mark.parametrize(
    ("answers", "decided"), [(("yes", "yes"), "yes"), (("Yes.", "no"), "no"), (("yes", "Disney"), None)]
)
def test_both_is_yes_only_when_each_side_is(answers: tuple[str, str], decided: str | None) -> None:
    sides = split_sides("Are Medici and Senet both board games?")
    assert sides is not None and sides.combine(answers) == decided


async def test_the_run_reads_each_side_alone_and_code_says_no() -> None:
    # Shown both passages, a small model answers "yes"; asked one side at a time it copies each province.
    llm = ScriptedLLM(
        by_agent={"ask": [{"answer": "Jiangsu"}, {"answer": "Jiangxi"}, {"answer": "yes", "next_search": ""}]}
    )
    result = await run_grounded(SAME, make_deps(llm))

    assert result.answer == "no" and result.turns == 2
    first, second = (c.prompt for c in llm.calls)
    assert NANTONG.text in first and JINGDEZHEN.text not in first
    assert "Question: Jingdezhen: which province?" in second and NANTONG.text not in second
    assert {c.passage_id for c in result.citations} == {"p-nt", "p-jd"}


async def test_a_side_answer_in_no_passage_falls_back_to_reading_the_whole_question() -> None:
    llm = ScriptedLLM(by_agent={"ask": [{"answer": "Guangdong"}, {"answer": "no", "next_search": ""}]})
    result = await run_grounded(SAME, make_deps(llm))

    assert result.answer == "no" and result.turns == 2  # one side reading, then the usual reading
    assert "Question: " + SAME in llm.calls[-1].prompt
