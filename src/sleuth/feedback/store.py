"""The durable patch store: SQLite or Postgres (one transaction per write) plus an in-memory matrix for lookups.

An `add` returns only after its transaction is committed (SQLite with `synchronous=FULL`, Postgres with its
default `synchronous_commit=on`), so an acknowledged patch survives kill -9 (and power loss). Several
processes, on one machine or, on Postgres, several, may write at once: each write first bumps the one
revision counter, which takes the write lock (SQLite's `BEGIN IMMEDIATE`, a row lock on Postgres), so
writes are serialised. Every process keeps its own matrix of active patches; before each lookup it reads
the counter (one indexed row) and, when another writer moved it, loads only the rows stamped with a newer
revision, so lookups stay one mat-vec.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.database import Connection, open_database
from sleuth.feedback.base import PatchView
from sleuth.feedback.cache import CachedPatch, PatchMatrix
from sleuth.feedback.migrations import MIGRATIONS
from sleuth.feedback.models import AddResult, Patch, PatchError, PatchInput, PatchNotFound, PatchStatus
from sleuth.feedback.policy import PatchPolicy, as_imported, check_patch
from sleuth.feedback.rows import COLUMNS, cached_from_row, embedder_key, insert_patch, patch_from_row
from sleuth.retrieval.base import Embedder, Vectors


class PatchStore:
    """User corrections on SQLite or Postgres, searchable by PatchRAG's dual score; a `PatchSource` for the agents.

    Args:
        location: the SQLite file (created with its folder if missing), or a `postgresql://` URL.
        embedder: embeds patch queries, evidence and lookup queries (the retrieval embedder).
        policy: scoring weights, top-k, minimum score and acceptance rules.
        busy_timeout_ms: how long a write waits for another process's write lock.
    """

    def __init__(
        self,
        location: Path | str,
        embedder: Embedder,
        policy: PatchPolicy | None = None,
        *,
        busy_timeout_ms: int = 30_000,
    ) -> None:
        self.embedder = embedder
        self.policy = policy or PatchPolicy()
        self._key_cache: str | None = None
        self._lock = threading.RLock()
        self.db = open_database(location, MIGRATIONS, namespace="patches", busy_timeout_ms=busy_timeout_ms)
        # Built on the first lookup or add, so list/show/retract never load the embedding model.
        self._matrix_cache: PatchMatrix | None = None
        self._revision = -1  # the newest row revision in the matrix
        self._counter = -1  # the store's revision counter when the matrix was last brought up to date

    @property
    def _key(self) -> str:
        if self._key_cache is None:
            self._key_cache = embedder_key(self.embedder)
        return self._key_cache

    @property
    def _matrix(self) -> PatchMatrix:
        if self._matrix_cache is None:
            matrix = PatchMatrix(self.embedder.dim, self.policy.lam)
            with self._lock:
                self._load_changes(matrix)
                self._matrix_cache = matrix
        return self._matrix_cache

    # --- lookups -------------------------------------------------------------------------------------

    def relevant(self, query: str, *, collection: str | None = None, tenant: str | None = None) -> list[PatchView]:
        """The policy's top-k active patches in scope for `query`, scored at least `min_score`."""
        return self.search(query, self.policy.top_k, collection=collection, tenant=tenant)

    def search(
        self,
        query: str,
        k: int,
        *,
        collection: str | None = None,
        tenant: str | None = None,
        min_score: float | None = None,
    ) -> list[PatchView]:
        """Top `k` active patches by S = λ·cos(q, q_i) + (1−λ)·cos(q, c_i), conflicts flagged."""
        q_vec = self.embedder.embed([query])[0]
        return self.search_vector(q_vec, k, collection=collection, tenant=tenant, min_score=min_score)

    def search_vector(
        self,
        q_vec: Vectors,
        k: int,
        *,
        collection: str | None = None,
        tenant: str | None = None,
        min_score: float | None = None,
    ) -> list[PatchView]:
        """`search` with the query already embedded."""
        self._refresh_if_changed()
        with self._lock:
            threshold = self.policy.min_score if min_score is None else min_score
            hits = self._matrix.search(q_vec, k, threshold, collection=collection, tenant=tenant)
            return self._views(hits)

    def _views(self, hits: list[tuple[CachedPatch, float]]) -> list[PatchView]:
        # Two returned patches for (nearly) the same question with different answers are both shown and
        # flagged, never merged; the newer one is preferred (supersession already removed older ones).
        rivals: dict[str, list[str]] = {rec.id: [] for rec, _ in hits}
        for i, (a, _) in enumerate(hits):
            for b, _ in hits[i + 1 :]:
                same_question = self._matrix.query_similarity(a.id, b.id) >= self.policy.duplicate_threshold
                if same_question and not _same_answer(a.answer, b.answer):
                    rivals[a.id].append(b.id)
                    rivals[b.id].append(a.id)
        views = []
        for rec, score in hits:
            flags = list(rec.flags)
            if rivals[rec.id]:
                flags.append("conflict")
                newest = max([rec] + [r for r, _ in hits if r.id in rivals[rec.id]], key=lambda r: r.created_at)
                if newest.id != rec.id:
                    flags.append("older-conflict")
            views.append(
                PatchView(
                    id=rec.id,
                    query=rec.query,
                    answer=rec.answer,
                    evidence=rec.evidence,
                    score=score,
                    evidence_passage_ids=rec.evidence_passage_ids,
                    flags=tuple(flags),
                    conflicts_with=tuple(rivals[rec.id]),
                    created_at=rec.created_at,
                )
            )
        return views

    def get(self, patch_id: str) -> Patch:
        with self._lock, self.db.connect() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM patches WHERE id = ?", (patch_id,)).fetchone()
        if row is None:
            raise PatchNotFound(patch_id)
        return patch_from_row(row)

    def count(self) -> int:
        with self._lock, self.db.connect() as conn:
            return int(conn.execute("SELECT count(*) FROM patches").fetchone()[0])

    # --- writes --------------------------------------------------------------------------------------

    def add(self, submission: PatchInput) -> AddResult:
        """Check, embed and store a correction; returns after it is durably committed.

        When `submission.supersedes` names an active patch, that patch becomes 'superseded' in the same
        transaction. Near-duplicates of active patches are listed in the result, and those with a
        different answer as `conflicts` (offer to supersede them; they are not changed).

        Raises:
            PatchError: refused by the policy (blank answer, no evidence when required, oversized).
            PatchNotFound: `supersedes` names no patch.
        """
        flags = check_patch(submission, self.policy)
        patch = Patch(**submission.model_dump(), flags=flags)
        q_vec, e_vec = self._embed_pairs([patch])
        self._refresh_if_changed()
        with self._lock:
            similar = self._matrix.similar_queries(
                q_vec[0], self.policy.duplicate_threshold, collection=patch.collection, tenant=patch.tenant
            )
        near = [self.get(rec.id) for rec, _ in similar if rec.id != patch.supersedes]
        conflicts = [p for p in near if not _same_answer(p.answer, patch.answer)]

        def write(conn: Connection, revision: int) -> None:
            if patch.supersedes is not None:
                self._mark_superseded(conn, patch.supersedes, patch.id, revision)
            insert_patch(conn, patch, self._key, q_vec[0], e_vec[0], revision)

        self._write(write)
        superseded = [patch.supersedes] if patch.supersedes else []
        return AddResult(patch=patch, near_duplicates=near, conflicts=conflicts, superseded=superseded)

    def supersede(self, old_id: str, submission: PatchInput) -> AddResult:
        """Store `submission` as the replacement of the active patch `old_id` (one transaction)."""
        return self.add(submission.model_copy(update={"supersedes": old_id}))

    def mark_superseded(self, old_id: str, by_id: str) -> Patch:
        """Mark active patch `old_id` as superseded by the existing patch `by_id`."""
        if old_id == by_id:
            raise PatchError("a patch cannot supersede itself")
        self.get(by_id)
        self._write(lambda conn, revision: self._mark_superseded(conn, old_id, by_id, revision))
        return self.get(old_id)

    def retract(self, patch_id: str, note: str = "") -> Patch:
        """Withdraw a patch: it stays on record (status 'retracted') but is never retrieved again."""

        def write(conn: Connection, revision: int) -> None:
            current = self._status(conn, patch_id)
            if current == PatchStatus.retracted:
                raise PatchError(f"patch {patch_id} is already retracted")
            conn.execute(
                "UPDATE patches SET status = 'retracted', note = CASE WHEN ? = '' THEN note ELSE ? END, "
                "revision = ? WHERE id = ?",
                (note, note, revision, patch_id),
            )

        self._write(write)
        return self.get(patch_id)

    def import_patches(
        self, patches: Iterable[Patch], *, tenant: str | None = None, author: str | None = None
    ) -> tuple[int, int]:
        """Store exported patches in one transaction: ids and status kept, the rest re-checked.

        Each patch goes through `as_imported`: `tenant` and `author` are the importer's (None: shared,
        anonymous), flags are recomputed by the policy, a `created_at` in the future becomes now.

        Returns:
            (added, skipped): patches whose id already exists are skipped, not overwritten.

        Raises:
            PatchError: the policy refuses one of them (then nothing is stored).
        """
        items = [as_imported(patch, self.policy, tenant=tenant, author=author) for patch in patches]
        with self._lock, self.db.connect() as conn:
            existing = {r[0] for r in conn.execute("SELECT id FROM patches")}
        fresh = [p for p in items if p.id not in existing]
        fresh = list({p.id: p for p in fresh}.values())
        q_vecs, e_vecs = self._embed_pairs(fresh) if fresh else (None, None)

        def write(conn: Connection, revision: int) -> None:
            for i, patch in enumerate(fresh):
                assert q_vecs is not None and e_vecs is not None
                insert_patch(conn, patch, self._key, q_vecs[i], e_vecs[i], revision)

        if fresh:
            self._write(write)
        return len(fresh), len(items) - len(fresh)

    # --- internals -----------------------------------------------------------------------------------

    def _write(self, change: Any) -> None:
        """Run `change(conn, revision)` in one IMMEDIATE transaction, then load the rows it touched."""
        with self._lock:
            with self.db.transaction() as conn:
                # The counter's row is the write lock on Postgres: revisions commit in the order they are taken.
                conn.execute("UPDATE store_meta SET value = value + 1 WHERE key = 'revision'")
                revision = conn.execute("SELECT value FROM store_meta WHERE key = 'revision'").fetchone()[0]
                change(conn, revision)
            if self._matrix_cache is not None:
                self.refresh()

    def _status(self, conn: Connection, patch_id: str) -> PatchStatus:
        row = conn.execute("SELECT status FROM patches WHERE id = ?", (patch_id,)).fetchone()
        if row is None:
            raise PatchNotFound(patch_id)
        return PatchStatus(row[0])

    def _mark_superseded(self, conn: Connection, old_id: str, by_id: str, revision: int) -> None:
        status = self._status(conn, old_id)
        if status != PatchStatus.active:
            raise PatchError(f"patch {old_id} is {status.value}, only an active patch can be superseded")
        conn.execute(
            "UPDATE patches SET status = 'superseded', superseded_by = ?, revision = ? WHERE id = ?",
            (by_id, revision, old_id),
        )

    def _embed_pairs(self, patches: list[Patch]) -> tuple[Vectors, Vectors]:
        # Evidence-free patches use their answer as c_i, so they can still match a near-identical query.
        texts = [p.query for p in patches] + [p.evidence.strip() or p.answer for p in patches]
        vecs = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        return vecs[: len(patches)], vecs[len(patches) :]

    def _refresh_if_changed(self) -> None:
        # One indexed row, on every lookup: how a server sees a correction another server just made.
        with self._lock:
            if self._read_counter() != self._counter:
                self.refresh()

    def _read_counter(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute("SELECT value FROM store_meta WHERE key = 'revision'").fetchone()[0])

    def refresh(self) -> None:
        """Load into the matrix every row changed since the last refresh (re-embedding foreign vectors)."""
        with self._lock:
            if self._matrix_cache is None:
                self._matrix  # noqa: B018 - building the matrix loads every row
            else:
                self._load_changes(self._matrix_cache)

    def _load_changes(self, matrix: PatchMatrix) -> None:
        with self._lock:
            # The counter first: a write committed between the two reads is loaded now and seen again later.
            self._counter = self._read_counter()
            with self.db.connect() as conn:
                rows = conn.execute(
                    f"SELECT {COLUMNS}, embedder, query_vec, evidence_vec, revision FROM patches "
                    "WHERE revision > ? ORDER BY revision",
                    (self._revision,),
                ).fetchall()
            if not rows:
                return
            records = [cached_from_row(r) for r in rows]  # no pydantic here: 100k rows load in seconds
            q_vecs = np.zeros((len(rows), self.embedder.dim), dtype=np.float32)
            e_vecs = np.zeros_like(q_vecs)
            stale = []
            for i, row in enumerate(rows):
                if row[14] == self._key and row[15] is not None:
                    q_vecs[i] = np.frombuffer(row[15], dtype=np.float32)
                    e_vecs[i] = np.frombuffer(row[16], dtype=np.float32)
                else:
                    stale.append(i)
            if stale:
                patches = [patch_from_row(rows[i][:14]) for i in stale]
                q_vecs[stale], e_vecs[stale] = self._embed_pairs(patches)
                self._store_vectors([p.id for p in patches], q_vecs[stale], e_vecs[stale])
            matrix.put(records, q_vecs, e_vecs, [r[9] == PatchStatus.active.value for r in rows])
            self._revision = max(self._revision, max(r[17] for r in rows))

    def _store_vectors(self, ids: list[str], q_vecs: Vectors, e_vecs: Vectors) -> None:
        # Re-embedded vectors are a cache, not a change: the revision is left alone so other processes
        # (perhaps with another embedder) do not reload and re-embed in turn.
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE patches SET embedder = ?, query_vec = ?, evidence_vec = ? WHERE id = ?",
                [
                    (self._key, q.tobytes(), e.tobytes(), pid)
                    for pid, q, e in zip(ids, q_vecs, e_vecs, strict=True)
                ],
            )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> PatchStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Last in the class body: a method named `list` would shadow the builtin in later annotations.
    def list(
        self,
        *,
        status: PatchStatus | None = PatchStatus.active,
        collection: str | None = None,
        tenant: str | None = None,
    ) -> list[Patch]:
        """Patches, oldest first; `status=None` lists every status; a scope filter matches exactly."""
        where, args = [], []
        for column, value in (("status", status), ("collection", collection), ("tenant", tenant)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(str(value))
        sql = f"SELECT {COLUMNS} FROM patches" + (f" WHERE {' AND '.join(where)}" if where else "")
        with self._lock, self.db.connect() as conn:
            # Patches imported in one write share a revision: their ids keep the order the same everywhere.
            rows = conn.execute(sql + " ORDER BY created_at, revision, id", args).fetchall()
        return [patch_from_row(r) for r in rows]


def _same_answer(a: str, b: str) -> bool:
    from sleuth.text import normalize_answer

    return normalize_answer(a) == normalize_answer(b)
