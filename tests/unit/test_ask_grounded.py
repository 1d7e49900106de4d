"""The grounded ask strategy with a scripted model: code-driven hops, whole passages, answers checked in code."""

from __future__ import annotations

import json

import pytest

from sleuth.agents.ask.grounded import run_grounded
from sleuth.agents.ask.grounding import (
    compared_names,
    follow_up_queries,
    grounding_passage,
    supporting_quotes,
    trim_answer,
)
from sleuth.agents.ask.short_answer import ask_short
from sleuth.agents.deps import AgentDeps
from sleuth.agents.events import EventLog
from sleuth.agents.results import NO_ANSWER
from sleuth.config import Settings
from sleuth.feedback.base import PatchView
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Filter, Hit, Passage
from sleuth.testing import Call, ScriptedLLM, StaticRetriever, hostile_passages

JAWS = Passage("p-jaws", "Jaws is a 1975 film directed by Steven Spielberg. It was a box-office hit.", "Jaws")
SPIELBERG = Passage(
    "p-sp", "Steven Spielberg was born in Cincinnati, Ohio. He grew up in Arizona.", "Steven Spielberg"
)
EXIES = Passage("p-ex", "The Exies are an American rock band formed in 1997 in Los Angeles.", "The Exies")
DIABLO = Passage("p-cd", "Circus Diablo is a rock supergroup formed in 2006.", "Circus Diablo")
OTHER = Passage("p-ot", "Lake Tahoe is a freshwater lake in the Sierra Nevada.", "Lake Tahoe")


