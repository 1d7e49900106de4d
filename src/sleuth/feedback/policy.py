"""What the store accepts and how it ranks: scoring weights, limits, and the checks on a new patch."""

from __future__ import annotations

from datetime import UTC, timedelta

from pydantic import BaseModel, Field

from sleuth.config import Settings
from sleuth.feedback.models import Patch, PatchError, PatchInput, utc_now

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future an imported `created_at` may be (another machine's clock) and still be kept."""


class PatchPolicy(BaseModel):
    """Scoring and acceptance rules of a `PatchStore` (defaults from `Settings.patch_*`)."""

    lam: float = Field(default=0.5, ge=0.0, le=1.0)
    """λ in S = λ·cos(q, q_i) + (1−λ)·cos(q, c_i)."""
    top_k: int = Field(default=3, ge=0)
    min_score: float = 0.55
    require_evidence: bool = False
    """True: refuse patches without evidence; False: keep them flagged 'no-evidence'."""
    max_chars: int = Field(default=8000, gt=0)
    duplicate_threshold: float = 0.9

    @classmethod
    def from_settings(cls, settings: Settings) -> PatchPolicy:
        return cls(
            lam=settings.patch_lambda,
            top_k=settings.patch_top_k,
            min_score=settings.patch_min_score,
            require_evidence=settings.patch_require_evidence,
            max_chars=settings.patch_max_chars,
            duplicate_threshold=settings.patch_duplicate_threshold,
        )


def check_patch(patch: PatchInput, policy: PatchPolicy) -> list[str]:
    """Refuse a patch that cannot be used, or return the warnings to keep with it.

    Raises:
        PatchError: blank query or answer, oversized text, or no evidence when evidence is required.
    """
    if not patch.query.strip():
        raise PatchError("the patch has a blank query: say which question it corrects")
    if not patch.answer.strip():
        # A blank correction would only erase an answer; it must never override retrieved evidence.
        raise PatchError("the patch has a blank answer: give the corrected answer")
    for name in ("query", "answer", "evidence"):
        size = len(getattr(patch, name))
        if size > policy.max_chars:
            raise PatchError(
                f"the patch's {name} has {size} characters, more than the limit of {policy.max_chars} "
                "(SLEUTH_PATCH_MAX_CHARS): quote only the passage that supports the answer"
            )
    has_evidence = bool(patch.evidence.strip() or [p for p in patch.evidence_passage_ids if p.strip()])
    if has_evidence:
        return []
    if policy.require_evidence:
        raise PatchError(
            "the patch has no evidence: add --evidence TEXT, --evidence-file or --passage-id "
            "(or set SLEUTH_PATCH_REQUIRE_EVIDENCE=false to keep it flagged 'no-evidence')"
        )
    return ["no-evidence"]


def as_imported(patch: Patch, policy: PatchPolicy, *, tenant: str | None, author: str | None) -> Patch:
    """An exported patch re-checked as if it were submitted now by the importer.

    A file can claim anything, so the importer decides the tenant and the author, and the flags are the
    policy's verdict (an evidence-free patch is flagged 'no-evidence' whatever the file says). The
    original time is kept when it is not later than now plus `CLOCK_SKEW` (a time without a zone is read
    as UTC); a later one would win every newest-first conflict, so it becomes the import time.

    Raises:
        PatchError: the policy refuses the patch, as it would refuse the same submission.
    """
    flags = check_patch(patch, policy)
    now = utc_now()
    created = patch.created_at if patch.created_at.tzinfo else patch.created_at.replace(tzinfo=UTC)
    return patch.model_copy(
        update={
            "tenant": tenant,
            "author": author,
            "flags": flags,
            "created_at": created if created <= now + CLOCK_SKEW else now,
        }
    )
