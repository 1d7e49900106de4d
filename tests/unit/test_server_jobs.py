"""Server jobs: they outlive the client, survive a restart once finished, share one LLM bound, and can be
followed from another server on the same database (SQLite or Postgres: `backend`)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from sleuth.agents.events import Event
from sleuth.config import Settings
from sleuth.feedback.store import PatchStore
from sleuth.llm.openai_compat import OpenAICompatModel
from sleuth.server.app import create_app
from sleuth.server.db import ServerDB
from sleuth.server.jobs import JobRegistry, JobStatus
from sleuth.server.runner import RunRequest
from sleuth.testing import FakeOpenAIServer, HashEmbedder, fake_sleuth, openai_body_reply, serve_in_thread

T = TypeVar("T")


class GatedRunner:
    """A runner that emits one event, then waits for `gate` (a thread-safe event) before answering."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    async def run(self, kind: str, request: RunRequest, emit: Any) -> dict[str, Any]:
        emit(Event(type="run_started", data={"question": request.question}))
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        emit(Event(type="run_finished"))
        return {"answer": f"answer to {request.question}", "citations": []}


def wait_for(client: httpx.Client, path: str, status: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(path).json()
        if job["status"] == status:
            return job
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {status}: {job}")


def test_a_job_runs_on_after_its_client_disconnects() -> None:
    runner = GatedRunner()
    app = create_app(Settings(), runner=runner)
    secret = app.state.sleuth.tokens.create("reader", tenant="acme")[1]
    headers = {"Authorization": f"Bearer {secret}"}
    with serve_in_thread(app) as url, httpx.Client(base_url=url, headers=headers) as client:
        job_id = client.post("/v1/research", json={"question": "q1"}).json()["id"]
        with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:  # leave after the first event
            first = next(line for line in stream.iter_lines() if line.startswith("data:"))
        assert '"run_started"' in first
        # A blocking ask whose client gives up: the request is cut, the job is not.
        with pytest.raises(httpx.ReadTimeout):
            client.post("/v1/ask", json={"question": "q2"}, timeout=0.3)
        running = {j["request"]["question"]: j for j in client.get("/v1/jobs").json()}
        assert running["q1"]["status"] == running["q2"]["status"] == "running"
        runner.gate.set()
        done = wait_for(client, f"/v1/research/{job_id}", "succeeded")
        ask = wait_for(client, f"/v1/jobs/{running['q2']['id']}", "succeeded")
    assert done["result"]["answer"] == "answer to q1" and ask["result"]["answer"] == "answer to q2"


async def test_a_restart_keeps_finished_jobs_tokens_and_patches(backend: Any) -> None:
    settings = Settings(max_rounds=1, patch_min_score=0.3)
    store = PatchStore(settings.patches_database, HashEmbedder())
    app = create_app(settings, sleuth=fake_sleuth(settings, patches=store))
    secret = app.state.sleuth.tokens.create("corrector", tenant="acme")[1]
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://a", headers=headers
    ) as c:
        patch = (
            await c.post(
                "/v1/feedback",
                json={"query": "What is Lilu?", "answer": "a storm demon", "evidence": "Lilu is a storm demon."},
            )
        ).json()
        job_id = (await c.post("/v1/research", json={"question": "What is Alû?"})).json()["id"]
        first_sse = (await c.get(f"/v1/jobs/{job_id}/events")).text
        before = (await c.get(f"/v1/research/{job_id}", params={"events": "true"})).json()
    await app.state.sleuth.jobs.shutdown()
    store.close()

    # A new process: new app, new store objects, same SLEUTH_HOME.
    store2 = PatchStore(settings.patches_database, HashEmbedder())
    app2 = create_app(settings, sleuth=fake_sleuth(settings, patches=store2))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app2), base_url="http://b", headers=headers
    ) as c:
        after = (await c.get(f"/v1/research/{job_id}", params={"events": "true"})).json()
        replay = (await c.get(f"/v1/jobs/{job_id}/events")).text
        patches = (await c.get("/v1/feedback")).json()
    store2.close()
    assert before["status"] == "succeeded" and after == before
    assert replay == first_sse
    assert [p["id"] for p in patches] == [patch["id"]]


async def test_a_job_cut_by_a_stop_is_reported_interrupted_not_left_running() -> None:
    db = ServerDB.for_home(Settings().home)
    registry = JobRegistry(db)
    runner = GatedRunner()
    job = registry.submit(
        "research", {"question": "q"}, lambda emit: runner.run("research", RunRequest("q"), emit)
    )
    await asyncio.sleep(0.05)
    assert registry.get(job.id).status is JobStatus.running
    # Another server starting on the same database leaves a live job alone.
    assert not JobRegistry(db).get(job.id).status.done
    await registry.shutdown()  # a clean stop records the job interrupted
    assert job.status is JobStatus.interrupted and "stopped" in (job.error or "")
    assert JobRegistry(db).get(job.id).status is JobStatus.interrupted


