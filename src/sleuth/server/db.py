"""The server's database (tokens, audit log, jobs and their events) with named, ordered migrations.

`server.sqlite` under SLEUTH_HOME, or the Postgres database of `SLEUTH_DATABASE_URL` that several API servers
share, opened by `sleuth.database` (one connection per process under a lock on SQLite, a small pool on
Postgres), so the stores are safe to use from FastAPI's thread pool and from the event loop alike. The
migrations are written once for both. Never edit a released migration; append a new one.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

from sleuth.config import Settings
from sleuth.database import Connection, Migration, open_database


def _m001_tokens(conn: Connection) -> None:
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


def _m002_audit(conn: Connection) -> None:
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


def _m003_jobs(conn: Connection) -> None:
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


def _m004_shared_jobs(conn: Connection) -> None:
    # Events are written as they happen, a row each, so a server can follow a job another one runs; the
    # running server stamps its jobs (`owner`, `seen_at`), so the others can tell a live job from one whose
    # server died. Events saved whole by m003's code move to their rows.
    conn.execute(
        """
        CREATE TABLE job_events (
            job_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            event TEXT NOT NULL,
            PRIMARY KEY (job_id, seq)
        )
        """
    )
    conn.execute("ALTER TABLE jobs ADD COLUMN owner TEXT")
    conn.execute("ALTER TABLE jobs ADD COLUMN seen_at DOUBLE PRECISION")
    conn.executemany(
        "INSERT INTO job_events (job_id, seq, event) VALUES (?, ?, ?)",
        [
            (row[0], seq, json.dumps(event))
            for row in conn.execute("SELECT id, events FROM jobs").fetchall()
            for seq, event in enumerate(json.loads(row[1]))
        ],
    )
    conn.execute("ALTER TABLE jobs DROP COLUMN events")
    conn.execute("CREATE INDEX jobs_live ON jobs (status)")


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_tokens", _m001_tokens),
    ("m002_audit", _m002_audit),
    ("m003_jobs", _m003_jobs),
    ("m004_shared_jobs", _m004_shared_jobs),
]


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


class ServerDB:
    """The server's database; `connect()` yields a connection in autocommit mode, `transaction()` one write.

    Args:
        location: the SQLite file (created with its folder) or a `postgresql://` URL; migrated on open.
    """

    def __init__(self, location: Path | str) -> None:
        self.db = open_database(location, MIGRATIONS, namespace="server")

    @classmethod
    def for_home(cls, home: Path) -> ServerDB:
        return cls(Path(home) / "server.sqlite")

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerDB:
        """`SLEUTH_DATABASE_URL` when set, else `server.sqlite` under `SLEUTH_HOME`."""
        return cls(settings.server_database)

    def connect(self) -> AbstractContextManager[Connection]:
        """A connection held by this thread until the block ends (each statement commits)."""
        return self.db.connect()

    def transaction(self) -> AbstractContextManager[Connection]:
        """One write transaction (committed when the block ends)."""
        return self.db.transaction()

    def close(self) -> None:
        self.db.close()
