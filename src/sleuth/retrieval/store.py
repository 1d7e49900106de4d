"""The passage store: one SQLite file per collection holding passages, sources and the commit generation.

It is the record of what is committed. The BM25 files and the Chroma vectors are derived from it: a crash
between writing vectors and committing here leaves extra vectors that searches ignore (and the next add
removes), and BM25 files built from an older generation are brought up to date on the next search:
extended with the passages added since, when adding is all that happened (`StoreMark`), else rebuilt.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleuth.retrieval.base import Passage
from sleuth.sqlite import Migration, open_db

# Named, ordered schema migrations (`sleuth.sqlite`), so an existing store upgrades in place.
MIGRATIONS: list[tuple[str, Migration]] = [
    (
        "001_initial",
        """
        CREATE TABLE passages (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            source TEXT NOT NULL,
            metadata TEXT NOT NULL
        );
        CREATE INDEX passages_source ON passages(source);
        CREATE TABLE sources (
            source TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            passages INTEGER NOT NULL,
            added_at REAL NOT NULL
        );
        CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO state VALUES ('generation', '0');
    """,
    ),
    (
        "002_passage_sources",
        # A passage (by id) may come from several sources; `passages.source` names the one that answers
        # for it, and this table every source that holds it, so deleting one source keeps what others hold.
        """
        CREATE TABLE passage_sources (
            source TEXT NOT NULL,
            passage_id TEXT NOT NULL,
            PRIMARY KEY (source, passage_id)
        ) WITHOUT ROWID;
        CREATE INDEX passage_sources_passage ON passage_sources(passage_id);
        INSERT INTO passage_sources SELECT source, id FROM passages;
        -- What a source shared with an earlier one was never recorded: forget its digest, so adding it
        -- again re-reads it (and records its links) instead of skipping it as unchanged.
        UPDATE sources SET digest = ''
            WHERE passages > (SELECT COUNT(*) FROM passage_sources l WHERE l.source = sources.source);
    """,
    ),
    (
        "003_rewrites",
        # Commits that changed or removed passages (not those that only added some): a derived index built
        # at the same count may be extended with the rows added since; at another count it is rebuilt.
        "INSERT OR IGNORE INTO state VALUES ('rewrites', '0');",
    ),
]


@dataclass(frozen=True)
class StoreMark:
    """Where the store stood when a derived index (BM25) was built from it."""

    generation: int
    last_seq: int
    """The last passage row (`seq`) then: rows added later have a larger one (AUTOINCREMENT never reuses)."""
    rewrites: int
    """Commits that had changed or removed passages by then."""
    passages: int
    """How many passages it held."""


@dataclass
class SourceChange:
    """What committing a new version of a source changed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    """Passages already there unchanged, or held by another source (duplicates, or kept on a delete)."""
    moved: list[str] = field(default_factory=list)
    """Passages kept because another source also holds them, that now name that source as theirs."""


