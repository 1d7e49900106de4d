"""The always-search policy in code: routing never skips search, quotes and citations are checked."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.types import Send

from sleuth.agents.research import routing
from sleuth.agents.research.policy import (
    PolicyViolationError,
    assert_searched,
    locate_quote,
    memory_phrase,
    no_evidence_answer,
    render_sentences,
    verify_draft,
)
from sleuth.agents.research.state import EvidenceItem

CALL = {"query": "q", "k": 4, "hit_ids": [], "round": 1}


def finalise_answer(*args: Any, **kwargs: Any) -> tuple[str, Any, Any]:
    """`verify_draft` with its kept sentences rendered as the answer's Markdown."""
    kept, citations, dropped = verify_draft(*args, **kwargs)
    return render_sentences(kept), citations, dropped


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"tasks": []},
        {"tasks": [], "round": 3, "unknown": []},
    ],
)
def test_no_route_reaches_the_writer_before_a_search(state: dict) -> None:
    assert routing.after_orchestrator(state) == "search"  # type: ignore[arg-type]
    assert routing.after_aggregator({**state, "max_rounds": 1, "round": 5}) == "orchestrator"  # type: ignore[typeddict-item]


def test_writer_is_reached_only_after_a_search_and_when_done() -> None:
    assert routing.after_orchestrator({"search_calls": [CALL], "tasks": []}) == "writer"  # type: ignore[list-item]
    base = {"search_calls": [CALL], "round": 1, "max_rounds": 3, "token_budget": 100, "tokens_used": 0}
    assert routing.after_aggregator({**base, "unknown": ["x"]}) == "orchestrator"  # type: ignore[typeddict-item]
    assert routing.after_aggregator({**base, "unknown": []}) == "writer"  # type: ignore[typeddict-item]
    assert routing.after_aggregator({**base, "unknown": ["x"], "round": 3}) == "writer"  # type: ignore[typeddict-item]
    assert routing.after_aggregator({**base, "unknown": ["x"], "tokens_used": 100}) == "writer"  # type: ignore[typeddict-item]


def test_writer_node_refuses_to_run_without_a_search() -> None:
    with pytest.raises(PolicyViolationError):
        assert_searched({"question": "q", "search_calls": []})


def test_readers_fan_out_with_one_send_per_batch() -> None:
    batches = [{"batch_id": f"b{i}"} for i in range(5)]
    sends = routing.to_readers({"batches": batches})  # type: ignore[typeddict-item]
    assert (
        isinstance(sends, list)
        and len(sends) == 5
        and all(isinstance(s, Send) and s.node == "reader" for s in sends)
    )
    assert routing.to_readers({"batches": []}) == "aggregator"


def test_quote_location_normalises_whitespace_and_case_but_not_words() -> None:
    text = "Lilu is a masculine\n Semitic  name for a spirit or demon."
    assert locate_quote(text, "lilu is a masculine semitic name") == "Lilu is a masculine\n Semitic  name"
    assert locate_quote(text, "Lilu is a feminine Semitic name") is None
    assert locate_quote(text, "Lilu") is None  # too short to prove anything


@pytest.mark.parametrize(
    "sentence",
    [
        "I remember that Nolan directed it.",
        "As is well known, the lake is deep.",
        "From my knowledge, the answer is 4.",
        "It is widely known that X.",
        "To my knowledge it is red.",
    ],
)
def test_memory_phrases_are_detected(sentence: str) -> None:
    assert memory_phrase(sentence)


def test_plain_sentences_are_not_memory_phrases() -> None:
    assert memory_phrase("The film is known for its score [1].") is None


def test_citation_to_a_quote_no_longer_in_the_passage_is_dropped() -> None:
    evidence: list[EvidenceItem] = [
        {
            "passage_id": "p1",
            "title": "T",
            "quote": "the river is long",
            "claim": "",
            "kind": "passage",
            "round": 1,
        }
    ]
    passages = {"p1": {"id": "p1", "title": "T", "text": "The river is short."}}
    answer, citations, dropped = finalise_answer(
        [{"text": "The river is long.", "evidence": [1]}], evidence, passages
    )
    assert answer == "" and citations == [] and "quote not found" in dropped[0]["reason"]


