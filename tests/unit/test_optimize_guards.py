"""The guards on proposed prompts (training data copied in, growth, copies), the budget warning, and the
splits: disjoint by question and gold passage, seeded, with passage-sharing questions kept together."""

from __future__ import annotations

from pathlib import Path

import pytest

from sleuth.evals.datasets import QAExample
from sleuth.optimizers.base import JobError
from sleuth.optimizers.gepa_adapter import Proposer
from sleuth.optimizers.guards import LeakGuard, ProposalGuard, budget_warning, growth_caps
from sleuth.optimizers.splits import disjoint, load_split, make_split
from sleuth.retrieval.base import Passage

TRAIN = [
    QAExample(
        "h1",
        "Which film directed by the maker of Duel was a box-office hit in 1975?",
        ["Jaws"],
        ["p-jaws"],
        meta={"question_decomposition": [{"question": "Who directed the television film Duel in 1971?"}]},
    ),
    QAExample("h2", "Who wrote Jaws?", ["Peter Benchley"], ["p-benchley"]),
    QAExample("h3", "Are both directors American?", ["yes"]),
    QAExample("h4", "If Gallu is a demon Lilu is what?", ["a spirit"]),
    QAExample("h5", "How many sequels did Jaws have?", ["3"]),
    QAExample("h6", "When was the studio founded?", ["1912"]),
]
PASSAGES = {
    "p-jaws": Passage(
        "p-jaws",
        "Jaws is a 1975 American thriller film directed by Steven Spielberg, from the novel.",
        "Jaws (film)",
    ),
    "p-benchley": Passage(
        "p-benchley", "Peter Benchley was an American author and screenwriter.", "Peter Benchley"
    ),
}
SEED = "Answer the question using only the passages below. Give the shortest answer."


def leak(text: str, exempt: tuple[str, ...] = (SEED,)) -> str | None:
    return LeakGuard.of(TRAIN, PASSAGES).check(text, exempt)


def test_a_rule_naming_a_training_answer_or_gold_title_is_a_leak() -> None:
    assert "'jaws'" in (leak(f"{SEED} Films by Spielberg: answer Jaws.") or "")
    assert "'peter benchley'" in (leak(f"{SEED} An author is often PETER   benchley.") or "")
    assert "'1912'" in (leak(f"{SEED} Years such as 1912 are dates.") or "")
    titled = LeakGuard.of(
        [QAExample("t", "Which novel?", ["water"], ["p"])], {"p": Passage("p", "t", "Great White Shark")}
    )
    assert "'great white shark'" in (titled.check("Think of the great white shark.", []) or "")


def test_general_words_that_happen_to_be_answers_are_not_a_leak() -> None:
    # "yes", "a spirit" and "3" are no evidence of copying: a general instruction may say them.
    assert leak(f"{SEED} Answer yes or no when asked; a spirit of brevity helps; at most 3 words.") is None
    # A one-word title is a common noun: not a name.
    assert (
        LeakGuard.of([QAExample("x", "What is it?", ["water"], ["p"])], {"p": Passage("p", "t", "Music")}).check(
            "Music questions want a genre.", []
        )
        is None
    )


def test_copied_runs_of_a_training_question_or_passage_are_a_leak() -> None:
    assert "8 words of a training question" in (
        leak(f"{SEED} Ask which film directed by the maker of Duel first.") or ""
    )
    # The decomposition's steps are training questions too (the feedback shows them).
    assert "training question" in (
        leak(f"{SEED} First find who directed the television film Duel in 1971, then") or ""
    )
    assert "training question: 'if gallu is a demon lilu is what'" in (
        leak(f"{SEED} Example: If Gallu is a demon, Lilu is what?") or ""
    )
    # A question shorter than 8 words counts whole, from 5 words up.
    assert "copies a training question: 'when was the studio founded'" in (
        leak(f"{SEED} Example: When was the studio founded? Give a year.") or ""
    )
    assert "8 words of a passage" in (
        leak(f"{SEED} Note: it is a 1975 American thriller film directed by someone.") or ""
    )
    # Only 7 words in a row: not a copy.
    assert leak(f"{SEED} Note: a 1975 American thriller film directed carefully.") is None


