"""The one storage seam of the stores several processes share: a SQLite file by default, Postgres by URL.

The patch store and the server's jobs, tokens and audit log open their database here, with their named
migrations, and write their SQL once (`database/base.py` says the contract). `SLEUTH_DATABASE_URL` chooses:
empty, each store keeps its SQLite file under `SLEUTH_HOME`; a `postgresql://` URL, all of them share that
database (psycopg 3, imported only then).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sleuth.database.base import (
    Connection,
    Cursor,
    Database,
    DatabaseError,
    Dialect,
    IntegrityError,
    Migration,
)
from sleuth.sqlite import BUSY_TIMEOUT_MS

__all__ = [
    "Connection",
    "Cursor",
    "Database",
    "DatabaseError",
    "Dialect",
    "IntegrityError",
    "Migration",
    "is_postgres_url",
    "open_database",
    "redact_url",
]


def is_postgres_url(location: Path | str) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_database(
    location: Path | str,
    migrations: Sequence[tuple[str, Migration]],
    *,
    namespace: str,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
) -> Database:
    """Open (and create, and migrate) a store's database.

    Args:
        location: a SQLite file path, or a `postgresql://` URL.
        migrations: the store's named, ordered migrations.
        namespace: the store's name (its migrations' prefix in a shared Postgres database).
        busy_timeout_ms: SQLite: how long a write waits for another process's write lock.

    Raises:
        DatabaseError: Postgres cannot be reached or refused the login.
    """
    if is_postgres_url(location):
        from sleuth.database.postgres import PostgresDatabase

        return PostgresDatabase(str(location), migrations, namespace=namespace)
    from sleuth.database.sqlite import SqliteDatabase

    return SqliteDatabase(location, migrations, busy_timeout_ms=busy_timeout_ms)


def redact_url(url: str) -> str:
    """A database URL with its password replaced by ***."""
    from sleuth.database.postgres import redact_url as redact

    return redact(url)
