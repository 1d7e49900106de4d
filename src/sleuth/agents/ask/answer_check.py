"""Whether a short answer rests on the run's evidence (a retrieved passage or a correction's evidence), and
the quotes it rests on.

The ASP loop takes the model's words as the answer; an answer no passage holds is a guess, and a guess
printed as the answer (with no sources, exit 0) is what "search, do not guess" rules out. Both strategies
(the ASP loop and `grounded`) apply this one rule, on `grounding.grounding_passage`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sleuth.agents.ask.grounding import (
    asks_yes_no,
    grounding_passage,
    is_yes_no,
    side_quotes,
    supporting_quotes,
)
from sleuth.agents.ask.parse import best_sentence
from sleuth.agents.records import Citation
from sleuth.agents.support import content_words
from sleuth.feedback.base import PatchView
from sleuth.feedback.render import patch_as_passage
from sleuth.retrieval.base import Passage

UNVOUCHED_FLAGS = frozenset({"no-evidence", "blank-answer"})
"""A correction so flagged has no evidence of its own: it must not ground the answer it asserts."""


def evidence_passages(patches: Iterable[PatchView]) -> list[Passage]:
    """The corrections that may ground an answer, as citable passages (those with evidence, unflagged)."""
    return [patch_as_passage(p) for p in patches if p.evidence.strip() and not UNVOUCHED_FLAGS & set(p.flags)]


def is_grounded(question: str, answer: str, passages: Sequence[Passage]) -> bool:
    """Yes/no to a yes/no question, or an answer whose content words one of `passages` holds.

    Args:
        question: what was asked (decides whether yes/no can answer it).
        answer: the candidate answer.
        passages: the retrieved passages, then `evidence_passages` of the corrections shown.
    """
    if not answer.strip():
        return False
    if is_yes_no(answer):
        return asks_yes_no(question)
    return grounding_passage(answer, passages, slack=1) is not None


def cite(question: str, answer: str, sources: Sequence[Passage]) -> list[Citation]:
    """The citations of a short answer: the passages that contain it, then, for a comparison, each side's
    deciding sentence; for a bare yes/no with nothing to quote, the two passages closest to the question.

    Args:
        question: what was asked.
        answer: the accepted answer.
        sources: `evidence_passages` of the corrections shown, then the pooled passages.
    """
    pairs = [] if is_yes_no(answer) else supporting_quotes(answer, sources)
    pairs += [pair for pair in side_quotes(question, sources) if pair[0] not in [p for p, _ in pairs]]
    if not pairs and is_yes_no(answer):
        words = content_words(question)
        ranked = sorted(sources, key=lambda p: -len(words & content_words(f"{p.title} {p.text}")))
        pairs = [(p, best_sentence(p.text, question)) for p in ranked[:2]]
    return [Citation.of(p, q, n) for n, (p, q) in enumerate(pairs, start=1)]
