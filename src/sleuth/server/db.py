"""The server's SQLite database (tokens, audit log, finished jobs) with named, ordered migrations.

One file under SLEUTH_HOME (`server.sqlite`), opened by `sleuth.sqlite` (its pragmas, its migration
runner), one connection per process shared under a lock, so the stores are safe to use from FastAPI's
thread pool and from the event loop alike (a connection per operation would pay a WAL checkpoint and an
fsync on every close). Never edit a released migration; append a new one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sleuth.sqlite import Migration, open_db


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
        self._conn = open_db(self.path, MIGRATIONS)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()

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
