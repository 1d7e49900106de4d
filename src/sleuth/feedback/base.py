"""The interface the agents use to consult user corrections, and the records it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class PatchView:
    """What an agent sees of one stored correction (PatchRAG patch) for the current query."""

    id: str
    query: str
    answer: str
    evidence: str
    score: float
    """S(q) = λ·sim(q, patch query) + (1−λ)·sim(q, patch evidence)."""
    evidence_passage_ids: tuple[str, ...] = ()
    flags: tuple[str, ...] = field(default_factory=tuple)
    """Warnings kept with the patch, e.g. 'no-evidence', 'conflict'."""
    conflicts_with: tuple[str, ...] = ()
    """Ids of other returned active patches for the same question with a different answer (never merged;
    the newest wins: supersession first, then recency)."""
    created_at: str = ""
    """ISO-8601 UTC submission time."""


@runtime_checkable
class PatchSource(Protocol):
    """Finds the corrections relevant to a query (top-k above a minimum score)."""

    def relevant(
        self, query: str, *, collection: str | None = None, tenant: str | None = None
    ) -> list[PatchView]: ...


class NoPatches:
    """A `PatchSource` with no corrections (the default when no feedback store is configured)."""

    def relevant(self, query: str, *, collection: str | None = None, tenant: str | None = None) -> list[PatchView]:
        return []