async def test_another_server_follows_a_job_to_its_end_through_the_database(backend: Any) -> None:
    a = JobRegistry(ServerDB(backend.location("server")))
    b = JobRegistry(ServerDB(backend.location("server")), poll_s=0.02)  # its own connection, like a process
    runner = GatedRunner()
    job = a.submit("research", {"question": "q"}, lambda emit: runner.run("research", RunRequest("q"), emit))
    seen = b.get(job.id)
    assert seen is not None and seen is not job and not seen.status.done
    assert [j.id for j in b.recent(everyone=True)] == [job.id]

    events: list[dict[str, Any]] = []

    async def follow() -> None:
        async for event in b.follow(seen, after=-1):
            events.append(event)

    following = asyncio.create_task(follow())
    await asyncio.sleep(0.5)
    # B streams the run while A runs it: the first event has come through the database, the end has not.
    assert [e["type"] for e in events] == ["run_started"] and not following.done()
    runner.gate.set()
    await asyncio.wait_for(following, 10)
    assert [e["type"] for e in events] == ["run_started", "run_finished"] and events == job.events
    assert seen.status is JobStatus.succeeded and seen.result == {"answer": "answer to q", "citations": []}
    # Waiting works across servers too, and replays from any offset.
    assert (await b.wait(b.get(job.id))).status is JobStatus.succeeded  # type: ignore[arg-type]
    assert [e["seq"] async for e in b.follow(b.get(job.id), after=0)] == [1]  # type: ignore[arg-type]


CRASHING_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from sleuth.server.db import ServerDB
    from sleuth.server.jobs import JobRegistry

    async def main():
        registry = JobRegistry(ServerDB(sys.argv[1]), lease_s=1.0)

        async def work(emit):
            emit({"type": "search", "data": {"n": 0}})
            await asyncio.sleep(3600)

        job = registry.submit("ask", {}, work)
        while job.persisted < 1:
            await asyncio.sleep(0.01)
        print(job.id, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_a_job_whose_server_was_killed_ends_interrupted_for_its_followers(backend: Any) -> None:
    location = backend.location("server")
    ServerDB(location).close()  # the schema first, so the server's start is quick
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SERVER, str(location)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        job_id = (await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)).strip()
        other = JobRegistry(ServerDB(location), lease_s=1.0, poll_s=0.05)
        await asyncio.sleep(1.5)  # longer than the lease: the living server has stamped the job meanwhile
        job = other.get(job_id)
        assert job is not None and job.status is JobStatus.running and len(job.events) == 1
        proc.send_signal(signal.SIGKILL)
        started = time.monotonic()
        events = [e async for e in other.follow(job)]
    finally:
        proc.kill()
        proc.wait()
    assert [e["type"] for e in events] == ["search"]  # what was written before the kill is kept
    assert job.status is JobStatus.interrupted and "stopped" in (job.error or "")
    assert time.monotonic() - started < 5


async def test_a_failing_job_reports_its_error() -> None:
    registry = JobRegistry(ServerDB.for_home(Settings().home))

    async def boom(emit: Any) -> None:
        raise ValueError("the question is empty")

    job = await registry.wait(registry.submit("ask", {}, boom))
    assert job.status is JobStatus.failed and job.error == "ValueError: the question is empty"


@pytest.mark.allow_llm  # a real OpenAI-compatible client, against a local fake server
async def test_many_jobs_share_one_bounded_llm_concurrency() -> None:
    lock, state = threading.Lock(), {"now": 0, "peak": 0, "calls": 0}

    def reply(body: dict[str, Any]) -> str:
        with lock:
            state["now"] += 1
            state["calls"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.03)
        with lock:
            state["now"] -= 1
        return openai_body_reply(body)

    settings = Settings(max_rounds=1, llm_concurrency=3)
    with FakeOpenAIServer(reply) as fake:
        llm = OpenAICompatModel(fake.base_url, "fake", concurrency=settings.llm_concurrency, max_retries=0)
        app = create_app(settings, sleuth=fake_sleuth(settings, llm=llm))
        secret = app.state.sleuth.tokens.create("reader", tenant="acme")[1]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://a",
            headers={"Authorization": f"Bearer {secret}"},
        ) as client:
            ids = [
                (await client.post("/v1/research", json={"question": f"What is Lilu? ({i})"})).json()["id"]
                for i in range(10)
            ]
            assert app.state.sleuth.jobs.in_flight > 1
            jobs = [await app.state.sleuth.jobs.wait(app.state.sleuth.jobs.get(i)) for i in ids]
        await llm.aclose()
    assert all(job.status is JobStatus.succeeded for job in jobs)
    assert state["calls"] >= 30  # three model calls per one-round run (no aggregator call on the last round)
    assert state["peak"] == settings.llm_concurrency  # saturated, never above the bound


