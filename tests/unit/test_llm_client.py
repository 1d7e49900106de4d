"""The OpenAI-compatible client against a real local HTTP server: retries, timeouts, clear errors."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest

from sleuth.agents.research.nodes.reader import ReaderOutput
from sleuth.llm import CachedModel, GenParams, LLMBadReplyError, LLMError, LLMUnavailableError, OpenAICompatModel
from sleuth.llm.base import ChatRequest
from sleuth.llm.structured import schema_for
from sleuth.names import LLM_HTTPS, LLMHttp
from sleuth.testing import FakeOpenAIServer, Fault, ScriptedLLM

pytestmark = pytest.mark.allow_llm


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_reply_usage_and_json_schema_are_passed() -> None:
    with FakeOpenAIServer(lambda body: '{"x": 1}') as server:
        client = OpenAICompatModel(server.base_url, "m", max_retries=0)
        reply = await client.complete(
            [{"role": "user", "content": "hi"}],
            json_schema={"title": "X"},
            params=GenParams(max_tokens=7, stop=("</s>",)),
            agent="reader",
        )
        await client.aclose()
    assert reply.text == '{"x": 1}' and reply.agent == "reader" and reply.prompt_tokens == 5
    body = server.requests[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["max_tokens"] == 7 and body["stop"] == ["</s>"]


async def test_retries_on_5xx_and_429_then_succeeds() -> None:
    with FakeOpenAIServer(lambda body: "fine", statuses=[500, 429]) as server:
        client = OpenAICompatModel(server.base_url, max_retries=3)
        reply = await client.complete([{"role": "user", "content": "hi"}])
        await client.aclose()
    assert reply.text == "fine"
    assert len(server.requests) == 3


async def test_gives_up_after_max_retries_naming_the_url() -> None:
    with FakeOpenAIServer(statuses=[503] * 10) as server:
        client = OpenAICompatModel(server.base_url, max_retries=1)
        with pytest.raises(LLMUnavailableError, match=server.base_url):
            await client.complete([{"role": "user", "content": "hi"}])
        await client.aclose()
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"choices": []}, "choices"),
        ({"error": {"message": "model overloaded", "type": "server_error"}}, "model overloaded"),
        (b"<html>502 Bad Gateway</html>", "not JSON: '<html>502 Bad Gateway</html>'"),
        ({"choices": [{"index": 0, "message": {"role": "assistant", "content": 5}}]}, "content"),
    ],
)
async def test_a_malformed_200_reply_is_retried_then_an_llm_error_naming_the_url(
    body: dict | bytes, says: str
) -> None:
    with FakeOpenAIServer(bodies=[body] * 2) as server:
        client = OpenAICompatModel(server.base_url, max_retries=1)
        with pytest.raises(LLMBadReplyError) as raised:
            await client.complete([{"role": "user", "content": "hi"}])
        await client.aclose()
    assert len(server.requests) == 2
    message = str(raised.value)
    assert server.base_url in message and "not a chat completion" in message and says in message
    assert isinstance(raised.value, LLMError)  # what the CLI and the agents catch


async def test_a_malformed_reply_followed_by_a_good_one_succeeds() -> None:
    with FakeOpenAIServer(lambda body: "fine", bodies=[{"choices": []}]) as server:
        client = OpenAICompatModel(server.base_url, max_retries=1)
        reply = await client.complete([{"role": "user", "content": "hi"}])
        await client.aclose()
    assert reply.text == "fine" and reply.prompt_tokens == 5 and len(server.requests) == 2


async def test_unreachable_url_fails_fast_with_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    client = OpenAICompatModel(url, max_retries=1, timeout_s=10)
    start = time.monotonic()
    with pytest.raises(LLMUnavailableError, match=url):
        await client.complete([{"role": "user", "content": "hi"}])
    assert time.monotonic() - start < 10
    await client.aclose()


async def test_hung_server_hits_the_hard_timeout() -> None:
    with FakeOpenAIServer(lambda body: "late", delay_s=5) as server:
        client = OpenAICompatModel(server.base_url, timeout_s=0.5, request_timeout_s=30, max_retries=3)
        start = time.monotonic()
        with pytest.raises(LLMUnavailableError, match="did not answer within"):
            await client.complete([{"role": "user", "content": "hi"}])
        assert time.monotonic() - start < 3
        await client.aclose()


async def test_cache_replays_identical_requests_only(tmp_path) -> None:
    inner = ScriptedLLM(["first", "second", "third"], repeat_last=False)
    cache = CachedModel(inner, tmp_path / "cache.sqlite", "m")
    messages = [{"role": "user", "content": "q"}]
    a = await cache.complete(messages)
    b = await cache.complete(messages)
    c = await cache.complete(messages, params=GenParams(temperature=0.7))
    assert (a.text, b.text, c.text) == ("first", "first", "second")
    assert b.cached and not a.cached and len(inner.calls) == 2
    cache.close()
    reopened = CachedModel(ScriptedLLM([]), tmp_path / "cache.sqlite", "m")
    assert (await reopened.complete(messages)).text == "first"
    other_model = CachedModel(ScriptedLLM(["fresh"]), tmp_path / "cache.sqlite", "other")
    assert (await other_model.complete(messages)).text == "fresh"


async def test_a_reply_dripping_in_is_cut_at_the_request_timeout_and_retried() -> None:
    # A byte every 0.1 s never trips a 0.3 s per-read limit: only a limit on the whole reply cuts it.
    with FakeOpenAIServer(lambda body: "fine", faults=[Fault.drip(0.1)]) as server:
        client = OpenAICompatModel(
            server.base_url, timeout_s=5, request_timeout_s=0.3, max_retries=1, retry_wait_s=0
        )
        start = time.monotonic()
        reply = await client.complete([{"role": "user", "content": "hi"}])
        await client.aclose()
    assert reply.text == "fine" and len(server.requests) == 2
    assert time.monotonic() - start < 2


async def test_a_slow_but_steady_reply_within_the_request_timeout_is_not_cut() -> None:
    with FakeOpenAIServer(lambda body: "fine", faults=[Fault.drip(0.001, chunk=16)]) as server:
        client = OpenAICompatModel(server.base_url, timeout_s=5, request_timeout_s=2, max_retries=0)
        reply = await client.complete([{"role": "user", "content": "hi"}])
        await client.aclose()
    assert reply.text == "fine" and len(server.requests) == 1


async def test_a_refused_request_is_not_retried_and_says_why() -> None:
    with FakeOpenAIServer(statuses=[401] * 3) as server:
        client = OpenAICompatModel(server.base_url, max_retries=3, retry_wait_s=0)
        with pytest.raises(LLMUnavailableError, match=r"refused the request \(401\): .*scripted 401") as raised:
            await client.complete([{"role": "user", "content": "hi"}])
        await client.aclose()
    assert len(server.requests) == 1  # a wrong key stays wrong: no retry
    assert server.base_url in str(raised.value)


async def test_a_busy_server_is_named_with_its_status_and_message() -> None:
    with FakeOpenAIServer(statuses=[429] * 2) as server:
        client = OpenAICompatModel(server.base_url, max_retries=1, retry_wait_s=0)
        with pytest.raises(LLMUnavailableError, match=r"failed after 2 attempts: .*429.*scripted 429"):
            await client.complete([{"role": "user", "content": "hi"}])
        await client.aclose()
    assert len(server.requests) == 2


async def test_the_request_body_is_the_chat_completion_asked_for() -> None:
    with FakeOpenAIServer(lambda body: "ok") as server:
        client = OpenAICompatModel(server.base_url, "m", api_key="sk-test", max_retries=0)
        await client.complete(
            [{"role": "user", "content": "héllo"}], params=GenParams(temperature=0.3, seed=7), json_schema=None
        )
        await client.aclose()
    body = server.requests[0]
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "héllo"}],
        "temperature": 0.3,
        "max_tokens": 512,
        "seed": 7,
    }


@pytest.mark.parametrize("llama_cpp", [True, False])
async def test_an_exact_call_turns_the_prompt_cache_off_on_a_llama_cpp_server_only(llama_cpp: bool) -> None:
    with FakeOpenAIServer(lambda body: "ok") as server:
        client = OpenAICompatModel(server.base_url, "m", max_retries=0, llama_cpp=llama_cpp)
        await client.complete([{"role": "user", "content": "a"}], params=GenParams(exact=True))
        await client.complete([{"role": "user", "content": "b"}])
        await client.aclose()
    exact, plain = server.requests
    assert exact.get("cache_prompt") is (False if llama_cpp else None)
    assert "cache_prompt" not in plain
    # The response cache keys every other call as before: `exact` is in the key only when set.
    assert "exact" not in GenParams().as_dict() and GenParams(exact=True).as_dict()["exact"] is True


def _create_kwargs(model: str, request: ChatRequest) -> dict[str, Any]:
    """The arguments of the SDK's own `chat.completions.create` for `request` (the client's former call)."""
    params = request.params
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": request.messages,
        "temperature": params.temperature,
        "max_tokens": params.max_tokens,
    }
    if params.stop:
        kwargs["stop"] = list(params.stop)
    if params.seed is not None:
        kwargs["seed"] = params.seed
    if request.json_schema is not None:
        name = request.json_schema.get("title", "output")
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": request.json_schema},
        }
    return kwargs


@pytest.mark.parametrize(
    "request_",
    [
        ChatRequest([{"role": "user", "content": "hi"}]),
        ChatRequest(
            [{"role": "system", "content": 'Quote "exactly".\n\tTabs, ünïcode, emoji 🦉, </s>'}],
            GenParams(temperature=0.7, max_tokens=64, stop=("</s>", "\n\n"), seed=3),
            schema_for(ReaderOutput),
            "reader",
        ),
        ChatRequest([{"role": "user", "content": "x"}], GenParams(seed=0), {"type": "object"}),  # untitled
    ],
)
@pytest.mark.parametrize("http", LLM_HTTPS)
async def test_a_request_is_sent_as_the_sdks_own_create_call_sends_it(
    request_: ChatRequest, http: LLMHttp
) -> None:
    """The client posts a body it builds itself (the SDK's transform was most of its cost per request), over
    either HTTP backend: what reaches the server is the JSON and the headers of the SDK's own
    `chat.completions.create` with the same arguments, on the SDK's default client."""
    with FakeOpenAIServer(lambda body: "ok") as server:
        ours = OpenAICompatModel(server.base_url, "m", api_key="sk-test", max_retries=0, http=http)
        sdk = OpenAICompatModel(server.base_url, "m", api_key="sk-test", max_retries=0, http="httpx")
        try:
            await ours.respond(request_)
            # The same SDK settings (timeouts, key) through its public high-level call.
            await sdk._client.chat.completions.create(**_create_kwargs("m", request_))
        finally:
            await ours.aclose()
            await sdk.aclose()
    (ours_headers, ours_body), (sdk_headers, sdk_body) = server.raw_requests
    assert json.loads(ours_body) == json.loads(sdk_body)
    assert ours_headers == sdk_headers  # auth, user agent, the SDK's x-stainless-* and length alike
    assert ours_headers["authorization"] == "Bearer sk-test"


def test_the_http_backend_comes_from_settings_and_a_wrong_one_is_refused(monkeypatch) -> None:
    from pydantic import ValidationError

    from sleuth.config import Settings
    from sleuth.llm.clients import openai_client

    assert openai_client(Settings(), "http://127.0.0.1:1/v1", "m").http == "httpx"
    monkeypatch.setenv("SLEUTH_LLM_HTTP", "aiohttp")
    assert openai_client(Settings(), "http://127.0.0.1:1/v1", "m").http == "aiohttp"
    with pytest.raises(ValidationError, match="'aiohttp' or 'httpx'"):
        Settings(llm_http="curl")


def test_the_default_client_serves_one_event_loop_after_another() -> None:
    """A library user's script may call sleuth from several `asyncio.run`s with one model: the default backend
    must not be tied to the first loop (aiohttp's session is: "Event loop is closed" on the second run)."""
    import asyncio

    with FakeOpenAIServer(lambda body: "ok") as server:
        model = OpenAICompatModel(server.base_url, "m", max_retries=0)
        texts = [asyncio.run(model.complete([{"role": "user", "content": f"hi {i}"}])).text for i in range(3)]
    assert texts == ["ok", "ok", "ok"]
    assert len(server.requests) == 3
