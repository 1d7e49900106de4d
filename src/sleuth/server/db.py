"""The server's SQLite database (tokens, audit log, finished jobs) with named, ordered migrations.

One file under SLEUTH_HOME (`server.sqlite`), WAL mode, one connection per process shared under a lock,
so the stores are safe to use from FastAPI's thread pool and from the event loop alike (a connection per
operation would pay a WAL checkpoint and an fsync on every close). Migrations follow
simonw/llm: each is applied once, in order, and recorded in `_migrations`; never edit a released one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sleuth.private import private_file

Migration = Callable[[sqlite3.Connection], None]


def _m001_tokens(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE tokens (
            id TEXT PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL,
            tenant TEXT,
            name TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )
        """
    )


def _m002_audit(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            token_id TEXT NOT NULL,
            tenant TEXT,
            action TEXT NOT NULL,
            patch_id TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        )
        """
    )
    conn.execute("CREATE INDEX audit_patch ON audit (patch_id)")


def _m003_jobs(conn: sqlite3.Connection) -> None:
    # Events and the result are written once, when the job ends: a restart keeps every finished job.
    conn.execute(
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            request TEXT NOT NULL,
            token_id TEXT,
            tenant TEXT,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            result TEXT,
            error TEXT,
            events TEXT NOT NULL DEFAULT '[]'
        )
        """
    )


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_tokens", _m001_tokens),
    ("m002_audit", _m002_audit),
    ("m003_jobs", _m003_jobs),
]


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


class ServerDB:
    """The server's database file; `connect()` yields a connection in autocommit mode.

    Args:
        path: the SQLite file (created with its folder, migrated on open).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = sqlite3.connect(
            private_file(self.path), timeout=30, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a process crash
        self._lock = threading.RLock()
        with self.connect() as conn:
            migrate(conn)

    @classmethod
    def for_home(cls, home: Path) -> ServerDB:
        return cls(Path(home) / "server.sqlite")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """The connection, held by this thread until the block ends (autocommit: each statement commits)."""
        with self._lock:
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations in order, each in its own write transaction; return the names applied."""
    applied: list[str] = []
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, migration in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")  # two processes opening one file cannot both apply a migration
        try:
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            migration(conn)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, utc_now()))
            conn.execute("COMMIT")
            applied.append(name)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied
