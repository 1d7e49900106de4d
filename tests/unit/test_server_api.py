"""The HTTP API over the real agents (grounded fake model): auth, SSE events, feedback scoping, limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from sleuth.config import Settings
from sleuth.feedback.store import PatchStore
from sleuth.server.app import create_app
from sleuth.testing import FakeOpenAIServer, HashEmbedder, fake_sleuth


class Server:
    """An app on the fake model plus a token of each role, with an httpx client per token."""

    def __init__(self, **settings: Any) -> None:
        self.settings = Settings(max_rounds=1, patch_min_score=0.3, **settings)
        self.store = PatchStore(self.settings.patches_path, HashEmbedder())
        self.sleuth = fake_sleuth(self.settings, patches=self.store)
        self.app = create_app(self.settings, sleuth=self.sleuth)
        tokens = self.app.state.sleuth.tokens
        self.tokens = {
            "reader": tokens.create("reader", tenant="acme")[1],
            "corrector": tokens.create("corrector", tenant="acme", name="ann")[1],
            "rival": tokens.create("corrector", tenant="globex")[1],
            "admin": tokens.create("admin")[1],
        }

    def client(self, who: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://sleuth", headers=headers
        )


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    yield srv
    await srv.app.state.sleuth.jobs.shutdown()
    srv.store.close()


def parse_sse(text: str) -> list[tuple[str, dict[str, Any], str]]:
    """(event name, data, id) of every SSE message in a response body (pings skipped)."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        data = []
        for line in block.split("\n"):
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "data":
                data.append(value)
            elif key in ("event", "id"):
                fields[key] = value
        if data:
            out.append((fields.get("event", "message"), json.loads("\n".join(data)), fields.get("id", "")))
    return out


async def run_research(client: httpx.AsyncClient, question: str) -> dict[str, Any]:
    created = await client.post("/v1/research", json={"question": question})
    assert created.status_code == 202, created.text
    events = await client.get(created.json()["events_url"])
    return {"id": created.json()["id"], "sse": parse_sse(events.text)}


async def test_unauthenticated_or_underprivileged_writes_are_refused_and_change_nothing(server: Server) -> None:
    patch = {"query": "What is Lilu?", "answer": "a storm demon", "evidence": "Lilu is a storm demon."}
    async with server.client() as anon, server.client("reader") as reader:
        assert (await anon.post("/v1/feedback", json=patch)).status_code == 401
        assert (await anon.post("/v1/research", json={"question": "What is Lilu?"})).status_code == 401
        assert (await anon.delete("/v1/feedback/p123")).status_code == 401
        bad = await anon.post("/v1/feedback", json=patch, headers={"Authorization": "Bearer slt_forged"})
        assert bad.status_code == 401 and "invalid" in bad.json()["detail"]
        denied = await reader.post("/v1/feedback", json=patch)
        assert denied.status_code == 403 and "corrector" in denied.json()["detail"]
        assert (await reader.post("/v1/optimize", json={})).status_code == 403
        assert (await reader.get("/v1/audit")).status_code == 403
    assert server.store.count() == 0
    assert server.app.state.sleuth.jobs.in_flight == 0


