"""Background jobs: each runs as a server-side task (not tied to a request), streams its events to any
number of subscribers from the start, and is saved to SQLite when it ends (or pauses for a person's approval)
so a restart keeps it."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel

from sleuth.agents.events import Event
from sleuth.server.db import ServerDB, utc_now

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where a job reports progress: agent `Event`s (`agents.events.EventSink`), or plain dicts (the eval and
    optimization jobs' `evals.jobs.EventSink`); one sink takes both."""

    def __call__(self, event: Event | dict[str, Any]) -> None: ...


Work = Callable[[EventSink], Awaitable[Any]]
"""What a job runs: given a sink for its events, return the result (a pydantic model or a dict)."""


def new_job_id(kind: str) -> str:
    return f"{kind[:1]}{uuid.uuid4().hex[:15]}"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    interrupted = "interrupted"
    """The server stopped before the job ended; its partial events are gone."""
    awaiting_approval = "awaiting_approval"
    """A research report paused after drafting its plan: saved like a finished job (a restart keeps it) until
    `JobRegistry.resume` runs it on under the same id."""

    @property
    def done(self) -> bool:
        """Nothing runs for the job: it ended, or it waits for a person (`awaiting_approval`)."""
        return self not in (JobStatus.queued, JobStatus.running)


@dataclass(frozen=True)
class AwaitingApproval:
    """What a job's work returns when its run paused for a person's approval: the job ends `awaiting_approval`
    with `result` (the paused report, its plan in it) as its result."""

    result: Any


@dataclass
class Job:
    """One research, ask or optimize job and everything it has emitted so far."""

    id: str
    kind: str
    request: dict[str, Any]
    token_id: str | None = None
    tenant: str | None = None
    status: JobStatus = JobStatus.queued
    created_at: str = field(default_factory=utc_now)
    started_at: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    _signal: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def touched(self) -> None:
        """Wake everyone waiting on this job (a new event, or a status change)."""
        signal, self._signal = self._signal, asyncio.Event()
        signal.set()

    async def changed(self) -> None:
        """Wait for the next `touched()`."""
        await self._signal.wait()

    def summary(self, *, with_events: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "status": self.status.value,
            "request": self.request,
            "tenant": self.tenant,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "result": self.result,
            "error": self.error,
            "event_count": len(self.events),
        }
        if with_events:
            out["events"] = self.events
        return out


def _jsonable(result: Any) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, dict):
        return json.loads(json.dumps(result, default=str))
    return {"value": json.loads(json.dumps(result, default=str))}