def test_citations_are_numbered_by_first_use() -> None:
    evidence: list[EvidenceItem] = [
        {
            "passage_id": f"p{i}",
            "title": f"T{i}",
            "quote": f"alpha beta gamma {word} delta",
            "claim": "",
            "kind": "passage",
            "round": 1,
        }
        for i, word in enumerate(["zero", "one", "two"])
    ]
    passages = {
        f"p{i}": {"id": f"p{i}", "title": "", "text": f"x alpha beta gamma {word} delta y"}
        for i, word in enumerate(["zero", "one", "two"])
    }
    answer, citations, _ = finalise_answer(
        [{"text": "Gamma is two.", "evidence": [3]}, {"text": "Alpha zero and two [5].", "evidence": [1, 3]}],
        evidence,
        passages,
    )
    assert answer == "Gamma is two. [1] Alpha zero and two. [2][1]"
    assert [c["passage_id"] for c in citations] == ["p2", "p0"]


def test_refusal_lists_every_query() -> None:
    text = no_evidence_answer("Who?", [CALL, {**CALL, "query": "r"}])  # type: ignore[list-item]
    assert "“q”" in text and "“r”" in text and "not answering from memory" in text


def test_reader_sentences_keep_initials_and_abbreviations_whole() -> None:
    from sleuth.text import split_sentences

    text = 'A film by David S. Goyer. Shot in the U.S. in 2012. Mr. Smith said "hi." Then he left!'
    assert split_sentences(text) == [
        "A film by David S. Goyer.",
        "Shot in the U.S. in 2012.",
        'Mr. Smith said "hi."',
        "Then he left!",
    ]


def test_a_sentence_sharing_only_a_word_stem_with_its_evidence_keeps_the_citation() -> None:
    evidence: list[EvidenceItem] = [
        {
            "passage_id": "p1",
            "title": "Nolan",
            "quote": "Nolan is a film director",
            "claim": "",
            "kind": "passage",
            "round": 1,
        }
    ]
    passages = {"p1": {"id": "p1", "title": "", "text": "Nolan is a film director."}}
    answer, _, dropped = finalise_answer(
        [{"text": "Yes, both are directors.", "evidence": [1]}], evidence, passages
    )
    assert answer == "Yes, both are directors. [1]" and dropped == []


def test_echoed_questions_and_repeats_are_dropped_even_with_a_citation() -> None:
    evidence: list[EvidenceItem] = [
        {
            "passage_id": "p1",
            "title": "Lilu",
            "quote": "Lilu is a wind spirit",
            "claim": "",
            "kind": "passage",
            "round": 1,
        }
    ]
    passages = {"p1": {"id": "p1", "title": "", "text": "Lilu is a wind spirit."}}
    draft = [
        {"text": "If Gallu is a demon Lilu is what", "evidence": [1]},
        {"text": "Is Lilu a spirit?", "evidence": [1]},
        {"text": "Lilu is a wind spirit.", "evidence": [1]},
        {"text": "Lilu is a wind spirit.", "evidence": [1]},
    ]
    answer, _, dropped = finalise_answer(draft, evidence, passages, question="If Gallu is a demon Lilu is what?")
    assert answer == "Lilu is a wind spirit. [1]"
    assert [d["reason"] for d in dropped] == ["a question, not an answer"] * 2 + ["repeats an earlier sentence"]


def test_a_sentence_mostly_unsupported_by_its_quote_is_dropped_even_if_it_shares_a_word() -> None:
    evidence: list[EvidenceItem] = [
        {
            "passage_id": "p1",
            "title": "Circus Diablo",
            "quote": "Circus Diablo is an American rock band, formed in early 2006.",
            "claim": "Pearl Jam drummer",  # model-written: must not count as support
            "kind": "passage",
            "round": 1,
        }
    ]
    passages = {
        "p1": {"id": "p1", "title": "", "text": "Circus Diablo is an American rock band, formed in early 2006."}
    }
    answer, _, dropped = finalise_answer(
        [
            {"text": "Circus Diablo was formed in 2006.", "evidence": [1]},
            {"text": "Pearl Jam was a drummer of the band.", "evidence": [1]},
            {"text": "American band,.", "evidence": [1]},
        ],
        evidence,
        passages,
    )
    assert answer == "Circus Diablo was formed in 2006. [1]"
    assert [d["text"] for d in dropped] == ["Pearl Jam was a drummer of the band.", "American band,."]
    assert "content words" in dropped[0]["reason"] and dropped[1]["reason"] == "too short to state a fact"
