"""The in-memory matrix of patch embeddings a store searches: one mat-vec per lookup, scope by masks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sleuth.feedback.scoring import mixed_matrix, top_k_above
from sleuth.retrieval.base import Vectors

_GLOBAL = 0  # scope code of "no collection" / "no tenant": such patches apply everywhere


@dataclass(frozen=True)
class CachedPatch:
    """What a lookup returns about one patch, without touching the database."""

    id: str
    query: str
    answer: str
    evidence: str
    evidence_passage_ids: tuple[str, ...]
    flags: tuple[str, ...]
    created_at: str
    supersedes: str | None
    collection: str | None
    tenant: str | None


class PatchMatrix:
    """Rows of λ·q_i + (1−λ)·c_i (and q_i alone, for duplicate checks) for every patch seen, with an
    active mask; updates are in place, so a write costs one row, not a rebuild."""

    def __init__(self, dim: int, lam: float, capacity: int = 1024) -> None:
        self.dim = dim
        self.lam = lam
        self.size = 0
        self.records: list[CachedPatch] = []
        self._row_of: dict[str, int] = {}
        self._codes: dict[str, int] = {}
        self._mixed = np.zeros((capacity, dim), dtype=np.float32)
        self._query = np.zeros((capacity, dim), dtype=np.float32)
        self._active = np.zeros(capacity, dtype=bool)
        self._collection = np.zeros(capacity, dtype=np.int32)
        self._tenant = np.zeros(capacity, dtype=np.int32)

    def __contains__(self, patch_id: str) -> bool:
        return patch_id in self._row_of

    @property
    def active_count(self) -> int:
        return int(self._active[: self.size].sum())

    def put(
        self, records: list[CachedPatch], query_vecs: Vectors, evidence_vecs: Vectors, active: list[bool]
    ) -> None:
        """Add or replace one row per record (vectors row-aligned with `records`)."""
        if not records:
            return
        mixed = mixed_matrix(query_vecs, evidence_vecs, self.lam)
        rows = []
        for record in records:
            row = self._row_of.get(record.id)
            if row is None:
                row = self.size
                self._grow(row + 1)
                self._row_of[record.id] = row
                self.records.append(record)
                self.size += 1
            else:
                self.records[row] = record
            rows.append(row)
        index = np.asarray(rows)
        self._mixed[index] = mixed
        self._query[index] = query_vecs
        self._active[index] = np.asarray(active, dtype=bool)
        self._collection[index] = [self._code(r.collection) for r in records]
        self._tenant[index] = [self._code(r.tenant) for r in records]

    def set_active(self, patch_id: str, active: bool) -> None:
        row = self._row_of.get(patch_id)
        if row is not None:
            self._active[row] = active

    def search(
        self, q_vec: Vectors, k: int, min_score: float, *, collection: str | None, tenant: str | None
    ) -> list[tuple[CachedPatch, float]]:
        """The best `k` active in-scope patches scoring at least `min_score`, best first."""
        if self.size == 0:
            return []
        scores = self._mixed[: self.size] @ q_vec.astype(np.float32)
        scores[~self.scope_mask(collection, tenant)] = -np.inf
        return [(self.records[i], float(scores[i])) for i in top_k_above(scores, k, min_score)]

    def similar_queries(
        self, q_vec: Vectors, threshold: float, *, collection: str | None, tenant: str | None
    ) -> list[tuple[CachedPatch, float]]:
        """Active patches in the scope whose query is at least `threshold` cosine-similar to `q_vec`."""
        if self.size == 0:
            return []
        sims = self._query[: self.size] @ q_vec.astype(np.float32)
        hits = np.flatnonzero((sims >= threshold) & self.scope_mask(collection, tenant))
        return [(self.records[i], float(sims[i])) for i in hits[np.argsort(-sims[hits], kind="stable")]]

    def query_similarity(self, a: str, b: str) -> float:
        return float(self._query[self._row_of[a]] @ self._query[self._row_of[b]])

    def scope_mask(self, collection: str | None, tenant: str | None) -> npt.NDArray[np.bool_]:
        """Active rows visible to a (collection, tenant): their own plus unscoped patches. A query with
        no tenant sees only shared patches, so one tenant's corrections never reach another's."""
        n = self.size
        mask = self._active[:n].copy()
        for codes, value in ((self._collection[:n], collection), (self._tenant[:n], tenant)):
            code = self._codes.get(value, -1) if value is not None else _GLOBAL
            mask &= (codes == _GLOBAL) | (codes == code)
        return mask

    def _code(self, value: str | None) -> int:
        if value is None:
            return _GLOBAL
        return self._codes.setdefault(value, len(self._codes) + 1)

    def _grow(self, needed: int) -> None:
        capacity = self._mixed.shape[0]
        if needed <= capacity:
            return
        capacity = max(needed, capacity * 2)
        for name in ("_mixed", "_query"):
            old = getattr(self, name)
            new = np.zeros((capacity, self.dim), dtype=np.float32)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)
        for name in ("_active", "_collection", "_tenant"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)