async def test_old_finished_jobs_leave_memory_but_stay_readable() -> None:
    registry = JobRegistry(ServerDB.for_home(Settings().home), keep_finished=2)

    async def work(emit: Any) -> dict[str, Any]:
        emit(Event(type="answer", data={"answer": "x"}))
        return {"answer": "x"}

    jobs = [await registry.wait(registry.submit("ask", {"i": i}, work)) for i in range(5)]
    assert len(registry._jobs) == 2
    oldest = registry.get(jobs[0].id)
    assert oldest is not jobs[0] and oldest.status is JobStatus.succeeded
    assert oldest.result == {"answer": "x"} and [e["type"] for e in oldest.events] == ["answer"]
    assert [j.id for j in registry.recent()] == [j.id for j in reversed(jobs)]


def _on_own_loop(main: Callable[[], Awaitable[T]], timeout_s: float = 5) -> T:
    """Run `main` on a fresh event loop in a daemon thread. A coroutine that never awaits blocks its loop
    for good, so no in-loop timeout could fire: the watchdog is the thread join."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as exc:  # re-raised on the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise AssertionError(f"the event loop was still blocked after {timeout_s}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


async def _finished_job(registry: JobRegistry, events: int, tenant: str | None = None) -> Any:
    async def work(emit: Any) -> dict[str, Any]:
        for n in range(events):
            emit(Event(type="search", data={"n": n}))
        return {"answer": "x"}

    return await registry.wait(registry.submit("ask", {}, work, tenant=tenant))


@pytest.mark.parametrize("after", [-2, -1_000_000_000, 10**6])
def test_following_a_finished_job_from_any_offset_ends_and_sends_each_event_once(after: int) -> None:
    async def main() -> dict[int, list[int]]:
        registry = JobRegistry(ServerDB.for_home(Settings().home))
        seen: dict[int, list[int]] = {}
        for count in (0, 3):
            job = await _finished_job(registry, count)
            seen[count] = []
            async for event in registry.follow(job, after=after):
                seen[count].append(event["seq"])
                if len(seen[count]) > 10:  # duplicates: stop before memory runs out
                    break
        return seen

    expected = {0: [], 3: [] if after >= 2 else [0, 1, 2]}
    assert _on_own_loop(main) == expected


def test_following_a_running_job_past_its_last_event_waits_without_blocking_the_loop() -> None:
    async def main() -> tuple[list[dict[str, Any]], JobStatus]:
        registry = JobRegistry(ServerDB.for_home(Settings().home))
        runner = GatedRunner()
        job = registry.submit("ask", {}, lambda emit: runner.run("ask", RunRequest("q"), emit))
        # The loop must stay free while the follower waits: this other task ends the job.
        asyncio.get_running_loop().call_later(0.2, runner.gate.set)
        followed = [event async for event in registry.follow(job, after=10**6)]
        return followed, job.status

    assert _on_own_loop(main) == ([], JobStatus.succeeded)


async def test_the_events_endpoint_refuses_an_offset_below_minus_one() -> None:
    app = create_app(Settings(), runner=GatedRunner())
    secret = app.state.sleuth.tokens.create("reader", tenant="acme")[1]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://a", headers={"Authorization": f"Bearer {secret}"}
    ) as client:
        job = await _finished_job(app.state.sleuth.jobs, 2, tenant="acme")
        refused = await client.get(f"/v1/jobs/{job.id}/events", params={"after": -2})
        replay = await client.get(f"/v1/jobs/{job.id}/events", params={"after": -1})
        garbled = await client.get(f"/v1/jobs/{job.id}/events", headers={"Last-Event-ID": "-7"})
        resumed = await client.get(f"/v1/jobs/{job.id}/events", headers={"Last-Event-ID": "0"})
    assert refused.status_code == 422 and "after" in refused.text
    assert replay.text.count("event: result") == 1 and replay.text.count('"type": "search"') == 2
    assert garbled.status_code == 200 and garbled.text.count('"type": "search"') == 2
    assert resumed.text.count('"type": "search"') == 1 and '"seq": 1' in resumed.text
