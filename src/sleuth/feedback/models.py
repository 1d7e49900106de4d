"""Patch records: what a user submits (`PatchInput`), what is stored (`Patch`), and what `add` reports."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from sleuth.text import normalize_answer


class PatchStatus(StrEnum):
    active = "active"
    superseded = "superseded"
    retracted = "retracted"


class PatchError(ValueError):
    """A patch was refused (blank answer, missing evidence, oversized text, bad state change)."""


class PatchNotFound(KeyError):
    """No patch has this id."""

    def __str__(self) -> str:
        return f"no patch with id {self.args[0]!r}"


PATCH_ID = re.compile(r"p[0-9a-f]{12}")
"""Every id `new_patch_id` makes (match with `fullmatch`); an import with any other id is refused."""


def new_patch_id() -> str:
    return "p" + uuid.uuid4().hex[:12]


def utc_now() -> datetime:
    return datetime.now(UTC)


class PatchInput(BaseModel):
    """A correction as a user submits it (CLI, API, import)."""

    query: str
    """The question the earlier answer got wrong."""
    answer: str
    """The corrected answer."""
    evidence: str = ""
    """Text that supports the corrected answer (quoted to the agents, citable as a correction)."""
    evidence_passage_ids: list[str] = Field(default_factory=list)
    """Ids of indexed passages that support it."""
    author: str | None = None
    collection: str | None = None
    """The collection the correction applies to; None: every collection."""
    tenant: str | None = None
    """The tenant whose queries see it; None: shared by all tenants."""
    supersedes: str | None = None
    """Id of an active patch this one replaces (that patch becomes 'superseded')."""
    note: str = ""


class Patch(PatchInput):
    """A stored correction (PatchRAG patch): the submission plus id, time, status and flags."""

    id: str = Field(default_factory=new_patch_id)
    created_at: datetime = Field(default_factory=utc_now)
    status: PatchStatus = PatchStatus.active
    superseded_by: str | None = None
    flags: list[str] = Field(default_factory=list)
    """Warnings kept with the patch: 'no-evidence'."""

    def same_answer(self, other: Patch) -> bool:
        return normalize_answer(self.answer) == normalize_answer(other.answer)


@dataclass
class AddResult:
    """What `PatchStore.add` did: the stored patch and what it resembles.

    `near_duplicates` are active patches in the same scope whose query is nearly the same;
    `conflicts` are those among them with a different answer (supersede them explicitly, or both stay
    active and are reported as conflicting when retrieved).
    """

    patch: Patch
    near_duplicates: list[Patch] = field(default_factory=list)
    conflicts: list[Patch] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            **self.patch.model_dump(mode="json"),
            "near_duplicates": [p.id for p in self.near_duplicates],
            "conflicts": [p.id for p in self.conflicts],
            "superseded": self.superseded,
        }
