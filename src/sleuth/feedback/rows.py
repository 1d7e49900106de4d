"""How a patch maps to a row of the `patches` table and back (for the store and its matrix cache)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from sleuth.database import Connection, IntegrityError
from sleuth.feedback.cache import CachedPatch
from sleuth.feedback.models import Patch, PatchError
from sleuth.retrieval.base import Embedder, Vectors

COLUMNS = (
    "id, query, answer, evidence, evidence_passage_ids, author, created_at, collection, tenant, status, "
    "supersedes, superseded_by, note, flags"
)


def embedder_key(embedder: Embedder) -> str:
    """Names the vector space: vectors from another embedder are re-made, never mixed."""
    name = getattr(embedder, "name", None) or getattr(embedder, "model_name", None) or type(embedder).__name__
    return f"{name}:{embedder.dim}"


def insert_patch(conn: Connection, patch: Patch, key: str, q_vec: Vectors, e_vec: Vectors, revision: int) -> None:
    try:
        conn.execute(
            f"INSERT INTO patches ({COLUMNS}, embedder, query_vec, evidence_vec, revision) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                patch.id,
                patch.query,
                patch.answer,
                patch.evidence,
                json.dumps(patch.evidence_passage_ids),
                patch.author,
                patch.created_at.isoformat(),
                patch.collection,
                patch.tenant,
                patch.status.value,
                patch.supersedes,
                patch.superseded_by,
                patch.note,
                json.dumps(patch.flags),
                key,
                np.asarray(q_vec, dtype=np.float32).tobytes(),
                np.asarray(e_vec, dtype=np.float32).tobytes(),
                revision,
            ),
        )
    except IntegrityError as exc:
        raise PatchError(f"a patch with id {patch.id} already exists") from exc


def patch_from_row(row: tuple[Any, ...]) -> Patch:
    keys = [c.strip() for c in COLUMNS.split(",")]
    data = dict(zip(keys, row, strict=True))
    data["evidence_passage_ids"] = json.loads(data["evidence_passage_ids"])
    data["flags"] = json.loads(data["flags"])
    return Patch.model_validate(data)


def cached_from_row(row: tuple[Any, ...]) -> CachedPatch:
    # Column order of COLUMNS: id, query, answer, evidence, evidence_passage_ids, author, created_at,
    # collection, tenant, status, supersedes, superseded_by, note, flags.
    return CachedPatch(
        id=row[0],
        query=row[1],
        answer=row[2],
        evidence=row[3],
        evidence_passage_ids=tuple(json.loads(row[4])),
        flags=tuple(json.loads(row[13])),
        created_at=row[6],
        supersedes=row[10],
        collection=row[7],
        tenant=row[8],
    )
