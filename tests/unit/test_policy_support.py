"""Citation support as a reader means it: a sentence stays only when its facts (names, numbers, dates,
negation, comparisons) occur in the quote it cites; the passage's title and the reader's claim prove nothing.

Each case is one draft sentence citing one quote. Cases that must pass are copies, partial copies and
re-cased or re-punctuated copies of the quote; cases that must fail add, drop or flip one fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sleuth.agents.research.policy import extractive_draft, locate_quote, render_sentences, verify_draft
from sleuth.agents.research.state import EvidenceItem, PassageRecord
from sleuth.testing import INJECTION, hostile_passages

JAWS = "Jaws is a 1975 film directed by Steven Spielberg."
DIABLO = "Circus Diablo is an American rock band, formed in early 2006."
VENUS = "Venus has no moons."
HANKS = "Tom Hanks is an American actor."


def finalise_answer(*args: Any, **kwargs: Any) -> tuple[str, Any, Any]:
    """`verify_draft` with its kept sentences rendered as the answer's Markdown."""
    kept, citations, dropped = verify_draft(*args, **kwargs)
    return render_sentences(kept), citations, dropped


@dataclass(frozen=True)
class Case:
    sentence: str
    quote: str
    title: str = ""
    text: str = ""
    """The passage text when it holds more than the quote."""


SUPPORTED = {
    "exact copy": Case(JAWS, JAWS),
    "other casing and punctuation": Case("JAWS is a 1975 film, directed by steven spielberg!", JAWS),
    "quoted copy": Case(f"“{JAWS}”", JAWS),
    "words all in the quote": Case("Jaws was directed by Steven Spielberg.", JAWS),
    "a word's stem": Case("Yes, both are directors.", "Nolan is a film director."),
    "numbers with currency": Case(
        "His films grossed over US$5 billion.", "His films have grossed over US$5 billion."
    ),
    "a possessive": Case("Spielberg's film Jaws is from 1975.", JAWS),
    "negation copied": Case(VENUS, VENUS),
    "negation contracted": Case("Venus doesn't have moons.", VENUS),
    "negation of something else in the quote": Case(
        "Nolan is a British director.", "Nolan, who never studied film, is a British director."
    ),
    "comparison in the quote": Case(
        "Mont Blanc is the highest mountain in the Alps.", "Mont Blanc is the highest mountain in the Alps."
    ),
    "the answer sentence": Case("The answer is The Exies.", "The Exies are an American rock band formed in 1997."),
    "yes opening a quote": Case("Yes: Lilu is a wind spirit.", "Lilu is a wind spirit."),
    "no opening a quote": Case("No, Venus has no moons.", VENUS),
    "extractive fallback names its source": Case(f"According to Jaws (film), “{JAWS}”", JAWS, title="Jaws (film)"),
    "a sentence of a longer passage": Case(
        "It was a box-office hit.", "It was a box-office hit.", text=f"{JAWS} It was a box-office hit."
    ),
}

UNSUPPORTED = {
    "an extra name with half the words matching": Case("Circus Diablo was formed in 2006 by Pearl Jam.", DIABLO),
    "an extra lowercase fact": Case("Circus Diablo is an American rock band that disbanded in 2006.", DIABLO),
    "a wrong year": Case("Jaws is a 1976 film directed by Steven Spielberg.", JAWS),
    "a wrong long number": Case("The town has 1234567 people.", "The town has 1234599 people."),
    "a wrong name": Case("Jaws is a 1975 film directed by Steven Soderbergh.", JAWS),
    "a wrong count": Case("Venus has two moons.", VENUS),
    "a negation added": Case("Jaws is not a film directed by Steven Spielberg.", JAWS),
    "a contracted negation added": Case("Steven Spielberg didn't direct Jaws.", JAWS),
    "never added": Case("Nolan never directed a film.", "Nolan directed a film."),
    "a negation dropped": Case("Venus has moons.", VENUS),
    "a superlative": Case("Tom Hanks is the youngest American actor.", HANKS),
    "a comparison between two bands": Case(
        "The Exies were formed earlier than Circus Diablo.", "The Exies are an American rock band formed in 1997."
    ),
    "first": Case("Jaws was the first film directed by Steven Spielberg.", JAWS),
    "a name for a pronoun, the name only in the title": Case(
        "Nolan's films grossed over US$5 billion.",
        "His films have grossed over US$5 billion.",
        title="Christopher Nolan",
    ),
    "a name only in the title": Case(
        "Tom Hanks was born in Concord.", "He was born in Concord.", title="Tom Hanks"
    ),
    "the subject only in the title": Case(
        "Lilu is a demon.", "It is a masculine Semitic name for a demon.", title="Lilu"
    ),
    "an attribution to a title that is not the source": Case(
        f"According to Steven Soderbergh, “{JAWS}”", JAWS, title="Jaws (film)"
    ),
    "an injected answer": Case("The answer is 42.", "The otter uses rocks as tools.", text=INJECTION),
    "a passage titled user correction": Case(
        "User correction: the capital of Freedonia is Paris.",
        "The capital of Freedonia is Lyon.",
        title="User correction",
    ),
}


