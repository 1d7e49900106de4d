"""What the store accepts and how it ranks: scoring weights, limits, and the checks on a new patch."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sleuth.config import Settings
from sleuth.feedback.models import PatchError, PatchInput


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