def test_what_the_parent_or_seed_already_says_is_no_leak_and_observed_inputs_count() -> None:
    hand_written = f"{SEED} Example: who directed Jaws? Answer: Steven Spielberg."
    assert leak(hand_written, exempt=(hand_written,)) is None
    assert leak(f"{hand_written} Keep it short.", exempt=(hand_written,)) is None
    guard = LeakGuard.of(TRAIN, PASSAGES)
    shown = "[1] Duel (film)\nDuel is a 1971 television film about a motorist chased by a truck driver."
    rule = "Remember: a film about a motorist chased by a truck driver is Duel."
    assert guard.check(rule, [SEED]) is None
    guard.observe([shown])  # the passages a minibatch showed the reflection model
    assert "8 words of a passage: 'about a motorist chased by a truck driver'" in (guard.check(rule, [SEED]) or "")


def test_the_proposal_guard_refuses_empty_copies_growth_and_leaks_and_counts_them() -> None:
    events: list[dict[str, object]] = []
    seed = {"ask_read": SEED}
    caps = growth_caps(seed, growth=2.0)
    assert caps == {"ask_read": len(SEED) + 400}
    assert growth_caps({"a": "x" * 1000}, 2.0) == {"a": 2000}
    assert growth_caps({"a": "x" * 1000}, 2.0, absolute=1500) == {"a": 1500}
    guard = ProposalGuard(seed, caps, LeakGuard.of(TRAIN, PASSAGES), on_reject=events.append)
    assert guard.check("ask_read", "  ", seed) == "the reply held no instructions"
    assert "no instruction" in (guard.check("ask_read", "...", seed) or "")  # a measured reply
    assert guard.check("ask_read", 'Reply as JSON {"answer": "..."}.', seed) is None  # the shortest seed
    assert guard.check("ask_read", SEED + "\n", seed) == "the reply repeats the current text"
    assert "over the cap" in (guard.check("ask_read", SEED + " Be brief." * 60, seed) or "")
    assert "'jaws'" in (guard.check("ask_read", f"{SEED} Answer Jaws.", seed) or "")
    assert guard.check("ask_read", f"{SEED} Copy names exactly as the passage spells them.", seed) is None
    assert dict(guard.rejected) == {"empty": 2, "copy": 1, "growth": 1, "leak": 1}
    assert [e["kind"] for e in events] == ["empty", "empty", "copy", "growth", "leak"]
    assert events[-1] == {
        "event": "guard",
        "role": "ask_read",
        "kind": "leak",
        "reason": "names a training answer or gold passage title: 'jaws'",
        "chars": len(SEED) + 13,
    }


def test_gepas_proposer_re_asks_a_leaking_reply_and_keeps_the_first_clean_one() -> None:
    replies = iter(
        ["```\nAnswer: Peter Benchley wrote it.\n```", "```\nCopy names exactly from the passages.\n```"]
    )
    guard = ProposalGuard({"ask_read": SEED}, {"ask_read": 1000}, LeakGuard.of(TRAIN, PASSAGES))
    records = [{"Inputs": {"question": "q", "passages": "[1] x"}, "Generated Outputs": "{}", "Feedback": "Wrong."}]
    prompts: list[str] = []

    def lm(prompt: str) -> str:
        prompts.append(prompt)
        return next(replies)

    texts = Proposer(lm, guard)({"ask_read": SEED}, {"ask_read": records}, ["ask_read"])
    assert texts == {"ask_read": "Copy names exactly from the passages."}
    assert dict(guard.rejected) == {"leak": 1}
    assert "refused (names a training answer or gold passage title" in prompts[1]  # told why, so it differs


def test_the_budget_warning_names_what_the_roles_need() -> None:
    assert budget_warning(58, roles=3, val_size=4, minibatch=3) is None
    warning = budget_warning(57, roles=3, val_size=4, minibatch=3)
    assert warning is not None and "at least 58" in warning and "3 role(s)" in warning


def _questions() -> list[QAExample]:
    rows = [QAExample(f"q{i}", f"Question number {i}?", ["a"], [f"p{i}"]) for i in range(40)]
    # A chain: q0 and q1 share a passage, q1 and q2 another; q3 repeats q4's text.
    rows[1].gold_passage_ids.append("p0")
    rows[2].gold_passage_ids.append("p1")
    rows[3] = QAExample("q3", "question NUMBER 4?", ["a"], ["p3"])
    return rows


