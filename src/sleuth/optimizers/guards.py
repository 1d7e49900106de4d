"""Guards on proposed prompts, the same for GEPA and the baseline: a rewrite that copies training data into a
prompt, grows past its cap, repeats the current text, echoes the reflection prompt's own instructions or holds no
instruction ("...") is refused before any agent runs it; and a warning when the budget cannot give each optimized
role a few proposals.

A refused proposal is re-asked (`replies.first_new_text`, told why); when every try is refused the iteration
proposes nothing (gepa then skips the minibatch run; the baseline goes on to its next iteration). Each
refusal is counted by reason and shown in the report.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sleuth.evals.datasets import QAExample
from sleuth.optimizers.briefs import DIAGNOSIS, rewrite_rules
from sleuth.retrieval.base import Passage
from sleuth.text import STOPWORDS

SHINGLE = 8
"""Words in a run shared with a training question or passage that makes a copy: 8 words of running text
almost never recur by chance outside the text they came from (a generic instruction shares 3- to 5-word runs
like "the answer is", never 8)."""
SHORT_QUESTION = 5
"""A training question shorter than `SHINGLE` words is matched whole, from this many words up."""
GROWTH_FLOOR = 400
"""Characters every role may grow by whatever its seed's length: the reflection prompt asks for the current
text plus 2 to 5 short rules (about 60 characters each), which a one-line seed (32 to 146 characters in
`minimal`) could not take at twice its length."""

ECHO = 5
"""Words in a run shared with the reflection prompt's own instructions that make an echo: a measured GEPA winner
(from `defaults`, 2026-12-04) ended in "### 2 to 5 Short Numbered Rules" and a dangling "1", the request turned
into a heading the agent then read. Five words, not `SHINGLE`: those instructions are short."""

MIN_WORDS = 3
"""Words a proposal needs to be an instruction at all: the shortest seed (`minimal`'s `Reply as JSON
{"answer": "..."}.`) has 4, and a measured run let "..." through to a minibatch of agent runs."""

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_LETTERS = re.compile(r"[^\W\d_]{2,}", re.UNICODE)


def words(text: str) -> list[str]:
    """Lowercase words and numbers, punctuation dropped: copies are found up to case and punctuation."""
    return _WORD.findall(text.casefold())


def _is_name(phrase: str) -> bool:
    """A phrase specific enough that finding it in a prompt means it was copied: two or more content words
    ("Steven Spielberg", "a box-office hit"), or one rare token: a word of three or more letters written
    capitalised ("Paris", "Alû"), or a number of three or more digits ("1975"). "yes", "a spirit" or "3" are
    not: a general instruction may say them."""
    content = [w for w in words(phrase) if w not in STOPWORDS]
    if len(content) >= 2:
        return True
    if len(content) != 1:
        return False
    word = content[0]
    if word.isdigit():
        return len(word) >= 3
    original = next((w for w in _WORD.findall(phrase) if w.casefold() == word), "")
    return len(word) >= 3 and original[:1].isupper()


def _contains(haystack: str, needle: str) -> bool:
    return f" {needle} " in f" {haystack} "


def _shingles(tokens: list[str], size: int = SHINGLE) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


@cache
def _instruction_runs(role: str) -> frozenset[tuple[str, ...]]:
    """`ECHO`-word runs of what the reflection prompt asks of the model for `role` (both methods ask it)."""
    return frozenset(_shingles(words(f"{DIAGNOSIS}\n{rewrite_rules(role)}"), ECHO))


@dataclass
class LeakGuard:
    """What the search trained on, to find in a proposed prompt. A proposal leaks when a part of it that the
    parent prompts and the seed do not already hold (so a hand-written seed's own example is no leak) is:

    1. a training gold answer or a title of a training gold passage that passes `_is_name`, as whole words
       up to case and punctuation (answers and titles are what the feedback names); or
    2. a run of `SHINGLE` words shared with a training question (or one of its decomposition steps), or a
       whole training question of `SHORT_QUESTION` words or more; or
    3. a run of `SHINGLE` words shared with a training gold passage or with any input the reflection model
       was shown (`observe`: the passages and transcripts of its minibatches).
    """

    names: set[str] = field(default_factory=set)
    question_runs: set[tuple[str, ...]] = field(default_factory=set)
    short_questions: set[str] = field(default_factory=set)
    passage_runs: set[tuple[str, ...]] = field(default_factory=set)

    @classmethod
    def of(cls, train: Iterable[QAExample], passages: Mapping[str, Passage]) -> LeakGuard:
        """The guard for a training split; `passages` maps gold passage ids to passages (others are skipped)."""
        guard = cls()
        for example in train:
            steps = example.meta.get("question_decomposition") or []
            questions = [example.question, *(str(s.get("question", "")) for s in steps if isinstance(s, dict))]
            for question in questions:
                tokens = words(question)
                guard.question_runs |= _shingles(tokens)
                if SHORT_QUESTION <= len(tokens) < SHINGLE:
                    guard.short_questions.add(" ".join(tokens))
            guard.names |= {" ".join(words(a)) for a in example.answers if _is_name(a)}
            for pid in example.gold_passage_ids:
                passage = passages.get(pid)
                if passage is not None:
                    guard.passage_runs |= _shingles(words(passage.text))
                    if passage.title and len([w for w in words(passage.title) if w not in STOPWORDS]) >= 2:
                        guard.names.add(" ".join(words(passage.title)))  # one-word titles are common nouns
        return guard

    def observe(self, texts: Iterable[str]) -> None:
        """Add what the reflection model is about to read (passages, transcripts) to the copy check."""
        for text in texts:
            self.passage_runs |= _shingles(words(text))

    def check(self, text: str, exempt: Iterable[str]) -> str | None:
        """Why `text` leaks training data (a short reason naming what was copied), or None."""
        tokens = words(text)
        joined = " ".join(tokens)
        already = [" ".join(words(e)) for e in exempt]
        for name in sorted(self.names):
            if _contains(joined, name) and not any(_contains(e, name) for e in already):
                return f"names a training answer or gold passage title: '{name}'"
        for question in sorted(self.short_questions):
            if _contains(joined, question) and not any(_contains(e, question) for e in already):
                return f"copies a training question: '{question}'"
        new = _shingles(tokens) - {run for e in already for run in _shingles(e.split())}
        for runs, what in ((self.question_runs, "a training question"), (self.passage_runs, "a passage")):
            copied = sorted(new & runs)
            if copied:
                return f"copies {SHINGLE} words of {what}: '{' '.join(copied[0])}'"
        return None


def growth_caps(seed: Mapping[str, str], growth: float, absolute: int | None = None) -> dict[str, int]:
    """Characters each role's prompt may reach: `growth` times its seed's length, and at least the seed's
    length plus `GROWTH_FLOOR`; never over `absolute` when given."""
    caps = {}
    for role, text in seed.items():
        cap = max(math.ceil(growth * len(text)), len(text) + GROWTH_FLOOR)
        caps[role] = min(cap, absolute) if absolute is not None else cap
    return caps


@dataclass
class ProposalGuard:
    """Every check a proposed text must pass, with a count of refusals by reason.

    Args:
        seed: the seed candidate (its texts are never a leak).
        caps: role -> most characters (`growth_caps`).
        leaks: the leak check (None: no training data to check against).
        on_reject: told of each refusal (the job's event log).
    """

    seed: Mapping[str, str]
    caps: Mapping[str, int]
    leaks: LeakGuard | None = None
    on_reject: Callable[[dict[str, Any]], None] | None = None
    rejected: Counter[str] = field(default_factory=Counter)

    def check(self, role: str, text: str, parent: Mapping[str, str]) -> str | None:
        """None when `text` may replace `parent[role]`; else the reason (also counted and reported)."""
        kind, reason = self._problem(role, text, parent)
        if kind is None:
            return None
        self.rejected[kind] += 1
        if self.on_reject is not None:
            self.on_reject({"event": "guard", "role": role, "kind": kind, "reason": reason, "chars": len(text)})
        return reason

    def _problem(self, role: str, text: str, parent: Mapping[str, str]) -> tuple[str | None, str]:
        if not text.strip():
            return "empty", "the reply held no instructions"
        if len(_LETTERS.findall(text)) < MIN_WORDS:
            return "empty", f"the reply holds fewer than {MIN_WORDS} words: no instruction"
        if text.strip() == parent.get(role, "").strip():
            return "copy", "the reply repeats the current text"
        cap = self.caps.get(role)
        if cap is not None and len(text) > cap:
            return "growth", f"{len(text)} characters, over the cap of {cap} for {role}"
        exempt = [*parent.values(), *self.seed.values()]
        echoed = _shingles(words(text), ECHO) & _instruction_runs(role)
        echoed -= {run for e in exempt for run in _shingles(words(e), ECHO)}
        if echoed:
            return "echo", f"repeats the reflection prompt's instructions: '{' '.join(sorted(echoed)[0])}'"
        if self.leaks is not None:
            leak = self.leaks.check(text, exempt)
            if leak:
                return "leak", leak
        return None, ""


def budget_warning(budget: int, roles: int, val_size: int, minibatch: int, per_role: int = 3) -> str | None:
    """A warning when `budget` metric calls cannot give each of `roles` roles `per_role` proposals after the
    seed's validation run (each proposal costs its parent's and its own minibatch run), else None."""
    needed = val_size + roles * per_role * 2 * minibatch
    if budget >= needed:
        return None
    return (
        f"the budget of {budget} metric calls is small for {roles} role(s): the seed's validation run takes "
        f"{val_size} and each proposal {2 * minibatch}, so a role gets fewer than {per_role} proposals; give at "
        f"least {needed} (plus {val_size} per accepted candidate), or fewer roles"
    )