class KeywordRetriever:
    """Returns the passages that share a title word with the query (so each hop finds what it names)."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self.queries: list[str] = []

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        self.queries.append(query)
        words = set(query.lower().replace("?", " ").split())
        found = [p for p in self.passages if words & set(p.title.lower().split()) - {"the"}]
        return [Hit(p, 1.0) for p in found[:k]]


def make_deps(llm: ScriptedLLM, passages: list[Passage], patches: list[PatchView] | None = None) -> AgentDeps:
    class Patches:
        def relevant(self, query: str, *, collection: str | None = None, tenant: str | None = None):
            return list(patches or [])

    return AgentDeps(
        llm=llm,
        retriever=KeywordRetriever(passages),
        prompts=load_prompt_set(),
        settings=Settings(),
        patches=Patches(),
        events=EventLog(),
    )


def reading(answer: str, next_search: str = "") -> dict[str, str]:
    return {"answer": answer, "next_search": next_search}


async def test_first_search_is_the_question_and_the_missing_fact_is_searched_next() -> None:
    llm = ScriptedLLM(by_agent={"ask": [reading("", "Where was Steven Spielberg born?"), reading("Cincinnati")]})
    deps = make_deps(llm, [JAWS, SPIELBERG, OTHER])
    result = await run_grounded("Where was the man who directed Jaws born?", deps)

    assert result.answer == "Cincinnati"
    assert result.strategy == "grounded" and result.finish == "answer"
    queries = [s.query for s in result.search_calls]
    assert queries[:2] == ["Where was the man who directed Jaws born?", "Where was Steven Spielberg born?"]
    assert [c.passage_id for c in result.citations] == ["p-sp"]
    assert "Cincinnati" in result.citations[0].quote
    # The model reads whole passages, the first hop's ahead of the second's (the prompt prefix repeats).
    first, second = (c.prompt for c in llm.calls)
    assert JAWS.text in first and SPIELBERG.text not in first
    assert second.index(JAWS.text) < second.index(SPIELBERG.text)
    # The first reading may ask for a search; the last is asked only for the answer.
    assert [c.schema_name for c in llm.calls] == ["Reading", "FinalReading"]
    assert "next_search" in first.splitlines()[-1] and "next_search" not in second.splitlines()[-1]


SEQUELS = [
    Passage(f"p-j{n}", f"Jaws {n} is a sequel shot on Martha's Vineyard.", f"Jaws {n}") for n in (2, 3, 4, 5)
]


@pytest.mark.parametrize(("size", "shown"), [(3, ["p-jaws", "p-sp", "p-j2"]), (0, None)])
async def test_a_later_reading_sees_the_draft_passage_and_the_follow_ups_not_every_distractor(
    size: int, shown: list[str] | None
) -> None:
    llm = ScriptedLLM(
        by_agent={"ask": [reading("1975", "Where was Steven Spielberg born?"), reading("Cincinnati")]}
    )  # "1975" is no answer to "where": not settled, so the follow-ups run
    passages = [JAWS, *SEQUELS, SPIELBERG]
    deps = make_deps(llm, passages)
    deps.settings = Settings(ask_focus_size=size)
    result = await run_grounded("Where was the man who directed Jaws born?", deps)

    assert result.answer == "Cincinnati"
    first, second = (c.prompt for c in llm.calls)
    # The first reading sees the question's top 3 (`ask_read_size`): no hit is named by a leading one.
    assert [p.id for p in passages if p.text in first] == ["p-jaws", "p-j2", "p-j3"]
    shown = shown or [p.id for p in passages]  # size 0: the whole pool
    assert [p.id for p in passages if p.text in second] == [p.id for p in passages if p.id in shown]
    started = [e for e in result.events if e.type == "node_started" and e.node == "reader"]
    assert [e.data["passage_ids"] for e in started][1] == [p.id for p in passages if p.id in shown]


async def test_a_guess_found_in_no_passage_is_rejected_for_the_grounded_candidate() -> None:
    llm = ScriptedLLM(
        by_agent={"ask": [reading("Paris", "Where was Steven Spielberg born?"), reading("Cincinnati")]}
    )
    deps = make_deps(llm, [JAWS, SPIELBERG])
    result = await run_grounded("Where was the man who directed Jaws born?", deps)

    assert result.answer == "Cincinnati"  # "Paris" occurs in no passage: a guess, so the next hop ran
    assert any(e.type == "warning" and "guess" in str(e.data.get("message")) for e in result.events)


async def test_every_candidate_ungrounded_is_refused_with_no_citation() -> None:
    llm = ScriptedLLM(by_agent={"ask": [reading("42", "What is the answer?"), reading("probably 42")]})
    result = await run_grounded("Where was the man who directed Jaws born?", make_deps(llm, [JAWS, SPIELBERG]))

    assert result.answer == NO_ANSWER and result.finish == "refused" and result.citations == []


async def test_a_comparison_searches_each_side_before_the_second_reading() -> None:
    llm = ScriptedLLM(by_agent={"ask": [reading("The Exies"), reading("The Exies")]})
    deps = make_deps(llm, [EXIES, DIABLO])
    deps.retriever = KeywordRetriever([EXIES, DIABLO])
    only_exies = KeywordRetriever([EXIES, DIABLO])
    only_exies.search = lambda q, k, where=None: (  # type: ignore[method-assign]
        [Hit(EXIES, 1.0)] if "Diablo" not in q or "Exies" in q else [Hit(DIABLO, 1.0)]
    )
    deps.retriever = only_exies
    result = await run_grounded("Which band was formed first, The Exies or Circus Diablo?", deps)

    queries = [s.query for s in result.search_calls]
    assert "Circus Diablo" in queries and "The Exies" in queries
    assert DIABLO.text in llm.calls[-1].prompt  # the second reading saw both sides
    assert result.answer == "The Exies"


async def test_yes_no_is_accepted_only_for_a_yes_no_question() -> None:
    llm = ScriptedLLM(by_agent={"ask": reading("yes")})
    yes = await run_grounded("Are The Exies and Circus Diablo both rock bands?", make_deps(llm, [EXIES, DIABLO]))
    assert yes.answer == "yes" and yes.citations

    llm = ScriptedLLM(by_agent={"ask": reading("yes")})
    odd = await run_grounded("Who formed The Exies?", make_deps(llm, [EXIES, DIABLO]))
    assert odd.finish == "refused"


async def test_a_correction_is_shown_as_quoted_data_and_grounds_its_answer() -> None:
    patch = PatchView(
        id="p1",
        query="Who founded Nordvik Analytics?",
        answer="Ingrid Solberg",
        evidence="Nordvik Analytics is a data company founded in 2011 by Ingrid Solberg.",
        score=0.9,
    )
    llm = ScriptedLLM(by_agent={"ask": reading("Ingrid Solberg")})
    result = await run_grounded("Who is the founder of Nordvik Analytics?", make_deps(llm, [OTHER], [patch]))

    assert result.answer == "Ingrid Solberg" and result.patches_used == ["p1"]
    assert result.citations[0].passage_id == "patch:p1"
    assert "BEGIN USER CORRECTIONS" in llm.calls[0].prompt
    assert json.dumps(patch.evidence) in llm.calls[0].prompt


async def test_invalid_json_twice_counts_as_nothing_found_not_a_crash() -> None:
    llm = ScriptedLLM(by_agent={"ask": "not json"})
    result = await run_grounded("Where was the man who directed Jaws born?", make_deps(llm, [JAWS]))
    assert result.finish == "refused" and result.searches >= 1


async def test_stops_reading_when_no_search_brings_a_new_passage() -> None:
    calls: list[Call] = []

    def reply(call: Call) -> dict[str, str]:
        calls.append(call)
        return reading("", "Where is Jaws?")

    llm = ScriptedLLM(fn=reply)
    deps = make_deps(llm, [JAWS])
    deps.settings = Settings(ask_max_reads=4)
    await run_grounded("Who directed Jaws?", deps)
    assert len(calls) == 1  # every follow-up found only the passage already read


async def test_ask_short_dispatches_and_refuses_a_variant_for_grounded() -> None:
    llm = ScriptedLLM(by_agent={"ask": reading("Cincinnati")})
    deps = make_deps(llm, [SPIELBERG])
    assert (await ask_short("Where was Steven Spielberg born?", deps)).strategy == "grounded"
    with pytest.raises(ValueError, match="asp strategy"):
        await ask_short("Where was Steven Spielberg born?", deps, strategy="grounded", variant="closed")
    with pytest.raises(ValueError, match="unknown ask strategy"):
        await ask_short("q?", deps, strategy="magic")  # type: ignore[arg-type]


def test_grounding_needs_the_answer_words_in_one_passage() -> None:
    assert grounding_passage("Cincinnati, Ohio", [JAWS, SPIELBERG]) == SPIELBERG
    assert grounding_passage("Cincinnati Arizona Jaws", [JAWS, SPIELBERG]) is None
    assert grounding_passage("Cincinnati Arizona Jaws", [JAWS, SPIELBERG], slack=1) == SPIELBERG
    assert grounding_passage("Cincinnati Arizona Jaws Paris", [JAWS, SPIELBERG], slack=1) is None
    assert grounding_passage("directors", [JAWS]) == JAWS  # stems: "directed" meets "directors"
    assert grounding_passage("yes", [JAWS]) is None
    assert grounding_passage("the", [JAWS]) is None


def test_compared_names_and_follow_ups() -> None:
    assert compared_names("Who is older, Sid Haig or Vic Darchinyan?") == ["Sid Haig", "Vic Darchinyan"]
    assert compared_names("Are Christopher Nolan and Sathish Kalathil both film directors?") == [
        "Christopher Nolan",
        "Sathish Kalathil",
    ]
    assert compared_names("Where was the director of Jaws born?") == []
    asked = ["Where was the director of Jaws born?"]
    assert follow_up_queries(asked[0], "Steven Spielberg", "where was the director of jaws born", asked) == [
        "Steven Spielberg Where was the director of Jaws born?"
    ]
    assert follow_up_queries(asked[0], "yes", "", asked) == []


def test_an_answer_must_have_the_shape_the_question_asks_for() -> None:
    from sleuth.agents.ask.grounding import fits_question

    assert not fits_question("Which company makes the Model T?", "1908")  # a year for a "which company"
    assert fits_question("In what year was the Model T launched?", "1908")
    # Only the asking sentence says what is asked: a "year" in the context sentence asks for no number.
    assert not fits_question("A and B were founded within a year of each other. Which was the first?", "1959")
    assert fits_question("How many wheels does a tricycle have?", "3")
    # A name the question already gives is no answer, unless the question compares it with another.
    assert not fits_question("Which film by Steven Spielberg won in 1994?", "Steven Spielberg")
    assert fits_question("Who is older, Sid Haig or Vic Darchinyan?", "Sid Haig")
    # "first" alone compares nothing: the question's own name is no answer to it.
    assert not fits_question("Who was the first president of Damerjog's country?", "Damerjog")
    assert fits_question("Pizza Hut and Little Caesars opened in the 1950s: which was first?", "Pizza Hut")
    assert fits_question("Are The Exies and Circus Diablo both bands?", "yes")
    assert not fits_question("Who founded The Exies?", "no")


async def test_a_later_reading_of_the_wrong_shape_loses_to_an_earlier_one_of_the_right_shape() -> None:
    llm = ScriptedLLM(by_agent={"ask": [reading("The Exies"), reading("1997")]})
    deps = make_deps(llm, [EXIES, DIABLO])
    deps.retriever.search = lambda q, k, where=None: (  # type: ignore[method-assign]
        [Hit(EXIES, 1.0), Hit(DIABLO, 0.5)] if q.startswith("The Exies") else [Hit(EXIES, 1.0)]
    )
    result = await run_grounded("Which band was formed in Los Angeles?", deps)
    # A name: searched again with the question and read again; "1997" is no answer to "which band".
    assert len(llm.calls) == 2 and result.answer == "The Exies"


async def test_a_settled_first_answer_stands_without_another_hop() -> None:
    llm = ScriptedLLM(by_agent={"ask": [reading("1975", "Who directed Jaws?"), reading("1976")]})
    deps = make_deps(llm, [JAWS, SPIELBERG])
    deps.retriever.search = lambda q, k, where=None: [Hit(JAWS, 1.0), Hit(SPIELBERG, 0.5)]  # type: ignore[method-assign]
    result = await run_grounded("In what year was Jaws released?", deps)

    # Grounded, of the asked shape (a year), no name to hop from, and read beside the passage it names
    # (Jaws names Steven Spielberg): the model's "missing fact" (it names one after nearly every reading)
    # buys no second, noisier reading.
    assert result.answer == "1975" and len(llm.calls) == 1 and len(result.search_calls) == 1


async def test_a_name_is_searched_with_the_question_and_a_hop_beyond_it_is_taken() -> None:
    llm = ScriptedLLM(
        by_agent={"ask": [reading("Steven Spielberg", "Where was Steven Spielberg born?"), reading("Cincinnati")]}
    )
    result = await run_grounded("Where was the man who directed Jaws born?", make_deps(llm, [JAWS, SPIELBERG]))

    # The first answer is a name: the first hop's entity as often as the final answer, so code searches it
    # together with the question; the second reading's answer sits in a passage that names it: a hop beyond.
    queries = [s.query for s in result.search_calls]
    assert queries == [
        "Where was the man who directed Jaws born?",
        "Steven Spielberg Where was the man who directed Jaws born?",
    ]
    assert len(llm.calls) == 2 and result.answer == "Cincinnati"
    assert [c.passage_id for c in result.citations] == ["p-sp"]


async def test_a_second_answer_no_passage_links_to_the_first_name_is_not_taken() -> None:
    llm = ScriptedLLM(by_agent={"ask": [reading("Steven Spielberg"), reading("Sierra Nevada")]})
    deps = make_deps(llm, [JAWS, SPIELBERG, OTHER])
    deps.retriever.search = lambda q, k, where=None: (  # type: ignore[method-assign]
        [Hit(JAWS, 1.0)] if q == "Who directed the film Jaws?" else [Hit(OTHER, 1.0), Hit(SPIELBERG, 0.5)]
    )
    result = await run_grounded("Who directed the film Jaws?", deps)

    # "Sierra Nevada" is grounded (the Lake Tahoe passage) but no passage ties it to Steven Spielberg:
    # a drift away from the chain, not a hop along it.
    assert len(llm.calls) == 2 and result.answer == "Steven Spielberg"
    assert any("not linked" in str(e.data.get("message", "")) for e in result.events)


async def test_an_evidence_free_correction_cannot_ground_its_own_answer() -> None:
    patch = PatchView(
        id="p2", query="Who directed Jaws?", answer="Orson Welles", evidence="", score=0.9, flags=("no-evidence",)
    )
    llm = ScriptedLLM(by_agent={"ask": [reading("Orson Welles"), reading("Orson Welles")]})
    result = await run_grounded("Who directed Jaws?", make_deps(llm, [JAWS], [patch]))
    assert result.finish == "refused"  # "Orson Welles" is in no passage; the correction has no evidence


async def test_a_comparison_by_time_is_decided_by_the_years_in_the_quotes() -> None:
    # The model names the wrong band; the quotes say 1997 and 2006, so code answers.
    llm = ScriptedLLM(by_agent={"ask": [reading("Circus Diablo"), reading("Circus Diablo")]})
    deps = make_deps(llm, [EXIES, DIABLO])
    result = await run_grounded("Which band was formed first, The Exies or Circus Diablo?", deps)
    assert result.answer == "The Exies"
    # Each side is a fact of its own, searched by its name before the first reading.
    assert [s.query for s in result.search_calls][1:3] == ["The Exies", "Circus Diablo"]
    assert {c.passage_id for c in result.citations} == {"p-ex", "p-cd"}
    assert any("1997" in c.quote for c in result.citations) and any("2006" in c.quote for c in result.citations)


def test_decide_by_year_only_when_the_question_compares_two_names_by_time() -> None:
    from sleuth.agents.ask.grounding import decide_by_year

    quotes = [(EXIES, EXIES.text), (DIABLO, DIABLO.text)]
    assert decide_by_year("Which band was formed first, The Exies or Circus Diablo?", quotes) == "The Exies"
    assert decide_by_year("Which band was formed later, The Exies or Circus Diablo?", quotes) == "Circus Diablo"
    assert decide_by_year("Which band is louder, The Exies or Circus Diablo?", quotes) is None
    assert decide_by_year("Which band was formed first, The Exies or Circus Diablo?", quotes[:1]) is None
    same = [(EXIES, "formed in 1997"), (DIABLO, "formed in 1997")]
    assert decide_by_year("Which band was formed first, The Exies or Circus Diablo?", same) is None


def test_compared_names_without_a_comma_or_in_a_statement() -> None:
    assert compared_names("Which band was formed first The Exies or Circus Diablo ?") == [
        "The Exies",
        "Circus Diablo",
    ]
    assert compared_names("Which came first the forming of The Dandy Warhols or the birth of Robert Young?") == [
        "The Dandy Warhols",
        "Robert Young",
    ]
    assert compared_names("Between Iain Banks and Irwin Shaw, which writer had a more diverse career?") == [
        "Iain Banks",
        "Irwin Shaw",
    ]
    stated = "Little Caesars and Pizza Hut were founded in the 1950s. Which was the first to serve pizza?"
    assert compared_names(stated) == ["Little Caesars", "Pizza Hut"]
    # No names to compare: a count, a statement whose asking sentence compares nothing, a plain bridge.
    assert compared_names("Who wrote more than 20 novels or plays?") == []
    assert compared_names("Ed Roland and Adam Duritz were singers. Which bands did they front?") == []
    assert compared_names("Which city is the director of Jaws from?") == []


def test_a_comparison_by_time_reads_each_side_s_own_passage_and_its_dated_sentence() -> None:
    from sleuth.agents.ask.grounding import decide_by_year, side_quotes

    guitar = Passage(
        "p-gw", "Guitar World is a monthly music magazine, published since July 1980.", "Guitar World"
    )
    students = Passage(
        "p-sns", "Science News for Students is an online magazine started in 2003.", "Science News for Students"
    )
    science = Passage(
        "p-sn",
        "Science News is an American bi-weekly magazine about science. "
        '"Science News" has been published since 1922 by Society for Science & the Public.',
        "Science News",
    )
    question = "Which magazine was published first, Guitar World or Science News?"
    quotes = side_quotes(question, [guitar, students, science])
    assert [p.id for p, _ in quotes] == ["p-gw", "p-sn"]  # not the higher-ranked "... for Students"
    assert "1922" in quotes[1][1]  # the dated sentence, not the opening description
    assert decide_by_year(question, quotes) == "Science News"


def test_a_yes_no_question_may_open_with_a_statement() -> None:
    from sleuth.agents.ask.grounding import asks_yes_no

    assert asks_yes_no("Armando Iannucci has an OBE. Does the director Puneet Sira have one?")
    assert asks_yes_no("Are The Exies and Circus Diablo both bands?")
    assert not asks_yes_no("Is it true? Who founded The Exies?")
    assert not asks_yes_no("Who founded The Exies?")


async def test_hostile_passages_cannot_forge_prompt_structure_or_the_answer() -> None:
    hostile = hostile_passages()
    llm = ScriptedLLM(by_agent={"ask": [reading("rocks"), reading("rocks")]})
    deps = make_deps(llm, [])
    deps.retriever = StaticRetriever(hostile)  # type: ignore[assignment]  # every query finds them all
    deps.settings = Settings(ask_first_k=len(hostile), ask_pool_size=len(hostile))
    result = await run_grounded("What does the otter use as tools?", deps)

    assert result.answer == "rocks" and [c.passage_id for c in result.citations] == ["h-inject"]
    prompt = llm.calls[0].prompt
    body = prompt.split("Passages:\n", 1)[1]
    # One line of title and one of text per passage: nothing a passage says starts a line of its own.
    assert all(
        line.startswith("[") or not line.startswith(("EVIDENCE", "QUESTION", "User", "END"))
        for line in body.splitlines()
    )
    assert "END USER CORRECTIONS" not in prompt and "<answer>" not in prompt and "</information>" not in prompt
    assert "\x1b" not in prompt and "\u202e" not in prompt
    assert len(prompt) < 12_000  # the huge record is cut
    assert prompt.rstrip().endswith(deps.prompts["ask_read_next"].strip())  # the instruction is still last


@pytest.mark.parametrize(
    ("question", "answer", "trimmed"),
    [
        ("Jagdish Mali is father to which Bollywood actress?", "Bollywood actress Antara Mali", "Antara Mali"),
        ("What show does Grant Hill host?", "the show NBA Inside Stuff", "NBA Inside Stuff"),
        ("Which actor played Brody?", "actor Roy Scheider", "Roy Scheider"),
        # Kept whole: no name would be left, the type is not named, or the answer is the type itself.
        ("Which university in Oklahoma is oldest?", "University of Oklahoma", "University of Oklahoma"),
        ("Which city has the clock?", "the city of Prague", "the city of Prague"),
        ("What is the name of the band?", "band Circus Diablo", "band Circus Diablo"),
        ("Which band formed first, The Exies or Circus Diablo?", "The Exies", "The Exies"),
        ("Which company did he found?", "company", "company"),
    ],
)
def test_the_answer_type_the_question_names_is_cut_off_the_answer(
    question: str, answer: str, trimmed: str
) -> None:
    assert trim_answer(question, answer) == trimmed


async def test_the_chosen_answer_is_trimmed_and_still_cited() -> None:
    llm = ScriptedLLM(
        by_agent={"ask": [reading("director Steven Spielberg"), reading("director Steven Spielberg")]}
    )
    result = await run_grounded("Which director made Jaws?", make_deps(llm, [JAWS, SPIELBERG]))
    assert result.answer == "Steven Spielberg"
    assert result.citations and result.citations[0].passage_id == "p-jaws"


def test_a_number_is_grounded_by_its_digits_or_its_word() -> None:
    moons = Passage("p-mars", "Mars has two moons, Phobos and Deimos; it is 4th from the Sun.", "Mars")
    assert grounding_passage("2", [moons]) is moons
    assert grounding_passage("two", [moons]) is moons
    assert grounding_passage("4", [moons]) is moons
    assert grounding_passage("3", [moons]) is None
    assert grounding_passage("twelve", [moons]) is None


def test_a_number_answer_is_quoted_from_the_sentence_that_says_it_in_words() -> None:
    moons = Passage("p-mars", "Mars is the fourth planet. It has two moons, Phobos and Deimos.", "Mars")
    assert supporting_quotes("2", [moons]) == [(moons, "It has two moons, Phobos and Deimos.")]
    assert supporting_quotes("3", [moons]) == []


def test_a_number_or_date_is_no_name_to_hop_from() -> None:
    from sleuth.agents.ask.grounding import is_number

    assert all(
        is_number(a) for a in ["1997", "1350-1600 CE", "May 19, 2008", "Dec. 10, 1817", "the 1990s", "12th"]
    )
    assert not any(is_number(a) for a in ["Apollo 11", "Tim Burton", "Route 66 Motel", "", "no"])
