"""Which questions an optimization job trains, validates and tests on: seeded, disjoint by question and by gold
passage, saved in the job folder; plus never-regress questions built from the user's active corrections.

A prompt tuned on a question must not be tested on another question answered by the same passage: the
reflection model has read that passage (and may have written its facts into a rule). So questions are first
joined into groups, transitively, when they share a gold passage id or their text (up to case and spacing),
and a group goes whole into one split. Nothing is dropped for sharing a passage; only a repeated question text
is (the dataset asked it twice). multihop_dev has 3 passages that two questions share among 434; so 3 pairs
of questions travel together and the sizes asked for are met exactly.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleuth.evals.datasets import QAExample
from sleuth.optimizers.base import JobError

CORRECTION_PREFIX = "correction:"
VAL_SHARE = 0.2
TEST_SHARE = 0.6
"""Default shares of the distinct questions: on multihop_dev's 200, 40 train, 40 validation and 120 test. The
test set gets the most because it decides whether a gain is real: per-question F1 differences between a winner
and the seed had a spread of 0.22-0.30 there, so 120 questions let the interval exclude zero from a gain of
about 0.04-0.055 (80 from about 0.05-0.065). Forty training questions still give gepa's 3-question minibatches
more variety than a 300-call budget uses."""


def question_key(example: QAExample) -> str:
    """The question text up to case and spacing: what makes two examples the same question."""
    return " ".join(example.question.lower().split())


@dataclass
class Split:
    """The three disjoint splits of a job, and how they were made."""

    train: list[QAExample]
    val: list[QAExample]
    test: list[QAExample]
    seed: int = 0
    repeated: list[str] = field(default_factory=list)
    """Ids left out because an earlier question had the same text."""
    joined: int = 0
    """Questions placed with another question they share a gold passage (or correction evidence) with."""

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "train": [e.id for e in self.train],
            "val": [e.id for e in self.val],
            "test": [e.id for e in self.test],
            "repeated": self.repeated,
            "joined": self.joined,
        }


def _groups(
    examples: list[QAExample], pinned: list[QAExample]
) -> tuple[list[list[QAExample]], list[str], set[int]]:
    """Distinct questions joined (union-find) by shared gold passages; which groups share a passage or the
    question text with a `pinned` example."""
    distinct: list[QAExample] = []
    seen: set[str] = set()
    repeated = []
    for example in examples:
        key = question_key(example)
        if key in seen:
            repeated.append(example.id)
            continue
        seen.add(key)
        distinct.append(example)
    parent = list(range(len(distinct)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, example in enumerate(distinct):
        for pid in example.gold_passage_ids:
            if pid in owner:
                parent[root(i)] = root(owner[pid])
            else:
                owner[pid] = i
    members: dict[int, list[QAExample]] = {}
    for i, example in enumerate(distinct):
        members.setdefault(root(i), []).append(example)
    groups = list(members.values())  # in dataset order of their first question: deterministic before shuffling
    pinned_passages = {pid for e in pinned for pid in e.gold_passage_ids}
    pinned_questions = {question_key(e) for e in pinned}
    touching = {
        n
        for n, group in enumerate(groups)
        if any(set(e.gold_passage_ids) & pinned_passages or question_key(e) in pinned_questions for e in group)
    }
    return groups, repeated, touching


def _fill(groups: list[int], sizes: dict[int, int], want: int | None, taken: set[int]) -> list[int]:
    """Whole groups, in order, while they fit in `want` questions (all of them when `want` is None)."""
    chosen, count = [], 0
    for n in groups:
        if n in taken or (want is not None and count + sizes[n] > want):
            continue
        chosen.append(n)
        taken.add(n)
        count += sizes[n]
        if want is not None and count == want:
            break
    return chosen


def make_split(
    examples: list[QAExample],
    *,
    train_size: int | None,
    val_size: int | None,
    test_size: int | None,
    seed: int,
    pinned: list[QAExample] | None = None,
) -> Split:
    """Seeded train/validation/test splits of whole passage-sharing groups (see the module docstring).

    Validation is filled from the front of the shuffled groups and test from the back, so the same seed gives
    the same validation questions whatever the test size. A group sharing a gold passage or the question text
    with a `pinned` example (a user correction, which the search validates on) never goes to test.

    Args:
        train_size: training questions (None: every question left over).
        val_size, test_size: None for `VAL_SHARE` / `TEST_SHARE` of the distinct questions (at least 1).

    Raises:
        JobError: the dataset cannot give every split its size.
    """
    groups, repeated, touching = _groups(examples, pinned or [])
    distinct = sum(len(g) for g in groups)
    val_want = val_size if val_size is not None else max(1, round(distinct * VAL_SHARE))
    test_want = test_size if test_size is not None else max(1, round(distinct * TEST_SHARE))
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    sizes = {n: len(g) for n, g in enumerate(groups)}
    taken: set[int] = set(touching)  # kept out of test: filled first, then released to validation and train
    test = _fill(list(reversed(order)), sizes, test_want, taken)
    taken -= touching
    val = _fill(order, sizes, val_want, taken)
    train = _fill(order, sizes, train_size, taken)

    def flat(chosen: list[int]) -> list[QAExample]:
        return [e for n in chosen for e in groups[n]]

    split = Split(flat(train), flat(val), flat(test), seed, repeated, sum(sizes[n] for n in order if sizes[n] > 1))
    short = [
        f"{name} {len(got)} of {want}"
        for name, got, want in (("validation", split.val, val_want), ("test", split.test, test_want))
        if len(got) < want
    ]
    if short or not split.train:
        raise JobError(
            f"the dataset has {distinct} distinct questions in {len(groups)} passage-sharing groups: too few for "
            f"the splits asked for ({', '.join(short) or 'no training question left'}); lower --val-limit or "
            "--test-limit"
        )
    return split


def disjoint(split: Split) -> dict[str, bool]:
    """Whether the splits share no question (id or text) and no gold passage, checked, not assumed."""
    parts = (split.train, split.val, split.test)

    def apart(key: Any) -> bool:
        sets = [{k for e in part for k in key(e)} for part in parts]
        return not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])

    return {
        "questions": apart(lambda e: [e.id, question_key(e)]),
        "passages": apart(lambda e: e.gold_passage_ids),
    }


def load_split(path: Path, examples: list[QAExample], **options: Any) -> Split:
    """The split saved at `path` (a resumed job never changes its questions), else a new `make_split(...)`
    saved there.

    Raises:
        JobError: a saved question id the dataset no longer holds, or splits that cannot be made.
    """
    by_id = {e.id: e for e in examples}
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        ids = [*saved["train"], *saved["val"], *saved.get("test", [])]
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise JobError(f"{path}: {len(missing)} saved question ids are not in the dataset any more")
        train, val, test = ([by_id[i] for i in saved.get(name, [])] for name in ("train", "val", "test"))
        return Split(
            train,
            val,
            test,
            seed=saved.get("seed", 0),
            repeated=saved.get("repeated", []),
            joined=saved.get("joined", 0),
        )
    split = make_split(examples, **options)
    path.write_text(json.dumps(split.to_json()), encoding="utf-8")
    return split


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
