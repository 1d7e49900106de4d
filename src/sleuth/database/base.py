"""What a shared store asks of its database, SQLite or Postgres: statements, write transactions, migrations.

The stores write their SQL once, in SQLite's spelling with `?` placeholders and portable types; the Postgres
backend translates what differs (`database/postgres.py`). Rows answer both `row[0]` and `row["name"]`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgres"]


class Cursor(Protocol):
    """What a statement returns: its rows, or the count of rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """One connection, for a block of statements (autocommit) or the statements of one transaction."""

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]], /) -> None: ...


Migration = str | Callable[[Connection], None]
"""A SQL script (its statements run one by one) or a function given the connection; either runs inside
the migration's transaction, recorded by name in `_migrations`."""


class Database(Protocol):
    """A store's database, opened and migrated (`sleuth.database.open_database`)."""

    dialect: Dialect
    location: str
    """The file, or the URL with its password hidden: for messages."""

    def connect(self) -> AbstractContextManager[Connection]:
        """A connection for the block; each statement commits on its own."""
        ...

    def transaction(self) -> AbstractContextManager[Connection]:
        """One write transaction: committed when the block ends, rolled back when it raises. On SQLite it
        takes the write lock up front (`BEGIN IMMEDIATE`), so a read-then-write cannot be overtaken."""
        ...

    def close(self) -> None: ...


class DatabaseError(Exception):
    """The database cannot be opened or reached; the message names it (never its password)."""


class IntegrityError(DatabaseError):
    """A write broke a uniqueness or foreign-key rule (either backend's error, under one name)."""