def test_splits_are_disjoint_by_question_and_gold_passage_and_keep_sharing_questions_together() -> None:
    split = make_split(_questions(), train_size=None, val_size=8, test_size=12, seed=1)
    assert (len(split.val), len(split.test), len(split.train)) == (8, 12, 19)  # 39 distinct: q4 repeats q3
    assert disjoint(split) == {"questions": True, "passages": True}
    assert split.repeated == ["q4"] and split.joined == 3
    chain = [part for part in (split.train, split.val, split.test) if {"q0", "q1", "q2"} & {e.id for e in part}]
    assert len(chain) == 1 and {"q0", "q1", "q2"} <= {e.id for e in chain[0]}


def test_splits_are_seeded_and_validation_stays_put_when_the_test_size_changes() -> None:
    a = make_split(_questions(), train_size=10, val_size=8, test_size=12, seed=1)
    b = make_split(_questions(), train_size=10, val_size=8, test_size=12, seed=1)
    c = make_split(_questions(), train_size=10, val_size=8, test_size=6, seed=1)
    other = make_split(_questions(), train_size=10, val_size=8, test_size=12, seed=2)
    ids = [[e.id for e in part] for part in (a.train, a.val, a.test)]
    assert ids == [[e.id for e in part] for part in (b.train, b.val, b.test)]
    assert [e.id for e in c.val] == ids[1] and len(a.train) == 10
    assert [e.id for e in other.val] != ids[1]


def test_default_sizes_are_shares_of_the_questions_and_too_few_questions_fail_clearly() -> None:
    split = make_split(_questions(), train_size=None, val_size=None, test_size=None, seed=0)
    assert (len(split.val), len(split.test), len(split.train)) == (8, 23, 8)
    with pytest.raises(
        JobError, match=r"39 distinct questions in 37 passage-sharing groups: too few .*test 39 of 40"
    ):
        make_split(_questions(), train_size=None, val_size=8, test_size=40, seed=0)


def test_a_question_sharing_a_passage_with_a_correction_never_goes_to_test() -> None:
    correction = QAExample("correction:1", "Fixed?", ["b"], ["p7", "p9"])
    for seed in range(5):
        split = make_split(_questions(), train_size=None, val_size=8, test_size=20, seed=seed, pinned=[correction])
        assert not {"q7", "q9"} & {e.id for e in split.test}


def test_a_saved_split_is_reused_and_a_vanished_question_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "split.json"
    first = load_split(path, _questions(), train_size=None, val_size=8, test_size=12, seed=1)
    again = load_split(path, _questions(), train_size=None, val_size=2, test_size=2, seed=9)
    assert [e.id for e in again.test] == [e.id for e in first.test] and again.joined == first.joined
    with pytest.raises(JobError, match="not in the dataset any more"):
        load_split(path, _questions()[5:], train_size=None, val_size=8, test_size=12, seed=1)


def test_a_proposal_echoing_the_reflection_prompts_own_instructions_is_refused() -> None:
    # The GEPA winner measured from `defaults` (2026-12-04): the request for rules became a heading.
    measured = (
        "1. **Use only the passages provided.** Do not use any external sources or memory.\n"
        "2. **Generate a single answer that matches the gold answer as closely as possible.**\n\n"
        "### 2 to 5 Short Numbered Rules\n1"
    )
    seed = {"ask_read": SEED, "ask_read_next": 'Reply as JSON {"answer": "...", "next_search": "..."}.'}
    guard = ProposalGuard(seed, {})
    assert guard.check("ask_read", measured, seed) == (
        "repeats the reflection prompt's instructions: '2 to 5 short numbered'"
    )
    told = seed["ask_read_next"] + " The instructions must be general, one or two sentences of plain English."
    assert "one or two sentences of" in (guard.check("ask_read_next", told, seed) or "")
    assert dict(guard.rejected) == {"echo": 2}
    # A rule in its own words passes, and so does an echo the current text already held.
    assert guard.check("ask_read", f"{SEED} Name one thing, copied from a passage.", seed) is None
    echoing_seed = {"ask_read": f"{SEED} Follow 2 to 5 short numbered rules."}
    assert guard.check("ask_read", echoing_seed["ask_read"] + " Be brief.", echoing_seed) is None
