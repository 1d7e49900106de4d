"""Hand-checked cases for the QA answer metrics."""

import pytest

from sleuth.evals.metrics import (
    answer_scores,
    cover_match,
    exact_match,
    f1_score,
    gold_recall,
    normalize_answer,
)


def test_normalize_drops_case_punctuation_articles_and_extra_spaces():
    assert normalize_answer("  The  Eiffel-Tower, in Paris! ") == "eiffeltower in paris"
    assert normalize_answer("An apple a day") == "apple day"
    # articles only as whole words: "theatre" keeps its letters
    assert normalize_answer("Theatre") == "theatre"


def test_exact_match_takes_the_best_gold():
    assert exact_match("the Beatles", ["Rolling Stones", "Beatles"]) == 1.0
    assert exact_match("Beatles band", ["Beatles"]) == 0.0
    assert exact_match("Paris", "paris.") == 1.0  # a bare string is one gold answer


def test_f1_hand_computed():
    # pred tokens: [barack, obama, jr]; gold tokens: [barack, obama]; overlap 2
    # precision 2/3, recall 1 -> F1 = 2*(2/3)/(5/3) = 0.8
    assert f1_score("Barack Obama Jr.", ["Barack Obama"]) == pytest.approx(0.8)
    # max over golds: second gold matches exactly
    assert f1_score("Obama", ["Barack Obama", "Obama"]) == 1.0
    assert f1_score("Lyon", ["Paris"]) == 0.0


def test_f1_counts_repeated_tokens_as_a_multiset():
    # pred [new, new, york]; gold [new, york]; overlap = min counts = 2; P=2/3, R=1 -> 0.8
    assert f1_score("new new york", "New York") == pytest.approx(0.8)


def test_yes_no_only_match_exactly():
    assert f1_score("yes they are", ["yes"]) == 0.0
    assert f1_score("Yes.", ["yes"]) == 1.0


def test_empty_prediction_scores_zero():
    assert f1_score("", ["Paris"]) == 0.0
    assert exact_match("", ["Paris"]) == 0.0
    assert cover_match("", ["Paris"]) == 0.0
    assert f1_score("anything", []) == 0.0


def test_cover_match_needs_whole_words():
    assert cover_match("The answer is a spirit, I think.", ["a spirit"]) == 1.0
    assert cover_match("It happened in 1990.", ["199"]) == 0.0
    assert cover_match("It happened in 1990.", ["1990"]) == 1.0


def test_gold_recall():
    assert gold_recall(["a", "b", "x"], ["a", "b", "c", "d"]) == 0.5
    assert gold_recall([], ["a"]) == 0.0
    assert gold_recall(["a"], []) is None


def test_answer_scores_bundle():
    assert answer_scores("Paris", ["paris"]) == {"em": 1.0, "f1": 1.0, "cover": 1.0}


def test_answers_that_normalise_to_empty_score_as_the_official_squad_script():
    # SQuAD v1.1 / HotpotQA: F1 of no tokens against no tokens is 0 (no overlap), EM compares the two
    # normalised strings, so "" == "" is a match. An answer of only articles and punctuation is such a case.
    assert f1_score("The.", ["a"]) == 0.0
    assert f1_score("", [""]) == 0.0
    assert exact_match("The.", ["a"]) == 1.0
    assert answer_scores("!", ["an"]) == {"em": 1.0, "f1": 0.0, "cover": 0.0}
