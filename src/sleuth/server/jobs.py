"""Background jobs: each runs as a server-side task (not tied to a request), streams its events to any
number of subscribers from the start, and is written to the server database as it goes, so a restart keeps
it and another server on the same database can follow it.

The running server streams a job's events from memory; the database gets them in small batches (a writer
task wakes on new events, waits `FLUSH_DELAY_S` for more, and writes them in one transaction, stamping each
live job `seen_at`), and the final row with the rest of the events in one transaction when the job ends.
Another server follows it by polling the database every `poll_s`; a job left unstamped for a lease (its
server was killed) is reported `interrupted` by whichever server reads it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from sleuth.agents.events import Event, JobSink
from sleuth.server.db import ServerDB, utc_now
from sleuth.server.job_store import LIVE, JobStore

log = logging.getLogger(__name__)

FLUSH_DELAY_S = 0.05
"""How long the event writer waits after a new event for others to join its transaction."""


Work = Callable[[JobSink], Awaitable[Any]]
"""What a job runs: given a sink for its events, return the result (a pydantic model or a dict)."""


def new_job_id(kind: str) -> str:
    return f"{kind[:1]}{uuid.uuid4().hex[:15]}"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    interrupted = "interrupted"
    """The server stopped (or was killed) before the job ended; the events written until then are kept."""
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
    persisted: int = field(default=0, repr=False)
    """How many of `events` are in the database."""
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
    """Starts jobs, keeps this server's in memory while the process lives, and writes them to the database as
    they go; reads any other server's jobs from there.

    Args:
        db: the server database (jobs and their events are stored there).
        max_running: jobs running at once; the rest wait in order (the LLM client bounds calls further).
        keep_finished: finished jobs kept in memory too; older ones are read back from the database.
        lease_s: a live job unstamped this long is taken for interrupted (its server died); this server
            stamps its own every fifth of it.
        poll_s: how often a follower of another server's job reads the database for new events.
    """

    def __init__(
        self,
        db: ServerDB,
        *,
        max_running: int = 64,
        keep_finished: int = 500,
        lease_s: float = 30.0,
        poll_s: float = 0.25,
    ) -> None:
        self.db = db
        self.store = JobStore(db)
        self.owner = uuid.uuid4().hex
        """This registry's name on the jobs it runs."""
        self.keep_finished = keep_finished
        self.lease_s = lease_s
        self.poll_s = poll_s
        self._jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max(1, max_running))
        self._dirty = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        # Jobs a previous process left queued or running can never finish: say so instead of hanging. A job
        # awaiting approval is left as it is: its run waits in the checkpoint store, not in the process.
        self.store.interrupt_stale(lease_s)

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
                await between them, and the database row is claimed with one conditional update, so two
                approvals of one job, on one server or two, cannot both start it).
        """
        if job.status is not JobStatus.awaiting_approval:
            raise ValueError(f"job {job.id} is {job.status.value}, not awaiting approval")
        if not self.store.claim(job.id, owner=self.owner):
            raise ValueError(f"job {job.id} is no longer awaiting approval")
        job.status, job.finished_at, job.error = JobStatus.queued, None, None
        self._jobs.pop(job.id, None)  # re-inserted last: the newest, and never evicted while it runs
        self._start(job, work)
        job.touched()
        return job

    def get(self, job_id: str) -> Job | None:
        """The job from memory, else as the database has it (another server's, or an earlier process's)."""
        job = self._jobs.get(job_id)
        if job is not None and job.status is not JobStatus.awaiting_approval:
            return job
        stored = self._load(job_id)
        if job is not None and stored is not None and stored.status is not JobStatus.awaiting_approval:
            del self._jobs[job_id]  # paused here, approved on another server: that server runs it now
            return stored
        return job or stored

    def recent(self, *, tenant: str | None = None, everyone: bool = False, limit: int = 50) -> list[Job]:
        """The newest jobs (of `tenant`, or of everyone), live ones with their current status."""
        ids = self.store.recent_ids(tenant=tenant, everyone=everyone, limit=limit)
        return [job for job in map(self.get, ids) if job is not None]

    async def follow(self, job: Job, *, after: int = -1) -> AsyncIterator[dict[str, Any]]:
        """Yield the job's events with seq > `after`, in order, waiting for new ones until the job ends.

        A job of this server is followed in memory, any other through the database.
        Any `after` is safe: below -1 means from the start, past the last event means only newer ones.
        """
        if self._jobs.get(job.id) is not job:
            async for event in self._follow_stored(job, after):
                yield event
            return
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

    async def _follow_stored(self, job: Job, after: int) -> AsyncIterator[dict[str, Any]]:
        """`follow` for a job another server runs (or ran): poll its row and its new events."""
        next_seq = max(0, after + 1)
        while True:
            row = await asyncio.to_thread(self.store.row, job.id)
            if row is None:
                return
            if row["status"] in LIVE and self._stale(row):
                await asyncio.to_thread(self.store.interrupt_stale, self.lease_s, job.id)
                continue
            # The row before the events: once it says the job ended, the events read next are all of them.
            for event in await asyncio.to_thread(self.store.events_after, job.id, next_seq - 1):
                if event["seq"] == len(job.events):
                    job.events.append(event)
                yield event
                next_seq = event["seq"] + 1
            _apply_row(job, row)
            if job.status.done:
                return
            await asyncio.sleep(self.poll_s)

    def _stale(self, row: Any) -> bool:
        return row["seen_at"] is None or row["seen_at"] < time.time() - self.lease_s

    def _start(self, job: Job, work: Work) -> None:
        self._jobs[job.id] = job
        self.store.save(job, owner=self.owner)  # before returning: any server can find the job at once
        task = asyncio.create_task(self._run(job, work), name=f"job-{job.id}")
        # The set holds a strong reference: a task nobody awaits must not be garbage-collected mid-run.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_live(), name="job-writer")

    async def wait(self, job: Job) -> Job:
        """Wait for the job to end (or pause), wherever it runs."""
        async for _ in self.follow(job, after=len(job.events) - 1):
            pass
        return job

    async def shutdown(self) -> None:
        """Cancel running jobs (they are recorded as interrupted)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    async def _write_live(self) -> None:
        """While this server has live jobs: write their new events in batches, and stamp them alive."""
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), timeout=self.lease_s / 5)
                await asyncio.sleep(FLUSH_DELAY_S)
            except TimeoutError:
                pass
            self._dirty.clear()
            if not any(not job.status.done for job in self._jobs.values()):
                self._writer = None  # no await since the check: the next `_start` sees it and starts one
                return
            async with self._write_lock:
                batch = [(job, job.events[job.persisted :]) for job in self._jobs.values() if not job.status.done]
                await asyncio.to_thread(self.store.stamp, batch, owner=self.owner)
                for job, events in batch:
                    job.persisted += len(events)

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
                self._dirty.set()
                result = await work(emit)
            await asyncio.sleep(0)  # let events scheduled from threads land before the job closes
            if isinstance(result, AwaitingApproval):
                job.result, job.status = _jsonable(result.result), JobStatus.awaiting_approval
            else:
                job.result, job.status = _jsonable(result), JobStatus.succeeded
        except asyncio.CancelledError:
            job.status, job.error = JobStatus.interrupted, "the server stopped before the job finished"
            await self._finish(job)
            job.touched()
            raise
        except Exception as exc:  # a failed job is a result to report, not a server crash
            log.exception("job %s failed", job.id)
            job.status, job.error = JobStatus.failed, f"{type(exc).__name__}: {exc}"
        await self._finish(job)
        job.touched()

    def _append(self, job: Job, payload: dict[str, Any]) -> None:
        payload["seq"] = len(job.events)  # the job's own order, whatever the emitter numbered
        job.events.append(payload)
        job.touched()
        self._dirty.set()

    async def _finish(self, job: Job) -> None:
        job.finished_at = utc_now()
        async with self._write_lock:  # after any batch of its events in flight: events land before the end
            events = job.events[job.persisted :]
            await asyncio.to_thread(self.store.save, job, events, owner=self.owner)
            job.persisted += len(events)
        self._dirty.set()  # the writer stops when nothing is live
        finished = [key for key, known in self._jobs.items() if known.status.done]
        for key in finished[: max(0, len(finished) - self.keep_finished)]:  # oldest first (insertion order)
            del self._jobs[key]

    def _load(self, job_id: str) -> Job | None:
        row = self.store.row(job_id)
        if row is not None and row["status"] in LIVE and self._stale(row):
            self.store.interrupt_stale(self.lease_s, job_id)
            row = self.store.row(job_id)
        if row is None:
            return None
        events = self.store.events_after(job_id, -1)
        job = Job(
            id=row["id"],
            kind=row["kind"],
            request=json.loads(row["request"]),
            token_id=row["token_id"],
            tenant=row["tenant"],
            created_at=row["created_at"],
            events=events,
            persisted=len(events),
        )
        _apply_row(job, row)
        return job


def _apply_row(job: Job, row: Any) -> None:
    """Bring a job read from the database up to its row (status, times, result, error)."""
    job.status = JobStatus(row["status"])
    job.started_at, job.finished_at, job.error = row["started_at"], row["finished_at"], row["error"]
    job.result = None if row["result"] is None else json.loads(row["result"])
