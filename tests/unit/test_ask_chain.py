"""Composed questions answered inside out: the innermost description found in code, each link read on its own."""

from __future__ import annotations

import pytest
from tests.unit.test_ask_grounded import JAWS, OTHER, SPIELBERG, make_deps, reading

from sleuth.agents.ask.chain import innermost, substitute
from sleuth.agents.ask.grounded import run_grounded
from sleuth.feedback.base import PatchView
from sleuth.retrieval.base import Hit, Passage
from sleuth.testing import ScriptedLLM


@pytest.mark.parametrize(
    ("question", "inner", "name"),
    [
        (
            "What is the area code for Cincinnati in the state where the Atwater Congregational Church is?",
            "What is the state where the Atwater Congregational Church is?",
            "the Atwater Congregational Church",
        ),
        ("Who was the first president of Damerjog's country?", "What is Damerjog's country?", "Damerjog"),
        (
            "Who is the spouse of the director of Jump for Glory?",
            "Who is the director of Jump for Glory?",
            "Jump for Glory",
        ),
        (
            "What currency predated the Euro in the country Signmark is from?",
            "What is the country Signmark is from?",
            "Signmark",
        ),
        (
            "When did the country containing Nugegoda leave the British Empire?",
            "What is the country containing Nugegoda?",
            "Nugegoda",
        ),
        (
            "What kind of plane dropped the bomb on Akinoshu Kenji's birthplace?",
            "What is Akinoshu Kenji's birthplace?",
            "Akinoshu Kenji",
        ),
        # Nested: the innermost first.
        (
            "When did the country where the city where Steven Blankaart was born is located refuse to surrender Namibia?",
            "What is the city where Steven Blankaart was born?",
            "Steven Blankaart",
        ),
        (
            "In what county is the city where Harris W. Fawell was born?",
            "What is the city where Harris W. Fawell was born?",
            "Harris W. Fawell",
        ),
    ],
)
def test_the_innermost_description_of_a_named_thing_is_the_inner_question(
    question: str, inner: str, name: str
) -> None:
    found = innermost(question)

    assert found is not None and found.question() == inner and found.name == name


@pytest.mark.parametrize(
    "question",
    [
        "What is the continental limit of the continent with the lowest average temperature?",  # names nothing
        "Whose wife was the daughter of the English nobleman Edward Stanley?",  # a nationality, no name
        "The director Armando Iannucci has an OBE. Does the director Puneet Sira also have one?",  # apposition
        "When did the village of Clonbrook get its church?",  # "the village of X" is X itself
        "What is Damerjog's country?",  # the description is the whole question: nothing to chain
        "What is the capital of France? (variant 3)",  # asks for the description itself: one hop
        "Which band was formed first, The Exies or Circus Diablo?",
    ],
)
def test_no_chain_where_no_relation_to_a_named_thing_is_described(question: str) -> None:
    assert innermost(question) is None


def test_each_answer_takes_its_description_s_place_until_none_is_left() -> None:
    question = "When did the country where the city where Steven Blankaart was born is located refuse to surrender Namibia?"
    first = innermost(question)
    assert first is not None
    question = substitute(question, first, "Amsterdam")
    second = innermost(question)
    assert second is not None and second.question() == "What is the country where Amsterdam is located?"
    assert (
        substitute(question, second, "the Netherlands") == "When did the Netherlands refuse to surrender Namibia?"
    )
    assert innermost("When did the Netherlands refuse to surrender Namibia?") is None


async def test_a_composed_question_is_read_inside_out_and_each_step_searched() -> None:
    llm = ScriptedLLM(by_agent={"ask": [{"answer": "Steven Spielberg"}, {"answer": "Cincinnati"}]})
    deps = make_deps(llm, [JAWS, SPIELBERG, OTHER])
    result = await run_grounded("Where was the director of Jaws born?", deps)

    assert result.answer == "Cincinnati" and result.finish == "answer"
    assert [s.query for s in result.search_calls] == [
        "Where was the director of Jaws born?",  # the question itself first, always
        "Jaws",  # the named thing alone: its own passage holds the fact
        "Who is the director of Jaws?",
        "Where was Steven Spielberg born?",
    ]
    inner, last = (c.prompt for c in llm.calls)
    assert inner.splitlines()[-3] == "Question: Who is the director of Jaws?" and JAWS.text in inner
    assert "Question: Where was Steven Spielberg born?" in last and SPIELBERG.text in last
    assert [c.schema_name for c in llm.calls] == ["FinalReading", "FinalReading"]
    assert [c.passage_id for c in result.citations] == ["p-sp"] and result.turns == 2