class PassageStore:
    """Passages of one collection, keyed by id, in insertion order (`seq`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = open_db(path, MIGRATIONS)
        # One connection shared by the threads of a process (parallel readers search at once):
        # explicit transactions must not interleave on it.
        self._lock = threading.RLock()

    def close(self) -> None:
        self._db.close()

    # --- reads --------------------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """Bumped by every commit that changes the passages (what derived indexes are checked against)."""
        return int(self.state("generation") or 0)

    def state(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, value))

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0])

    def source_digest(self, source: str) -> str | None:
        row = self._db.execute("SELECT digest FROM sources WHERE source = ?", (source,)).fetchone()
        return row[0] if row else None

    def sources(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT source, passages, added_at FROM sources ORDER BY source")
        return [{"source": s, "passages": n, "added_at": t} for s, n, t in rows]

    def existing(self, ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._db.execute(f"SELECT id FROM passages WHERE id IN ({marks})", chunk))
        return found

    def get(self, passage_id: str) -> Passage | None:
        row = self._db.execute(
            "SELECT id, title, text, source, metadata FROM passages WHERE id = ?", (passage_id,)
        ).fetchone()
        return _passage(row) if row else None

    def get_many(self, ids: list[str]) -> dict[str, Passage]:
        out: dict[str, Passage] = {}
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT id, title, text, source, metadata FROM passages WHERE id IN ({marks})", chunk
            )
            out.update((row[0], _passage(row)) for row in rows)
        return out

    def iter_passages(self) -> Iterator[Passage]:
        """Every passage in insertion order (the order BM25 numbers documents in)."""
        rows = self._db.execute("SELECT id, title, text, source, metadata FROM passages ORDER BY seq")
        for row in rows:
            yield _passage(row)

    def snapshot(self) -> tuple[StoreMark, list[Passage]]:
        """Where the store stands and every passage, read in one transaction so the two agree."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                return self._mark(), list(self.iter_passages())
            finally:
                self._db.execute("COMMIT")

    def appended_since(self, mark: StoreMark) -> tuple[StoreMark, list[Passage]] | None:
        """The passages added after `mark` (in insertion order) and where the store stands now, if adding
        passages is all that changed since; None if any passage was changed or removed in between."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                now = self._mark()
                if (
                    now.rewrites != mark.rewrites
                    or now.last_seq < mark.last_seq
                    or now.generation < mark.generation
                ):
                    return None
                rows = self._db.execute(
                    "SELECT id, title, text, source, metadata FROM passages WHERE seq > ? ORDER BY seq",
                    (mark.last_seq,),
                )
                added = [_passage(row) for row in rows]
                # Belt and braces: the rows counted at the mark plus those added are all there are.
                return (now, added) if now.passages == mark.passages + len(added) else None
            finally:
                self._db.execute("COMMIT")

    def _mark(self) -> StoreMark:
        last_seq, count = self._db.execute("SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM passages").fetchone()
        return StoreMark(self.generation, int(last_seq), int(self.state("rewrites") or 0), int(count))

    def all_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT id FROM passages")}

    # --- writes (each one transaction) --------------------------------------------------------------
    def replace_source(self, source: str, digest: str, passages: list[Passage]) -> SourceChange:
        """Make `passages` the content of `source`, in one transaction.

        A passage whose id is new is added; one this source answers for is updated if its text, title or
        metadata changed; one another source answers for is only linked to this one (a duplicate); ids the
        source held before but no longer has are unlinked, and removed when no other source holds them.
        """
        keep = {p.id for p in passages}
        change = SourceChange()
        with self._transaction():
            linked = self._linked(source)
            owned = {
                r[0]: r[1:]
                for r in self._db.execute(
                    "SELECT id, title, text, metadata FROM passages WHERE source = ?", (source,)
                )
            }
            change.removed, change.moved = self._unlink(source, sorted(linked - keep))
            for p in passages:
                row = (p.title, p.text, json.dumps(p.metadata, ensure_ascii=False, default=str))
                if p.id in owned:
                    if owned[p.id] != row:
                        self._db.execute(
                            "UPDATE passages SET title = ?, text = ?, metadata = ? WHERE id = ?", (*row, p.id)
                        )
                        change.updated.append(p.id)
                    else:
                        change.unchanged += 1
                    continue
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO passages (id, title, text, source, metadata) VALUES (?, ?, ?, ?, ?)",
                    (p.id, p.title, p.text, source, row[2]),
                )
                if cursor.rowcount:
                    change.added.append(p.id)
                else:
                    change.unchanged += 1
            self._db.executemany(
                "INSERT OR IGNORE INTO passage_sources VALUES (?, ?)", ((source, pid) for pid in keep)
            )
            self._db.execute(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?)", (source, digest, len(passages), time.time())
            )
            if change.added or change.updated or change.removed or change.moved:
                self._bump(rewrite=bool(change.updated or change.removed))
        return change

    def delete_source(self, source: str) -> SourceChange | None:
        """Remove a source; its passages go unless another source holds them too (those stay, `unchanged`).

        Returns:
            What changed, or None when the collection has no such source.
        """
        with self._transaction():
            if self.source_digest(source) is None:
                return None
            linked = sorted(self._linked(source))
            change = SourceChange()
            change.removed, change.moved = self._unlink(source, linked)
            change.unchanged = len(linked) - len(change.removed)
            self._db.execute("DELETE FROM sources WHERE source = ?", (source,))
            if change.removed or change.moved:
                self._bump(rewrite=bool(change.removed))
        return change

    def _linked(self, source: str) -> set[str]:
        rows = self._db.execute("SELECT passage_id FROM passage_sources WHERE source = ?", (source,))
        return {r[0] for r in rows}

    def _unlink(self, source: str, ids: list[str]) -> tuple[list[str], list[str]]:
        """Unlink `ids` from `source` (inside a transaction).

        Returns:
            (ids removed because no source holds them any more, ids kept that another source now answers
            for). The new one is told to re-read on its next add (digest forgotten): its copy of a passage
            with a given id may differ from the one kept.
        """
        removed: list[str] = []
        moved: list[str] = []
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            self._db.execute(
                f"DELETE FROM passage_sources WHERE source = ? AND passage_id IN ({marks})", [source, *chunk]
            )
            orphans = [
                r[0]
                for r in self._db.execute(
                    f"SELECT id FROM passages WHERE id IN ({marks}) AND NOT EXISTS "
                    "(SELECT 1 FROM passage_sources l WHERE l.passage_id = passages.id)",
                    chunk,
                )
            ]
            for part in _chunks(orphans, 500):
                self._db.execute(f"DELETE FROM passages WHERE id IN ({','.join('?' * len(part))})", part)
            removed += orphans
            heirs = [
                r[0]
                for r in self._db.execute(
                    f"SELECT id FROM passages WHERE source = ? AND id IN ({marks})", [source, *chunk]
                )
            ]
            for part in _chunks(heirs, 500):
                part_marks = ",".join("?" * len(part))
                self._db.execute(
                    "UPDATE passages SET source = (SELECT MIN(l.source) FROM passage_sources l "
                    f"WHERE l.passage_id = passages.id) WHERE id IN ({part_marks})",
                    part,
                )
                self._db.execute(
                    "UPDATE sources SET digest = '' WHERE source IN "
                    f"(SELECT source FROM passages WHERE id IN ({part_marks}))",
                    part,
                )
            moved += heirs
        return removed, moved

    def _bump(self, *, rewrite: bool) -> None:
        """A new generation; a rewrite too when passages were changed or removed (not only added or moved to
        another source: their text, which BM25 indexes, is the same)."""
        keys = ("generation", "rewrites") if rewrite else ("generation",)
        self._db.execute(
            f"UPDATE state SET value = CAST(value AS INTEGER) + 1 WHERE key IN ({','.join('?' * len(keys))})", keys
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._lock)


class _Transaction:
    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._lock.release()


def _passage(row: tuple[str, str, str, str, str]) -> Passage:
    return Passage(id=row[0], title=row[1], text=row[2], source=row[3], metadata=json.loads(row[4]))


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
