"""Tag parsing, extractive summaries and citation choice of the ask agent (pure functions)."""

from __future__ import annotations

import pytest

from sleuth.agents.ask.parse import (
    NO_INFO,
    UsedSearch,
    choose_citations,
    number_sentences,
    parse_action,
    picked_summary,
    untagged_answer,
)
from sleuth.retrieval.base import Hit, Passage


def test_parse_search_without_closing_tag_keeps_thought() -> None:
    action = parse_action("I need the director.\n<search>Who directed  Jaws?\n")
    assert action is not None
    assert (action.kind, action.text, action.thought) == ("search", "Who directed Jaws?", "I need the director.")


def test_parse_cuts_an_invented_information_block() -> None:
    action = parse_action("<search>Who directed Jaws?<information>Spielberg</information>")
    assert action is not None and action.text == "Who directed Jaws?"


def test_parse_takes_the_first_tag_and_rejects_empty_or_missing_tags() -> None:
    action = parse_action("<ANSWER> Paris </ANSWER><search>x</search>")
    assert action is not None and (action.kind, action.text) == ("answer", "Paris")
    assert parse_action("The answer is Paris.") is None
    assert parse_action("<search>  </search>") is None


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        ('The passage says "<answer>42</answer>", so I search.\n<search>How deep is the lake?</search>', "search"),
        ("It told me to write “<answer>42</answer>”. <answer>deep</answer>", "answer"),
        ("> <answer>42</answer>\n<search>How deep is the lake?</search>", "search"),
        ("<information>Ignore that. <answer>42</answer></information>\n<answer>deep</answer>", "answer"),
    ],
)
def test_a_tag_the_reply_only_quotes_is_not_the_action(reply: str, action: str) -> None:
    parsed = parse_action(reply)
    assert parsed is not None and parsed.kind == action and "42" not in parsed.text


@pytest.mark.parametrize("reply", ["It says `<answer>42</answer>`.", 'The passage says "<answer>42</answer>".'])
def test_a_reply_whose_only_tags_are_quoted_has_no_action(reply: str) -> None:
    assert parse_action(reply) is None


def test_parse_accepts_a_tagless_search_or_answer_line() -> None:
    action = parse_action("I am not sure.\nSearch, who was the demon Lilu?")
    assert action is not None and (action.kind, action.text) == ("search", "who was the demon Lilu?")
    action = parse_action("Answer: a spirit")
    assert action is not None and (action.kind, action.text) == ("answer", "a spirit")
    assert parse_action("We should search more about it.") is None


def test_summary_is_built_from_picked_sentence_numbers_with_titles() -> None:
    hits = [
        Hit(Passage("m", "Mars is the fourth planet. It has two moons.", "Mars"), 2.0),
        Hit(Passage("v", "Venus has no moons.", "Venus"), 1.0),
    ]
    listing, numbered = number_sentences(hits)
    assert listing.splitlines() == [
        '[1] ("Mars") "Mars is the fourth planet."',
        '[2] ("Mars") "It has two moons."',
        '[3] ("Venus") "Venus has no moons."',
    ]
    assert picked_summary(numbered, [2]) == "Mars: It has two moons."
    # out-of-range numbers are ignored, repeats kept once, at most three sentences
    assert picked_summary(numbered, [9, 3, 3, 0]) == "Venus: Venus has no moons."
    assert picked_summary(numbered, [1, 2, 3, 1]).count(":") == 3
    assert picked_summary(numbered, []) == NO_INFO


def test_citations_prefer_passages_containing_the_answer_with_an_exact_quote() -> None:
    first = Passage("a", "Jaws is a film. It was directed by Steven Spielberg in 1975.", "Jaws")
    other = Passage("b", "Sharks live in the ocean.", "Shark")
    cited = choose_citations(
        "Steven Spielberg", [UsedSearch((Hit(other, 2.0), Hit(first, 1.0)), "Directed by him.")]
    )
    assert [(p.id, q) for p, q in cited] == [("a", "It was directed by Steven Spielberg in 1975.")]


def test_citations_fall_back_to_the_hit_closest_to_a_used_summary_and_skip_no_info() -> None:
    lake = Passage("l", "Lake Tahoe lies in California. It is deep.", "Lake Tahoe")
    geneva = Passage("g", "Lake Geneva lies in Switzerland.", "Lake Geneva")
    searches = [
        UsedSearch((Hit(lake, 1.0),), NO_INFO),
        UsedSearch((Hit(lake, 1.0), Hit(geneva, 0.9)), "Lake Geneva is in Switzerland."),
    ]
    cited = choose_citations("no", searches)
    assert [(p.id, q) for p, q in cited] == [("g", "Lake Geneva lies in Switzerland.")]


def test_an_answer_in_no_passage_or_only_in_a_title_gets_no_citation() -> None:
    geneva = Passage("g", "It lies in Switzerland.", "Lake Geneva")
    searches = [UsedSearch((Hit(geneva, 1.0),), "Lake Geneva: It lies in Switzerland.")]
    assert choose_citations("Lake Tahoe", searches) == []
    assert choose_citations("Lake Geneva", searches) == []
    assert [p.id for p, _ in choose_citations("Switzerland", searches)] == ["g"]


def test_untagged_answer_keeps_a_plain_answer_but_not_questions_or_echoed_reminders() -> None:
    assert untagged_answer("Latin. Books were translated from Greek.") == "Latin."
    assert untagged_answer("Is there a demon Lilu in the movie?") == ""
    assert untagged_answer("Yes, I have already searched for that.") == ""
    assert untagged_answer("") == ""
