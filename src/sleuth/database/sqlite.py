"""The embedded backend: one SQLite file with the project's pragmas (`sleuth.sqlite`), one connection a process."""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sleuth.database.base import Connection, Cursor, Dialect, IntegrityError, Migration
from sleuth.sqlite import BUSY_TIMEOUT_MS, open_db


class SqliteConnection:
    """A `sqlite3.Connection` as a `Connection`: its integrity errors under the shared name."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc


class SqliteDatabase:
    """A SQLite file shared by the threads of a process through one connection under a lock (a connection
    per operation would pay a WAL checkpoint and an fsync on every close).

    Args:
        path: the file (created owner-only with its folder when missing, then migrated).
        migrations: the store's named, ordered migrations, recorded in the file's `_migrations` table.
        busy_timeout_ms: how long a write waits for another process's write lock.
    """

    dialect: Dialect = "sqlite"

    def __init__(
        self,
        path: Path | str,
        migrations: Sequence[tuple[str, Migration]],
        *,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        adapted = [(name, m if isinstance(m, str) else functools.partial(_wrapped, m)) for name, m in migrations]
        self.sqlite = open_db(self.path, adapted, busy_timeout_ms=busy_timeout_ms)
        """The raw connection (pragma checks in tests); stores go through `connect` and `transaction`."""
        self.sqlite.row_factory = sqlite3.Row
        self._wrapped = SqliteConnection(self.sqlite)
        self._lock = threading.RLock()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._lock:
            yield self._wrapped

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self._lock:
            self.sqlite.execute("BEGIN IMMEDIATE")
            try:
                yield self._wrapped
            except BaseException:
                if self.sqlite.in_transaction:
                    self.sqlite.execute("ROLLBACK")
                raise
            self.sqlite.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self.sqlite.close()


def _wrapped(migration: Any, conn: sqlite3.Connection) -> None:
    migration(SqliteConnection(conn))
