"""`/mcp` of the API server over streamable HTTP, with the SDK's own client against the real app under uvicorn:
refused without a live API token, and with one the tools run as that token's role and tenant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from sleuth.config import Settings
from sleuth.feedback.store import PatchStore
from sleuth.server.app import create_app
from sleuth.testing import HashEmbedder, fake_sleuth, serve_in_thread


@pytest.fixture
def served() -> Iterator[tuple[str, Any]]:
    """(base URL, the app's token store) of a real API server on the grounded fake model."""
    settings = Settings(max_rounds=1, patch_min_score=0.3)
    store = PatchStore(settings.patches_path, HashEmbedder())
    app = create_app(settings, sleuth=fake_sleuth(settings, patches=store), embedder=HashEmbedder())
    with serve_in_thread(app) as url:
        yield url, app.state.sleuth.tokens


async def _session(url: str, token: str | None, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Open an MCP session on `url`/mcp with `token` and make `calls`; the results, in order."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        return [await client.call_tool(name, arguments) for name, arguments in calls]


async def _statuses_without(url: str, token: str | None) -> list[int]:
    """The HTTP statuses the server answered an MCP client that had `token` (the session must fail)."""
    statuses: list[int] = []

    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=60, event_hooks={"response": [record]}) as http:
        with pytest.raises(ExceptionGroup) as refused:  # the SDK's task groups wrap the client's error
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
                await client.list_tools()
    assert refused.value.subgroup(MCPError) is not None, refused.value
    return statuses


async def test_no_token_or_a_dead_one_is_refused_with_401(served: tuple[str, Any]) -> None:
    url, tokens = served
    info, secret = tokens.create("reader", tenant="acme")
    tokens.revoke(info.id)
    for token in (None, "slt_not-a-token", secret):
        statuses = await _statuses_without(url, token)
        assert statuses and set(statuses) == {401}, (token, statuses)


async def test_with_a_token_the_tools_run_as_its_role_and_tenant(served: tuple[str, Any]) -> None:
    url, tokens = served
    reader = tokens.create("reader", tenant="acme")[1]
    corrector = tokens.create("corrector", tenant="acme")[1]
    outsider = tokens.create("reader", tenant="globex")[1]
    question = {"question": "What is Lilu?"}
    correction = {"query": "What is Lilu?", "answer": "a wind spirit", "evidence": "Lilu is also a wind spirit."}

    research, refused = await _session(url, reader, [("research", question), ("feedback_add", correction)])
    [added] = await _session(url, corrector, [("feedback_add", correction)])
    [corrected, listed] = await _session(url, reader, [("research", question), ("feedback_list", {})])
    [elsewhere, none_listed] = await _session(url, outsider, [("research", question), ("feedback_list", {})])

    assert not research.is_error
    assert [c["passage_id"] for c in research.structured_content["citations"]] == ["p-lilu"]
    assert refused.is_error and "needs a corrector token; yours is reader" in refused.content[0].text
    assert not added.is_error
    patch_id = added.structured_content["id"]
    # acme's reader now gets the answer from acme's correction, cited as such; globex's does not see it.
    assert f"patch:{patch_id}" in [c["passage_id"] for c in corrected.structured_content["citations"]]
    assert "wind spirit" in corrected.structured_content["answer"]
    assert [c["id"] for c in listed.structured_content["corrections"]] == [patch_id]
    assert all(c["kind"] == "passage" for c in elsewhere.structured_content["citations"])
    assert none_listed.structured_content["corrections"] == []


async def test_a_proxied_host_name_is_served_the_token_is_the_guard(served: tuple[str, Any]) -> None:
    url, tokens = served
    secret = tokens.create("reader", tenant="acme")[1]
    headers = {"Authorization": f"Bearer {secret}", "Host": "sleuth.example.com"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        found = await client.call_tool("search", {"query": "Jaws", "k": 1})
    assert [hit["id"] for hit in found.structured_content["hits"]] == ["p-jaws"]