@pytest.mark.parametrize(
    ("inner_answer", "why"),
    [("Paris", "found in no passage shown for it"), ("Jaws", "the name it was asked about"), ("1975", "a year")],
)
async def test_an_unusable_link_falls_back_to_reading_the_whole_question(inner_answer: str, why: str) -> None:
    llm = ScriptedLLM(
        by_agent={"ask": [{"answer": inner_answer}, reading("Steven Spielberg"), reading("Cincinnati")]}
    )
    result = await run_grounded("Where was the director of Jaws born?", make_deps(llm, [JAWS, SPIELBERG, OTHER]))

    assert result.answer == "Cincinnati", why
    assert [c.schema_name for c in llm.calls][:2] == ["FinalReading", "Reading"]  # the whole question read next
    assert any(e.type == "warning" and "inner question" in str(e.data.get("message")) for e in result.events)


async def test_a_last_answer_that_is_a_link_of_the_chain_is_not_taken() -> None:
    # "Steven Spielberg" again, to "where was he born": the chain went nowhere, so the question is read whole.
    llm = ScriptedLLM(
        by_agent={"ask": [{"answer": "Steven Spielberg"}, {"answer": "Steven Spielberg"}, reading("Cincinnati")]}
    )
    deps = make_deps(llm, [JAWS, SPIELBERG, OTHER])
    result = await run_grounded("Where was the director of Jaws born?", deps)

    chain = [e for e in result.events if e.type == "node_finished" and e.node == "chain"]
    assert chain and chain[0].data["accepted"] is False
    assert result.answer == "Cincinnati"


async def test_an_inner_question_is_shown_only_the_passages_titled_by_its_name() -> None:
    llm = ScriptedLLM(by_agent={"ask": [{"answer": "Steven Spielberg"}, {"answer": "Cincinnati"}]})
    deps = make_deps(llm, [JAWS, SPIELBERG, OTHER])
    deps.retriever.search = lambda q, k, where=None: [Hit(p, 1.0) for p in (OTHER, SPIELBERG, JAWS)][:k]  # type: ignore[method-assign]
    await run_grounded("Where was the director of Jaws born?", deps)

    inner = llm.calls[0].prompt
    passages = inner[inner.index("Passages:") : inner.index("Question:")]
    assert JAWS.text in passages and OTHER.text not in passages and SPIELBERG.text not in passages


async def test_with_no_passage_titled_by_the_name_the_inner_question_s_best_hits_are_shown() -> None:
    llm = ScriptedLLM(by_agent={"ask": [{"answer": "Steven Spielberg"}, {"answer": "Cincinnati"}]})
    deps = make_deps(llm, [JAWS, SPIELBERG, OTHER])
    untitled = Passage("p-un", "The shark film was directed by Steven Spielberg in 1975.", "Summer films")
    deps.retriever.search = lambda q, k, where=None: [Hit(p, 1.0) for p in (untitled, OTHER, SPIELBERG)][:k]  # type: ignore[method-assign]
    result = await run_grounded("Where was the director of Jaws born?", deps)

    inner = llm.calls[0].prompt
    passages = inner[inner.index("Passages:") : inner.index("Question:")]
    assert untitled.text in passages and OTHER.text in passages and SPIELBERG.text not in passages
    assert result.answer == "Cincinnati"


async def test_with_a_relevant_correction_the_whole_question_is_read_beside_it() -> None:
    patch = PatchView(
        id="p1",
        query="Where was the director of Jaws born?",
        answer="Cincinnati",
        evidence="Steven Spielberg, who directed Jaws, was born in Cincinnati.",
        score=0.9,
    )
    llm = ScriptedLLM(by_agent={"ask": [reading("Cincinnati")]})
    result = await run_grounded("Where was the director of Jaws born?", make_deps(llm, [JAWS, OTHER], [patch]))

    assert result.answer == "Cincinnati" and llm.calls[0].schema_name == "Reading"
    assert "Who is the director of Jaws?" not in [s.query for s in result.search_calls]


async def test_the_last_reading_shows_only_the_hits_that_name_the_link_when_there_are_any() -> None:
    llm = ScriptedLLM(by_agent={"ask": [{"answer": "Steven Spielberg"}, {"answer": "Cincinnati"}]})
    deps = make_deps(llm, [JAWS, SPIELBERG, OTHER])
    deps.retriever.search = lambda q, k, where=None: (  # type: ignore[method-assign]
        [Hit(OTHER, 1.0), Hit(SPIELBERG, 0.5)] if "Spielberg" in q else [Hit(JAWS, 1.0)]
    )
    result = await run_grounded("Where was the director of Jaws born?", deps)

    last = llm.calls[1].prompt
    assert SPIELBERG.text in last and OTHER.text not in last and result.answer == "Cincinnati"
