"""Which questions an optimization job trains, validates and tests on: seeded, disjoint by id and question
text, plus never-regress questions built from the user's active corrections."""

from __future__ import annotations

import random
from typing import Any

from sleuth.evals.datasets import QAExample
from sleuth.optimizers.base import JobError

CORRECTION_PREFIX = "correction:"


def _question_key(example: QAExample) -> str:
    """The question text up to case and spacing: what makes two examples the same question."""
    return " ".join(example.question.lower().split())


def _shuffled_unique(examples: list[QAExample], seed: int) -> list[QAExample]:
    """One example per question text (datasets sometimes repeat a question), shuffled with `seed`."""
    unique: dict[str, QAExample] = {}
    for example in examples:
        unique.setdefault(_question_key(example), example)
    ordered = list(unique.values())
    random.Random(seed).shuffle(ordered)
    return ordered


def split_examples(
    examples: list[QAExample], train_size: int | None, val_size: int, seed: int
) -> tuple[list[QAExample], list[QAExample]]:
    """Shuffle with `seed`, take `val_size` for validation and up to `train_size` of the rest for training.

    The split is disjoint by question text as well as by id (datasets sometimes repeat a question).
    """
    ordered = _shuffled_unique(examples, seed)
    if len(ordered) < val_size + 1:
        raise JobError(
            f"the dataset has {len(ordered)} distinct questions: too few for {val_size} validation "
            "questions and at least one training question"
        )
    val = ordered[:val_size]
    rest = ordered[val_size:]
    return (rest if train_size is None else rest[:train_size]), val


def held_out_examples(examples: list[QAExample], used: list[QAExample], size: int, seed: int) -> list[QAExample]:
    """`size` test questions from the end of the seeded shuffle, none of them (by id or text) in `used`.

    Taken from the end, so adding a test set to a job never changes its train or validation questions.
    """
    if size == 0:
        return []
    taken_ids, taken_questions = {e.id for e in used}, {_question_key(e) for e in used}
    free = [
        e
        for e in reversed(_shuffled_unique(examples, seed))
        if e.id not in taken_ids and _question_key(e) not in taken_questions
    ]
    if len(free) < size:
        raise JobError(f"only {len(free)} questions are left outside train and validation for --test-limit {size}")
    return free[:size]


def correction_examples(store: Any, collection: str | None = None) -> list[QAExample]:
    """Questions built from the store's active corrections: the agent must keep answering them right."""
    from sleuth.feedback.models import PatchStatus

    patches = store.list(status=PatchStatus.active, collection=collection)
    return [
        QAExample(
            id=f"{CORRECTION_PREFIX}{p.id}",
            question=p.query,
            answers=[p.answer],
            gold_passage_ids=list(p.evidence_passage_ids),
            meta={"correction": True},
        )
        for p in patches
        if p.answer.strip()
    ]
