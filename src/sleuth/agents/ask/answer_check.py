"""Whether a short answer rests on the run's evidence: a retrieved passage or a correction's evidence.

The ASP loop takes the model's words as the answer; an answer no passage holds is a guess, and a guess
printed as the answer (with no sources, exit 0) is what "search, do not guess" rules out. Both strategies
(the ASP loop and `grounded`) apply this one rule, on `grounding.grounding_passage`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sleuth.agents.ask.grounding import asks_yes_no, grounding_passage, is_yes_no
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
