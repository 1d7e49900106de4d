"""Two API servers on one Postgres database: real uvicorn processes (fake model, hash embedder), one job started
on one and followed over SSE on the other, a correction made on one used by the other's next answer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sleuth.server.auth import TokenStore
from sleuth.server.db import ServerDB
from sleuth.testing.postgres import TempPostgres

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

# What `sleuth serve --fake-llm` runs, with the hash embedder for patches (no model of any kind) and a model
# slow enough (0.3 s a call) that a job is still running when the other server starts following it.
SERVER = textwrap.dedent(
    """
    import sys
    import uvicorn
    from sleuth.config import Settings
    from sleuth.feedback.policy import PatchPolicy
    from sleuth.feedback.store import PatchStore
    from sleuth.server.app import create_app
    from sleuth.testing import HashEmbedder, SlowModel, fake_sleuth, grounded_llm

    settings = Settings()
    store = PatchStore(settings.patches_database, HashEmbedder(), PatchPolicy.from_settings(settings))
    sleuth = fake_sleuth(settings, llm=SlowModel(grounded_llm(), 0.3), patches=store)
    uvicorn.run(create_app(settings, sleuth=sleuth), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(url: str, home: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLEUTH_")}
    # Each server its own SLEUTH_HOME: all they share is the database.
    env.update(SLEUTH_HOME=str(home), SLEUTH_DATABASE_URL=url, SLEUTH_MAX_ROUNDS="1", SLEUTH_PATCH_MIN_SCORE="0.3")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def _wait_healthy(proc: subprocess.Popen[str], base: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} did not answer within {timeout_s} s")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def two_servers(postgres_cluster: TempPostgres, tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    url = postgres_cluster.new_database()
    db = ServerDB(url)
    tokens = TokenStore(db)  # made in the test's process: both servers must accept them
    secrets = {"ann": tokens.create("corrector", tenant="acme", name="ann")[1], "admin": tokens.create("admin")[1]}
    db.close()
    with ExitStack() as stack:
        started = [_start(url, tmp_path / name) for name in ("a", "b")]  # both at once: they start in parallel
        for proc, _ in started:
            stack.callback(_stop, proc)
        for proc, base in started:
            _wait_healthy(proc, base)
        yield started[0][1], started[1][1], secrets


def _follow(client: httpx.Client, job_id: str) -> tuple[list[dict[str, Any]], dict[str, Any], float]:
    """Every event of the job's SSE stream, the final `result` message's job, and when the first event came."""
    events: list[dict[str, Any]] = []
    first_at, name = 0.0, "message"
    with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                data = json.loads(line.partition(":")[2])
                if name == "result":
                    return events, data, first_at
                first_at = first_at or time.time()
                events.append(data)
    raise AssertionError(f"the stream ended without a result after {len(events)} events")


def test_a_job_started_on_one_server_is_followed_on_the_other_and_corrections_are_shared(
    two_servers: tuple[str, str, dict[str, str]],
) -> None:
    a_url, b_url, secrets = two_servers
    ann = {"Authorization": f"Bearer {secrets['ann']}"}
    with (
        httpx.Client(base_url=a_url, headers=ann, timeout=60) as a,
        httpx.Client(base_url=b_url, headers=ann, timeout=60) as b,
    ):
        job_id = a.post("/v1/research", json={"question": "What is Lilu?"}).json()["id"]
        events, job, first_at = _follow(b, job_id)
        # B streamed the run while A was still running it, every event in order, and then its end.
        assert first_at < datetime.fromisoformat(job["finished_at"]).timestamp()
        assert [e["seq"] for e in events] == list(range(len(events)))
        assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_finished"
        assert events == a.get(f"/v1/jobs/{job_id}", params={"events": "true"}).json()["events"]
        assert job["status"] == "succeeded" and job["result"]["citations"][0]["passage_id"] == "p-lilu"
        assert [j["id"] for j in b.get("/v1/jobs").json()] == [job_id]

        # B answers (and so builds its patch cache), then A takes a correction: B's next answer uses it.
        before = b.post("/v1/ask", json={"question": "What is Lilu?"}).json()["result"]
        assert before["answer"].startswith("Lilu is a masculine") and before["patches_used"] == []
        patch = a.post(
            "/v1/feedback",
            json={
                "query": "What is Lilu?",
                "answer": "Lilu is a storm demon",
                "evidence": "Lilu is a storm demon in Akkadian texts.",
                "evidence_passage_ids": ["p-lilu"],
            },
        ).json()
        after = b.post("/v1/ask", json={"question": "What is Lilu in myth?"}).json()["result"]
        assert after["answer"] == "Lilu is a storm demon" and after["patches_used"] == [patch["id"]]
        audit = b.get("/v1/audit", headers={"Authorization": f"Bearer {secrets['admin']}"}).json()
        assert [(entry["action"], entry["patch_id"]) for entry in audit] == [("created", patch["id"])]
