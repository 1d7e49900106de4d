"""`sleuth.sqlite`: every store opens its file with the same strict pragmas and one migration runner, and a
database written by the code before the runner was shared still opens, keeps its rows, and upgrades."""

from __future__ import annotations

import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sleuth.feedback.store import PatchStore
from sleuth.llm.cache import CachedModel
from sleuth.retrieval.store import PassageStore
from sleuth.server.db import MIGRATIONS as SERVER_MIGRATIONS
from sleuth.server.db import ServerDB
from sleuth.server.jobs import JobRegistry
from sleuth.sqlite import connect, migrate
from sleuth.testing import HashEmbedder, ScriptedLLM


def pragmas(conn: sqlite3.Connection) -> dict[str, Any]:
    return {
        name: conn.execute(f"PRAGMA {name}").fetchone()[0]
        for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
    }


STRICT = {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 30_000, "foreign_keys": 1}


def test_connect_opens_an_owner_only_file_with_the_strict_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "new" / "x.sqlite"
    conn = connect(path)
    assert pragmas(conn) == STRICT
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    "open_store",
    [
        lambda home: PatchStore(home / "patches.sqlite", HashEmbedder()).db.sqlite,  # type: ignore[attr-defined]
        lambda home: ServerDB(home / "server.sqlite").db.sqlite,  # type: ignore[attr-defined]
        lambda home: PassageStore(home / "passages.sqlite")._db,
        lambda home: CachedModel(ScriptedLLM(), home / "llm.sqlite")._db,
    ],
    ids=["patches", "server", "passages", "llm-cache"],
)
def test_every_store_opens_its_file_the_same_strict_way(
    tmp_path: Path, open_store: Callable[[Path], sqlite3.Connection]
) -> None:
    conn = open_store(tmp_path)
    assert pragmas(conn) == STRICT
    assert conn.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] >= 1


