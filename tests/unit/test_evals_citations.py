"""Citation precision/recall/excerpts on hand-checked answers, with the offline overlap judge."""

from sleuth.evals.citations import (
    OverlapSupport,
    answer_sentences,
    cited_numbers,
    is_factual,
    overlap,
    score_citations,
)

PASSAGES = {
    "p1": "Marie Curie won the Nobel Prize in Physics in 1903 together with Pierre Curie.",
    "p2": "The Eiffel Tower is located in Paris and was completed in 1889.",
}


def test_answer_sentences_keeps_markers_with_their_sentence():
    text = "# Title\nCurie won the Nobel Prize in 1903 [1]. The tower is in Paris. [2]\n- Is it tall?"
    assert answer_sentences(text) == [
        "Curie won the Nobel Prize in 1903 [1].",
        "The tower is in Paris [2].",
        "Is it tall?",
    ]
    assert cited_numbers("A [1] and [2, 3] and [1].") == [1, 2, 3]
    assert not is_factual("Is it tall?") and is_factual("Curie won the Nobel Prize.")


def test_overlap_counts_content_words_only():
    # content tokens of the claim: curie, won, nobel, prize -> all 4 in p1
    assert overlap("Curie won the Nobel Prize [1].", PASSAGES["p1"]) == 1.0
    # tower, paris, completed, 1920 -> 3/4 in p2
    assert overlap("The tower in Paris was completed in 1920.", PASSAGES["p2"]) == 0.75


async def test_scores_hand_checked():
    answer = (
        "Marie Curie won the Nobel Prize in Physics in 1903 [1]. "
        "The Eiffel Tower is in Paris [1][2]. "
        "Curie discovered radium in her kitchen laboratory."
    )
    citations = [
        {"n": 1, "passage_id": "p1", "quote": "won the Nobel Prize in Physics"},
        {"n": 2, "passage_id": "p2", "quote": "a quote that is not in the passage"},
    ]
    scores = await score_citations(answer, citations, PASSAGES, OverlapSupport(0.6))
    # 3 factual sentences: #1 supported by [1]; #2 supported by [1]+[2] together; #3 cites nothing
    assert scores.factual_sentences == 3
    assert scores.recall == 2 / 3
    # 3 citations judged: [1] on s1 yes; [1] on s2 no (no tower/paris in p1); [2] on s2 yes
    assert scores.citations == 3 and scores.precision == 2 / 3
    # 1 of 2 quotes occurs in its passage
    assert scores.excerpts == 0.5


async def test_unknown_citation_number_counts_against_precision():
    scores = await score_citations("Curie won the Nobel Prize [7].", [], PASSAGES, OverlapSupport())
    assert scores.precision == 0.0 and scores.recall == 0.0 and scores.excerpts is None
