"""Named, ordered schema migrations of the patch database, applied and recorded by `sleuth.database`.

Written once for both backends (SQLite's spelling; the Postgres backend translates `BLOB`). Never edit or
reorder a released migration; append a new one.
"""

from __future__ import annotations

from sleuth.database import Connection, Migration


def _m001_patches(conn: Connection) -> None:
    conn.execute(
        """
        CREATE TABLE patches (
            id TEXT PRIMARY KEY,
            query TEXT NOT NULL,
            answer TEXT NOT NULL,
            evidence TEXT NOT NULL DEFAULT '',
            evidence_passage_ids TEXT NOT NULL DEFAULT '[]',
            author TEXT,
            created_at TEXT NOT NULL,
            collection TEXT,
            tenant TEXT,
            status TEXT NOT NULL DEFAULT 'active',
            supersedes TEXT,
            superseded_by TEXT,
            note TEXT NOT NULL DEFAULT '',
            flags TEXT NOT NULL DEFAULT '[]'
        )
        """
    )
    conn.execute("CREATE INDEX patches_scope ON patches (status, collection, tenant)")


def _m002_embeddings(conn: Connection) -> None:
    # Vectors live with the patch so a restart needs no re-embedding; `embedder` names the model that made
    # them, so switching embedders re-embeds instead of mixing incompatible spaces.
    conn.execute("ALTER TABLE patches ADD COLUMN embedder TEXT")
    conn.execute("ALTER TABLE patches ADD COLUMN query_vec BLOB")
    conn.execute("ALTER TABLE patches ADD COLUMN evidence_vec BLOB")


def _m003_revisions(conn: Connection) -> None:
    # Every write bumps one counter and stamps the rows it touched, so a process's in-memory cache can
    # load just what other processes changed since it last looked.
    conn.execute("CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    conn.execute("INSERT INTO store_meta (key, value) VALUES ('revision', 0)")
    conn.execute("ALTER TABLE patches ADD COLUMN revision INTEGER NOT NULL DEFAULT 0")
    conn.execute("CREATE INDEX patches_revision ON patches (revision)")


MIGRATIONS: list[tuple[str, Migration]] = [
    ("m001_patches", _m001_patches),
    ("m002_embeddings", _m002_embeddings),
    ("m003_revisions", _m003_revisions),
]