class JobRegistry:
    """Starts jobs, keeps them in memory while the process lives, and persists each one when it ends.

    Args:
        db: the server database (finished jobs, with their events, are stored there).
        max_running: jobs running at once; the rest wait in order (the LLM client bounds calls further).
        keep_finished: finished jobs kept in memory too; older ones are read back from the database.
    """

    def __init__(self, db: ServerDB, *, max_running: int = 64, keep_finished: int = 500) -> None:
        self.db = db
        self.keep_finished = keep_finished
        self._jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max(1, max_running))
        self._mark_interrupted()

    @property
    def in_flight(self) -> int:
        """Jobs queued or running."""
        return sum(1 for job in self._jobs.values() if not job.status.done)

    @property
    def running(self) -> int:
        return sum(1 for job in self._jobs.values() if job.status is JobStatus.running)

    def submit(
        self,
        kind: str,
        request: dict[str, Any],
        work: Work,
        *,
        token_id: str | None = None,
        tenant: str | None = None,
        job_id: str | None = None,
    ) -> Job:
        """Create a job and start it in the background; return at once with its id."""
        job = Job(id=job_id or new_job_id(kind), kind=kind, request=request, token_id=token_id, tenant=tenant)
        self._start(job, work)
        return job

    def resume(self, job: Job, work: Work) -> Job:
        """Run a job paused `awaiting_approval` on under its own id: its events continue after the pause's,
        its status goes queued, running, then to wherever `work` ends. Until then `result` stays the paused
        one (so a failed continuation still names the paused run).

        Raises:
            ValueError: the job is not awaiting approval (the check and the status change happen with no
                await between them, so two approvals of one job cannot both start it).
        """
        if job.status is not JobStatus.awaiting_approval:
            raise ValueError(f"job {job.id} is {job.status.value}, not awaiting approval")
        job.status, job.finished_at, job.error = JobStatus.queued, None, None
        self._jobs.pop(job.id, None)  # re-inserted last: the newest, and never evicted while it runs
        self._start(job, work)
        job.touched()
        return job

    def get(self, job_id: str) -> Job | None:
        """The job from memory, else the finished job saved by an earlier server process."""
        if job_id in self._jobs:
            return self._jobs[job_id]
        return self._load(job_id)

    def recent(self, *, tenant: str | None = None, everyone: bool = False, limit: int = 50) -> list[Job]:
        """The newest jobs (of `tenant`, or of everyone), live ones with their current status."""
        query, args = "SELECT id FROM jobs", []
        if not everyone:
            query, args = query + " WHERE tenant IS ?", [tenant]
        with self.db.connect() as conn:
            ids = [r["id"] for r in conn.execute(query + " ORDER BY created_at DESC LIMIT ?", [*args, limit])]
        return [job for job in map(self.get, ids) if job is not None]

    async def follow(self, job: Job, *, after: int = -1) -> AsyncIterator[dict[str, Any]]:
        """Yield the job's events with seq > `after`, in order, waiting for new ones until the job ends.

        Any `after` is safe: below -1 means from the start, past the last event means only newer ones.
        """
        # seq is the index in `job.events`; a negative index would count from the end (and repeat events).
        next_index = max(0, after + 1)
        while True:
            while next_index < len(job.events):
                yield job.events[next_index]
                next_index += 1
            if job.status.done:
                return
            # Nothing awaited between the checks above and this wait, so no event or end can slip past;
            # and every pass that does not return waits here, so a follower never spins the loop.
            await job.changed()

    def _start(self, job: Job, work: Work) -> None:
        self._jobs[job.id] = job
        self._save(job)
        task = asyncio.create_task(self._run(job, work), name=f"job-{job.id}")
        # The set holds a strong reference: a task nobody awaits must not be garbage-collected mid-run.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self, job: Job) -> Job:
        while not job.status.done:
            await job.changed()
        return job

    async def shutdown(self) -> None:
        """Cancel running jobs (they are recorded as interrupted)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, job: Job, work: Work) -> None:
        loop = asyncio.get_running_loop()

        def emit(event: Event | dict[str, Any]) -> None:
            # Agents may emit from worker threads; the job's list is only touched on the loop.
            payload = event.model_dump(mode="json") if isinstance(event, Event) else _jsonable(event)
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self._append(job, payload)
            else:
                loop.call_soon_threadsafe(self._append, job, payload)

        try:
            async with self._slots:
                job.status, job.started_at = JobStatus.running, job.started_at or utc_now()
                job.touched()
                result = await work(emit)
            await asyncio.sleep(0)  # let events scheduled from threads land before the job closes
            if isinstance(result, AwaitingApproval):
                job.result, job.status = _jsonable(result.result), JobStatus.awaiting_approval
            else:
                job.result, job.status = _jsonable(result), JobStatus.succeeded
        except asyncio.CancelledError:
            job.status, job.error = JobStatus.interrupted, "the server stopped before the job finished"
            self._finish(job)
            job.touched()
            raise
        except Exception as exc:  # a failed job is a result to report, not a server crash
            log.exception("job %s failed", job.id)
            job.status, job.error = JobStatus.failed, f"{type(exc).__name__}: {exc}"
        self._finish(job)
        job.touched()

    def _append(self, job: Job, payload: dict[str, Any]) -> None:
        payload["seq"] = len(job.events)  # the job's own order, whatever the emitter numbered
        job.events.append(payload)
        job.touched()

    def _finish(self, job: Job) -> None:
        job.finished_at = utc_now()
        self._save(job)
        finished = [key for key, known in self._jobs.items() if known.status.done]
        for key in finished[: max(0, len(finished) - self.keep_finished)]:  # oldest first (insertion order)
            del self._jobs[key]

    def _save(self, job: Job) -> None:
        with self.db.connect() as conn:
            conn.execute(
                """INSERT OR REPLACE INTO jobs (id, kind, status, request, token_id, tenant, created_at,
                   started_at, finished_at, result, error, events) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)""",
                (
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
                    json.dumps(job.events),
                ),
            )

    def _load(self, job_id: str) -> Job | None:
        with self.db.connect() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        return Job(
            id=row["id"],
            kind=row["kind"],
            request=json.loads(row["request"]),
            token_id=row["token_id"],
            tenant=row["tenant"],
            status=JobStatus(row["status"]),
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            result=None if row["result"] is None else json.loads(row["result"]),
            error=row["error"],
            events=json.loads(row["events"]),
        )

    def _mark_interrupted(self) -> None:
        """Jobs a previous process left queued or running can never finish: say so instead of hanging. A job
        awaiting approval is left as it is: its run waits in the checkpoint store, not in the process."""
        with self.db.connect() as conn:
            conn.execute(
                "UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE status IN (?, ?)",
                (
                    JobStatus.interrupted.value,
                    "the server restarted before the job finished",
                    utc_now(),
                    JobStatus.queued.value,
                    JobStatus.running.value,
                ),
            )
