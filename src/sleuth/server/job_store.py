"""Jobs in the server database: their rows, their events one row each, and the stamps that say a job's server lives.

Every server on one database reads and writes here, so a job started on one can be followed, listed and
approved on another. The registry (`server/jobs.py`) calls these from worker threads: each is a short
statement or one transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sleuth.database import Connection
from sleuth.server.db import ServerDB, utc_now

if TYPE_CHECKING:
    from sleuth.server.jobs import Job

LIVE = ("queued", "running")
"""The statuses of a job some server is (or should be) running."""

_COLUMNS = "id, kind, status, request, token_id, tenant, created_at, started_at, finished_at, result, error"


def _row_values(job: Job) -> tuple[Any, ...]:
    return (
        job.id,
        job.kind,
        job.status.value,
        json.dumps(job.request),
        job.token_id,
        job.tenant,
        job.created_at,
        job.started_at,
        job.finished_at,
        None if job.result is None else json.dumps(job.result),
        job.error,
    )


class JobStore:
    """The `jobs` and `job_events` tables of one server database.

    Args:
        db: the server database.
    """

    def __init__(self, db: ServerDB) -> None:
        self.db = db

    def save(self, job: Job, events: Sequence[dict[str, Any]] = (), *, owner: str | None = None) -> None:
        """Write the job's row and `events` (each carrying its `seq`) in one transaction, events first: a
        reader that sees the row finished finds every event. An event already stored is left as it is."""
        with self.db.transaction() as conn:
            self._insert_events(conn, job.id, events)
            conn.execute(
                f"""INSERT INTO jobs ({_COLUMNS}, owner, seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
                ON CONFLICT (id) DO UPDATE SET status = excluded.status, started_at = excluded.started_at,
                finished_at = excluded.finished_at, result = excluded.result, error = excluded.error,
                owner = excluded.owner, seen_at = excluded.seen_at""",
                (*_row_values(job), owner, time.time()),
            )

    def stamp(self, live: Sequence[tuple[Job, Sequence[dict[str, Any]]]], *, owner: str) -> None:
        """For each live job of this server: store its new events, its status, and that it is alive."""
        now = time.time()
        with self.db.transaction() as conn:
            for job, events in live:
                self._insert_events(conn, job.id, events)
                conn.execute(
                    "UPDATE jobs SET status = ?, started_at = ?, seen_at = ? WHERE id = ? AND owner = ?",
                    (job.status.value, job.started_at, now, job.id, owner),
                )

    def claim(self, job_id: str, *, owner: str) -> bool:
        """Take a job paused for approval to run it on here; False when it is no longer paused (another
        approval, on this server or another, took it first)."""
        with self.db.connect() as conn:
            cur = conn.execute(
                "UPDATE jobs SET status = 'queued', owner = ?, seen_at = ?, finished_at = NULL, error = NULL "
                "WHERE id = ? AND status = 'awaiting_approval'",
                (owner, time.time(), job_id),
            )
        return cur.rowcount == 1

    def row(self, job_id: str) -> Any:
        """The job's row (no events), or None."""
        with self.db.connect() as conn:
            return conn.execute(f"SELECT {_COLUMNS}, seen_at FROM jobs WHERE id = ?", (job_id,)).fetchone()

    def events_after(self, job_id: str, after: int) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(
                "SELECT event FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq", (job_id, after)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def recent_ids(self, *, tenant: str | None, everyone: bool, limit: int) -> list[str]:
        query, args = "SELECT id FROM jobs", []
        if not everyone:
            # `= NULL` matches nothing in SQL: no tenant is asked for with IS NULL.
            query += " WHERE tenant IS NULL" if tenant is None else " WHERE tenant = ?"
            args = [] if tenant is None else [tenant]
        with self.db.connect() as conn:
            return [r[0] for r in conn.execute(query + " ORDER BY created_at DESC LIMIT ?", [*args, limit])]

    def interrupt_stale(self, lease_s: float, job_id: str | None = None) -> int:
        """Mark interrupted the live jobs (or `job_id`) whose server has not stamped them for `lease_s`: it
        stopped or was killed, and they can never finish. Returns how many."""
        query = (
            "UPDATE jobs SET status = 'interrupted', error = ?, finished_at = ? "
            "WHERE status IN (?, ?) AND (seen_at IS NULL OR seen_at < ?)"
        )
        args: list[Any] = ["the server running it stopped before the job finished", utc_now(), *LIVE]
        args.append(time.time() - lease_s)
        if job_id is not None:
            query, args = query + " AND id = ?", [*args, job_id]
        with self.db.connect() as conn:
            return conn.execute(query, args).rowcount

    @staticmethod
    def _insert_events(conn: Connection, job_id: str, events: Sequence[dict[str, Any]]) -> None:
        if events:
            conn.executemany(
                "INSERT INTO job_events (job_id, seq, event) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(job_id, event["seq"], json.dumps(event)) for event in events],
            )