def test_migrations_apply_once_in_order_and_a_failing_one_leaves_nothing(tmp_path: Path) -> None:
    conn = connect(tmp_path / "m.sqlite")

    def broken(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half (x)")
        raise RuntimeError("migration bug")

    steps: list[tuple[str, Any]] = [
        ("m001_a", "CREATE TABLE a (x TEXT); INSERT INTO a VALUES ('semi;colon'); -- a note; with a semicolon"),
        ("m002_b", lambda c: c.execute("CREATE TABLE b (x)")),
    ]
    assert migrate(conn, steps) == ["m001_a", "m002_b"]
    assert migrate(conn, steps) == []
    with pytest.raises(RuntimeError, match="migration bug"):
        migrate(conn, [*steps, ("m003_broken", broken)])
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    assert [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")] == ["m001_a", "m002_b"]
    assert conn.execute("SELECT x FROM a").fetchone()[0] == "semi;colon"


# --- databases as the code before `sleuth.sqlite` wrote them (statements frozen from that code) --------


def test_an_old_passage_store_keeps_its_passages_and_gets_the_newer_migration(tmp_path: Path) -> None:
    path = tmp_path / "passages.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    # Its own bookkeeping: `applied_at REAL`, the migration and its record in one executescript.
    old.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    old.executescript(
        """BEGIN;
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
        """
        + f"INSERT INTO _migrations VALUES ('001_initial', {time.time()}); COMMIT;"
    )
    old.execute(
        "INSERT INTO passages (id, title, text, source, metadata) VALUES ('p1', 'T', 'Text.', 'a.jsonl', '{}')"
    )
    old.execute("INSERT INTO sources VALUES ('a.jsonl', 'digest-a', 1, 0)")
    old.execute("UPDATE state SET value = '3' WHERE key = 'generation'")
    old.close()

    store = PassageStore(path)
    assert store.count() == 1 and store.get("p1") is not None and store.generation == 3
    assert store.source_digest("a.jsonl") == "digest-a"  # linked by 002, so still known as unchanged
    assert store._db.execute("SELECT source, passage_id FROM passage_sources").fetchall() == [("a.jsonl", "p1")]
    names = [r[0] for r in store._db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == ["001_initial", "002_passage_sources", "003_rewrites"]
    assert store.state("rewrites") == "0"  # counted from the upgrade on
    assert store.delete_source("a.jsonl") is not None and store.count() == 0  # the upgraded store works
    assert store.state("rewrites") == "1"


def test_an_old_server_database_keeps_its_tokens_and_jobs(tmp_path: Path) -> None:
    path = tmp_path / "server.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    old.execute(
        """CREATE TABLE tokens (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, tenant TEXT,
        name TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, revoked_at TEXT)"""
    )
    old.execute(
        """CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, token_id TEXT NOT NULL,
        tenant TEXT, action TEXT NOT NULL, patch_id TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '{}')"""
    )
    old.execute("CREATE INDEX audit_patch ON audit (patch_id)")
    old.execute(
        """CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, request TEXT NOT NULL,
        token_id TEXT, tenant TEXT, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, result TEXT,
        error TEXT, events TEXT NOT NULL DEFAULT '[]')"""
    )
    for name in ("m001_tokens", "m002_audit", "m003_jobs"):
        old.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, '2024-01-01T00:00:00+00:00')", (name,))
    old.execute("INSERT INTO tokens (id, hash, role, created_at) VALUES ('t1', 'h1', 'admin', 'then')")
    old.execute(
        "INSERT INTO jobs (id, kind, status, request, created_at, events) VALUES ('j1', 'ask', 'succeeded', '{}', "
        """'then', '[{"type": "search", "seq": 0}, {"type": "answer", "seq": 1}]')"""
    )
    old.close()

    db = ServerDB(path)
    with db.connect() as conn:
        assert [r["id"] for r in conn.execute("SELECT id FROM tokens")] == ["t1"]
        assert [r["status"] for r in conn.execute("SELECT status FROM jobs")] == ["succeeded"]
    assert migrate(db.db.sqlite, SERVER_MIGRATIONS) == []  # type: ignore[attr-defined]
    # m004 moved the events saved whole into a row each: the job reads back as it was.
    job = JobRegistry(db).get("j1")
    assert job is not None and [e["type"] for e in job.events] == ["search", "answer"]


def test_an_old_patch_database_keeps_its_patches(tmp_path: Path) -> None:
    path = tmp_path / "patches.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    old.execute(
        """CREATE TABLE patches (id TEXT PRIMARY KEY, query TEXT NOT NULL, answer TEXT NOT NULL,
        evidence TEXT NOT NULL DEFAULT '', evidence_passage_ids TEXT NOT NULL DEFAULT '[]', author TEXT,
        created_at TEXT NOT NULL, collection TEXT, tenant TEXT, status TEXT NOT NULL DEFAULT 'active',
        supersedes TEXT, superseded_by TEXT, note TEXT NOT NULL DEFAULT '', flags TEXT NOT NULL DEFAULT '[]')"""
    )
    old.execute("CREATE INDEX patches_scope ON patches (status, collection, tenant)")
    for column in ("embedder TEXT", "query_vec BLOB", "evidence_vec BLOB"):
        old.execute(f"ALTER TABLE patches ADD COLUMN {column}")
    old.execute("CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    old.execute("INSERT INTO store_meta (key, value) VALUES ('revision', 0)")
    old.execute("ALTER TABLE patches ADD COLUMN revision INTEGER NOT NULL DEFAULT 0")
    old.execute("CREATE INDEX patches_revision ON patches (revision)")
    for name in ("m001_patches", "m002_embeddings", "m003_revisions"):
        old.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, '2024-01-01T00:00:00+00:00')", (name,))
    old.execute(
        "INSERT INTO patches (id, query, answer, evidence, created_at) VALUES "
        "('pold', 'Who directed Jaws?', 'Steven Spielberg', 'Spielberg directed Jaws.', '2020-01-01T00:00:00+00:00')"
    )
    old.close()

    store = PatchStore(path, HashEmbedder())
    assert [p.id for p in store.list()] == ["pold"]
    assert store.get("pold").answer == "Steven Spielberg"


def test_an_old_llm_cache_without_bookkeeping_keeps_its_replies(tmp_path: Path) -> None:
    path = tmp_path / "llm.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL)")
    old.execute("INSERT INTO responses VALUES ('k', '{}')")
    old.close()
    cache = CachedModel(ScriptedLLM(), path)
    assert cache._db.execute("SELECT key FROM responses").fetchall() == [("k",)]
    assert cache._db.execute("SELECT name FROM _migrations").fetchall() == [("m001_responses",)]
