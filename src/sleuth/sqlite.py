"""How every sleuth store opens its SQLite file: owner-only, one set of pragmas, and named migrations.

Pragmas, the strictest any store set before they shared this module: WAL (readers never block the writer),
`synchronous=FULL` (a committed write survives power loss, not only a process crash), a 30 s busy timeout
(a writer waits for another process's lock instead of failing), and foreign keys enforced.

Migrations follow simonw/llm: a store lists `(name, migration)` pairs in order; `migrate` applies those
whose name is not yet in the `_migrations` table, each with its record in one transaction. Every store has
recorded its migrations that way, by name, from its first release, so existing files upgrade in place.
Never edit, rename or reorder a released migration; append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sleuth.private import private_file

Migration = str | Callable[[sqlite3.Connection], None]
"""A SQL script (its statements run one by one) or a function given the connection; either runs inside
the migration's transaction."""

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path | str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """Open `path` (created owner-only, with its folder, when missing) with the project's pragmas.

    The connection is in autocommit mode, so transactions are explicit (`BEGIN IMMEDIATE ... COMMIT`), and
    may be shared by the threads of a process: the caller serialises its transactions with a lock.
    """
    conn = sqlite3.connect(
        private_file(Path(path)), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
    )
    # The busy timeout first: switching a new file to WAL takes a lock another process may hold.
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def open_db(
    path: Path | str, migrations: Sequence[tuple[str, Migration]], *, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    """`connect(path)`, then bring its schema up to date with `migrate`."""
    conn = connect(path, busy_timeout_ms=busy_timeout_ms)
    try:
        migrate(conn, migrations)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, migrations: Sequence[tuple[str, Migration]]) -> list[str]:
    """Apply the pending migrations in order (safe when several processes open the file at once).

    Returns:
        The names applied now.
    """
    applied: list[str] = []
    # Older passage stores made this table with `applied_at REAL` (NULL allowed): only `name` is read.
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, migration in migrations:
        # BEGIN IMMEDIATE takes the write lock before the check, so two processes cannot both apply one.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            if isinstance(migration, str):
                for statement in statements(migration):
                    conn.execute(statement)
            else:
                migration(conn)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, datetime.now(UTC).isoformat())
            )
            conn.execute("COMMIT")
            applied.append(name)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return applied


def statements(script: str) -> Iterator[str]:
    """The statements of a SQL script, one at a time (`executescript` would commit the open transaction
    first, on Python 3.11, so a migration and its record could no longer be one transaction)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        # A ';' inside a string literal or a comment does not end the statement: keep reading.
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending
            pending = ""
    if pending.strip(" \t\r\n;"):  # a closing comment, or a broken statement SQLite will name
        yield pending[:-1] + "\n"