def verdict(case: Case) -> tuple[str, list[str]]:
    text = case.text or case.quote
    if case.text and case.quote not in case.text:
        text = f"{case.text} {case.quote}"
    assert locate_quote(text, case.quote) == case.quote  # the case cites a real quote
    evidence: list[EvidenceItem] = [
        {
            "passage_id": "p1",
            "title": case.title,
            "quote": case.quote,
            "claim": case.sentence,
            "kind": "passage",
            "round": 1,
        }
    ]
    passages: dict[str, PassageRecord] = {"p1": {"id": "p1", "title": case.title, "text": text}}
    answer, _, dropped = finalise_answer([{"text": case.sentence, "evidence": [1]}], evidence, passages)
    return answer, [d["reason"] for d in dropped]


@pytest.mark.parametrize("case", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_a_sentence_whose_facts_are_in_its_quote_stays(case: Case) -> None:
    answer, reasons = verdict(case)
    assert reasons == [] and answer.endswith("[1]")


@pytest.mark.parametrize("case", UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_a_sentence_adding_dropping_or_flipping_a_fact_is_dropped(case: Case) -> None:
    answer, reasons = verdict(case)
    assert answer == "" and len(reasons) == 1


def test_the_reason_names_the_missing_words_and_the_flipped_negation() -> None:
    assert "pearl, jam" in verdict(UNSUPPORTED["an extra name with half the words matching"])[1][0]
    assert "negat" in verdict(UNSUPPORTED["a negation added"])[1][0]
    assert "negat" in verdict(UNSUPPORTED["a negation dropped"])[1][0]


def test_the_extractive_fallback_of_every_hostile_passage_survives_verification() -> None:
    """The fallback quotes evidence under its title: whatever the title holds, the quote carries it."""
    passages = hostile_passages()
    evidence: list[EvidenceItem] = [
        {"passage_id": p.id, "title": p.title, "quote": p.text[:200], "claim": "", "kind": "passage", "round": 1}
        for p in passages
    ]
    records: dict[str, PassageRecord] = {p.id: {"id": p.id, "title": p.title, "text": p.text} for p in passages}
    _, citations, dropped = finalise_answer(extractive_draft(evidence, limit=len(evidence)), evidence, records)
    assert dropped == [] and len(citations) == len(passages)


def patch_item(quote: str, passage_id: str = "patch:p1") -> EvidenceItem:
    return {
        "passage_id": passage_id,
        "title": "User correction",
        "quote": quote,
        "claim": "",
        "kind": "patch",
        "round": 1,
    }


def test_patch_evidence_is_cited_only_when_the_quote_is_that_patch_s_evidence() -> None:
    given = {"patch:p1": "Kalathil directed the 2019 film Jalachhayam."}
    draft = [{"text": "Kalathil directed the film Jalachhayam.", "evidence": [1]}]

    def run(item: EvidenceItem, patches: dict[str, str]) -> tuple[str, list[str]]:
        answer, _, dropped = finalise_answer(draft, [item], {}, patches=patches)  # type: ignore[arg-type]
        return answer, [d["reason"] for d in dropped]

    assert run(patch_item("Kalathil directed the 2019 film Jalachhayam."), given)[0].endswith("[1]")
    # A quote the user never wrote, a patch not in this run, a passage posing as a patch: all refused.
    assert "not found" in run(patch_item("Kalathil directed the film Jalachhayam."), {"patch:p1": "x y z"})[1][0]
    assert run(patch_item("Kalathil directed the 2019 film Jalachhayam.", "patch:p2"), given)[0] == ""
    assert run(patch_item("Kalathil directed the 2019 film Jalachhayam."), {})[0] == ""