async def test_revoked_token_is_refused(server: Server) -> None:
    tokens = server.app.state.sleuth.tokens
    info, secret = tokens.create("reader", tenant="acme")
    assert tokens.revoke(info.id)
    async with server.client() as anon:
        response = await anon.get("/v1/feedback", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


async def test_sse_delivers_every_event_of_a_run_in_order_then_the_result(server: Server) -> None:
    async with server.client("reader") as client:
        run = await run_research(client, "What is Lilu?")
        stored = (await client.get(f"/v1/research/{run['id']}", params={"events": "true"})).json()
        # A late subscriber gets the whole run replayed from the start, and can resume after an id.
        replay = parse_sse((await client.get(f"/v1/research/{run['id']}/events")).text)
        tail = parse_sse(
            (await client.get(f"/v1/research/{run['id']}/events", headers={"Last-Event-ID": "3"})).text
        )
    async with server.client() as anon:  # EventSource clients pass the token as a query parameter
        by_query = parse_sse(
            (await anon.get(f"/v1/jobs/{run['id']}/events", params={"token": server.tokens["reader"]})).text
        )
        assert (await anon.get(f"/v1/jobs/{run['id']}/events")).status_code == 401
    messages = [(data, ident) for name, data, ident in run["sse"] if name == "message"]
    seqs = [data["seq"] for data, _ in messages]
    assert seqs == list(range(len(messages))) and len(messages) >= 8
    assert [ident for _, ident in messages] == [str(s) for s in seqs]
    types = [data["type"] for data, _ in messages]
    assert types[0] == "run_started" and types[-1] == "run_finished" and "search" in types
    assert [data for data, _ in messages] == stored["events"]  # nothing lost, nothing reordered
    name, final, _ = run["sse"][-1]
    assert name == "result" and final["status"] == "succeeded"
    assert final["result"]["citations"][0]["passage_id"] == "p-lilu"
    assert "Lilu is a masculine Semitic name" in final["result"]["answer"]
    assert replay == run["sse"] == by_query
    assert [data["seq"] for name, data, _ in tail if name == "message"] == seqs[4:]


async def test_a_correction_changes_the_next_related_answer_for_its_tenant_only(server: Server) -> None:
    async with server.client("corrector") as ann, server.client("rival") as rival:
        before = await ann.post("/v1/ask", json={"question": "What is Lilu?"})
        assert before.json()["result"]["answer"].startswith("Lilu is a masculine Semitic name")
        added = await ann.post(
            "/v1/feedback",
            json={
                "query": "What is Lilu?",
                "answer": "Lilu is a storm demon",
                "evidence": "Lilu is a storm demon in Akkadian texts.",
                "evidence_passage_ids": ["p-lilu"],
            },
        )
        assert added.status_code == 201, added.text
        patch = added.json()
        assert patch["tenant"] == "acme" and patch["author"] == "ann"
        after = (await ann.post("/v1/ask", json={"question": "What is Lilu in myth?"})).json()["result"]
        assert after["answer"] == "Lilu is a storm demon" and after["patches_used"] == [patch["id"]]
        research = await run_research(ann, "What is Lilu in mythology?")
        report = research["sse"][-1][1]["result"]
        assert report["answer"].startswith("The answer is Lilu is a storm demon")
        assert report["citations"][0]["passage_id"] == f"patch:{patch['id']}"
        # Another tenant neither sees nor is answered with acme's correction, and cannot retract it.
        other = (await rival.post("/v1/ask", json={"question": "What is Lilu?"})).json()["result"]
        assert other["answer"].startswith("Lilu is a masculine") and other["patches_used"] == []
        assert (await rival.get("/v1/feedback")).json() == []
        assert (await rival.get(f"/v1/feedback/{patch['id']}")).status_code == 404
        assert (await rival.delete(f"/v1/feedback/{patch['id']}")).status_code == 404
        assert [p["id"] for p in (await ann.get("/v1/feedback")).json()] == [patch["id"]]
        # Jobs are scoped the same way.
        assert (await rival.get(f"/v1/research/{research['id']}")).status_code == 404
        assert research["id"] in [j["id"] for j in (await ann.get("/v1/jobs")).json()]
        assert research["id"] not in [j["id"] for j in (await rival.get("/v1/jobs")).json()]


async def test_collection_and_prompt_names_cannot_be_paths(server: Server) -> None:
    async with server.client("reader") as client:
        for body in (
            {"question": "q", "collection": "../etc"},
            {"question": "q", "collection": ".."},
            {"question": "q", "prompts": "/tmp/x"},
            {"question": ""},
        ):
            assert (await client.post("/v1/research", json=body)).status_code == 422
        blank = await client.post("/v1/research", json={"question": "   "})
        assert blank.status_code == 422 and "empty" in blank.json()["detail"]


async def test_supersede_and_retract_are_audited(server: Server) -> None:
    async with server.client("corrector") as ann, server.client("admin") as admin:
        first = (
            await ann.post(
                "/v1/feedback",
                json={"query": "What is Lilu?", "answer": "a demon", "evidence": "Lilu is a demon."},
            )
        ).json()
        second = (
            await ann.post(
                "/v1/feedback",
                json={
                    "query": "What is Lilu?",
                    "answer": "a wind spirit",
                    "evidence": "It is also a wind spirit.",
                    "supersedes": first["id"],
                },
            )
        ).json()
        retracted = await ann.delete(f"/v1/feedback/{second['id']}", params={"note": "wrong"})
        assert retracted.status_code == 200 and retracted.json()["status"] == "retracted"
        assert (await ann.delete(f"/v1/feedback/{second['id']}")).status_code == 409
        assert (await ann.get("/v1/feedback")).json() == []
        everything = (await ann.get("/v1/feedback", params={"status": "all"})).json()
        assert {p["id"]: p["status"] for p in everything} == {first["id"]: "superseded", second["id"]: "retracted"}
        audit = (await admin.get("/v1/audit")).json()
    corrector_id = server.app.state.sleuth.tokens.authenticate(server.tokens["corrector"]).token_id
    assert [(a["action"], a["patch_id"]) for a in reversed(audit)] == [
        ("created", first["id"]),
        ("created", second["id"]),
        ("superseded", first["id"]),
        ("retracted", second["id"]),
    ]
    assert {a["token_id"] for a in audit} == {corrector_id}


async def test_oversized_bodies_get_413_and_bad_patches_a_clear_error() -> None:
    srv = Server(server_max_body_bytes=2000, patch_max_chars=500)
    async with srv.client("corrector") as ann:
        huge = await ann.post("/v1/feedback", json={"query": "q", "answer": "a" * 5000})
        assert huge.status_code == 413 and "2000 bytes" in huge.json()["detail"]
        long_answer = await ann.post("/v1/feedback", json={"query": "q", "answer": "a" * 600})
        assert long_answer.status_code == 413 and "500 characters" in long_answer.json()["detail"]
        blank = await ann.post("/v1/feedback", json={"query": "What is Lilu?", "answer": "   "})
        assert blank.status_code == 422 and "blank answer" in blank.json()["detail"]
        unknown = await ann.post("/v1/feedback", json={"query": "q", "answer": "a", "bogus": 1})
        assert unknown.status_code == 422
    assert srv.store.count() == 0
    srv.store.close()


async def test_writes_are_rate_limited_per_token() -> None:
    srv = Server(server_rate_burst=3, server_rate_per_minute=1)
    body = {"query": "What is Lilu?", "answer": "a demon", "evidence": "Lilu is a demon."}
    async with srv.client("corrector") as ann, srv.client("admin") as admin:
        codes = [(await ann.post("/v1/feedback", json=body)).status_code for _ in range(5)]
        limited = await ann.post("/v1/feedback", json=body)
        assert (await ann.get("/v1/feedback")).status_code == 200  # reads are not limited
        assert (await admin.post("/v1/feedback", json=body)).status_code == 201  # each token has its own bucket
    assert codes == [201, 201, 201, 429, 429]
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    srv.store.close()


async def test_optimize_is_admin_only_and_runs_as_a_background_job(server: Server) -> None:
    seen: list[Any] = []

    async def optimizer(request: Any, job_id: str, emit: Any) -> dict[str, Any]:
        emit({"type": "progress", "node": "optimizer", "data": {"event": "budget", "used": 1}})
        seen.append((request.budget, job_id))
        return {"best_prompts": f"/tmp/{job_id}/best"}

    server.app.state.sleuth.optimizer = optimizer
    async with server.client("corrector") as ann, server.client("admin") as admin:
        assert (await ann.post("/v1/optimize", json={"budget": 5})).status_code == 403
        created = await admin.post("/v1/optimize", json={"budget": 5})
        assert created.status_code == 202
        job_id = created.json()["id"]
        events = parse_sse((await admin.get(f"/v1/jobs/{job_id}/events")).text)
        status = (await admin.get(f"/v1/optimize/{job_id}")).json()
    assert seen == [(5, job_id)]
    assert events[0][1]["data"] == {"event": "budget", "used": 1}
    assert status["status"] == "succeeded" and status["result"] == {"best_prompts": f"/tmp/{job_id}/best"}


async def test_optimize_without_an_optimizer_is_501(server: Server) -> None:
    server.app.state.sleuth.optimizer = None
    async with server.client("admin") as admin:
        response = await admin.post("/v1/optimize", json={})
    assert response.status_code == 501 and "not available" in response.json()["detail"]


async def test_health_page_and_docs_need_no_token(server: Server) -> None:
    async with server.client() as anon:
        health = (await anon.get("/v1/health")).json()
        page = await anon.get("/")
        script = await anon.get("/static/app.js")
        docs = await anon.get("/docs")
        schema = (await anon.get("/openapi.json")).json()
    assert health["status"] == "ok" and health["jobs_in_flight"] == 0
    assert page.status_code == 200 and "<title>sleuth" in page.text and "EventSource" not in page.text
    assert script.status_code == 200 and "/v1/feedback" in script.text
    assert "http://" not in page.text and "https://" not in page.text  # no external resources
    assert docs.status_code == 200
    assert {"/v1/research", "/v1/ask", "/v1/feedback", "/v1/optimize", "/v1/health"} <= set(schema["paths"])


async def test_the_default_optimizer_runs_an_optimization_job_on_the_servers_model(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sleuth.optimizers import jobs as optimizer_jobs

    seen: dict[str, Any] = {}

    async def fake_run_job(
        config: Any, settings: Any, llm: Any, *, patch_store: Any = None, on_event: Any = None
    ) -> Any:
        seen.update(config=config, llm=llm, patches=patch_store)
        on_event({"event": "accepted", "score": 0.5})

        return SimpleNamespace(report={"best_val": 0.5})

    monkeypatch.setattr(optimizer_jobs, "run_job", fake_run_job)
    async with server.client("admin") as admin:
        missing = await admin.post("/v1/optimize", json={"dataset": "nope"})
        assert missing.status_code == 404
        job = {"budget": 7, "method": "both", "test_limit": 5, "no_improvement": 3}
        created = (await admin.post("/v1/optimize", json=job)).json()
        events = parse_sse((await admin.get(created["events_url"])).text)
    assert "config" in seen, events
    config = seen["config"]
    # The same library job as `sleuth optimize --method both`: both methods, one report.
    assert config.budget == 7 and config.methods == ["gepa", "textgrad"]
    assert (config.test_limit, config.no_improvement, config.strategy) == (5, 3, "grounded")
    assert config.out == server.settings.home / "optimize" / created["id"]
    assert (Path(config.dataset) / "questions.jsonl").exists()  # the bundled demo set
    assert seen["llm"] is server.sleuth.llm and seen["patches"] is server.store
    assert events[0][1]["data"] == {"event": "accepted", "score": 0.5}
    assert events[-1][1]["status"] == "succeeded" and events[-1][1]["result"]["report"] == {"best_val": 0.5}


@pytest.mark.allow_llm
async def test_an_optimization_job_started_from_the_api_reflects_with_the_configured_reflection_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server's own model is the scripted fake; only reflection goes over HTTP, to the endpoint the
    # environment names, under the model name it names.
    with FakeOpenAIServer(lambda body: "```\nAnswer with the shortest span that answers.\n```") as reflector:
        monkeypatch.setenv("SLEUTH_REFLECTION_BASE_URL", reflector.base_url)
        monkeypatch.setenv("SLEUTH_REFLECTION_MODEL", "reflector-7b")
        server = Server()
        try:
            async with server.client("admin") as admin:
                job = {"method": "textgrad", "budget": 2, "val_limit": 1, "limit": 1, "minibatch_size": 1}
                created = (await admin.post("/v1/optimize", json=job)).json()
                events = parse_sse((await admin.get(created["events_url"])).text)
        finally:
            await server.app.state.sleuth.jobs.shutdown()
            server.store.close()
    assert events[-1][1]["status"] == "succeeded", events[-1]
    assert reflector.requests, "no reflection call reached the configured reflection endpoint"
    assert {request["model"] for request in reflector.requests} == {"reflector-7b"}
    assert not server.sleuth.llm.calls_for("reflection")  # the task model never reflected


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/research", '{"question": "What is \\ud800?"}'),
        ("/v1/ask", '{"question": "What is Lilu?", "collection": null, "prompts": null, "wait": false}'),
        ("/v1/feedback", '{"query": "What is Lilu?", "answer": "a spirit", "evidence": "x \\udfff y"}'),
        ("/v1/feedback", '{"query": "q", "answer": "a", "evidence_passage_ids": ["\\ud800"]}'),
    ],
)
async def test_a_lone_surrogate_in_a_body_is_a_422_not_a_server_error(
    server: Server, path: str, body: str
) -> None:
    async with server.client("admin") as admin:
        reply = await admin.post(path, content=body, headers={"Content-Type": "application/json"})
    if "\\u" not in body:  # the control: the same kind of request without one is accepted
        assert reply.status_code < 300, reply.text
        return
    assert reply.status_code == 422, reply.text
    error = reply.json()["detail"][0]
    assert error["type"] == "string_unicode" and error["loc"][0] == "body"
