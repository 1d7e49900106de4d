"""Async client for any OpenAI-compatible chat server (OpenAI, vLLM, llama.cpp), with retries and limits."""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import time
from typing import Any

import httpx2 as httpx
from pydantic import BaseModel, Field, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sleuth.llm.base import BaseChatModel, ChatRequest, Completion, LLMBadReplyError, LLMUnavailableError
from sleuth.llm.guard import check_real_model_call


class _Busy(Exception):
    """A 429 or 5xx: the server is busy, restarting or failing; worth another try."""


class _Refused(Exception):
    """Any other 4xx: our request or key is wrong, and asking again will not change that."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _SlowReply(Exception):
    """An attempt that outlived the request timeout in all: httpx limits each read, so a reply that drips in
    a byte at a time would otherwise hold the call until the hard timeout, with no retry."""


class _MalformedReply(Exception):
    """A status-200 body that is not a chat completion; retried like a 5xx (a proxy or a loading server)."""


# Failures worth another try: the server is busy, restarting, or slow, or the connection broke (httpx's
# timeouts are transport errors too); anything else is our bug or theirs.
_TRANSIENT = (_Busy, httpx.TransportError, _SlowReply, _MalformedReply)


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _Usage(BaseModel):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _ChatReply(BaseModel):
    """The part of a chat-completion body sleuth reads. The openai client builds its typed reply without
    validating it, so `{"choices": []}` or an error object sent with status 200 would fail later, far
    from the server that sent it."""

    choices: list[_Choice] = Field(min_length=1)
    model: str | None = None
    usage: _Usage | None = None


def _parse_reply(body: bytes) -> _ChatReply:
    """The validated reply; `_MalformedReply` saying what is wrong with it otherwise."""
    excerpt = body[:200].decode("utf-8", "replace")
    try:
        data = json.loads(body)
    except ValueError:
        raise _MalformedReply(f"the body is not JSON: {excerpt!r}") from None
    if isinstance(data, dict) and data.get("error") and not data.get("choices"):
        raise _MalformedReply(f"it sent an error with status 200: {json.dumps(data['error'])[:200]}")
    try:
        return _ChatReply.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise _MalformedReply(f"{where}: {first['msg']} (body: {excerpt!r})") from None


def _error_message(response: httpx.Response) -> str:
    """What an error reply says: its `error.message` when it is OpenAI-shaped, else the start of its body."""
    try:
        error = json.loads(response.content).get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or response.content[:200].decode("utf-8", "replace") or response.reason_phrase)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the trust store takes ~50 ms: built once per process and shared by every client, not per client.
    return httpx.create_ssl_context()


class OpenAICompatModel(BaseChatModel):
    """A `ChatModel` that posts to `<base_url>/chat/completions` with httpx.

    Each request body is JSON-encoded once per call by `request_body` and posted as bytes. Not through the
    openai SDK: its per-request parameter transform, option copies and header building cost ~2.5 ms of
    event-loop time a request, so 16 parallel readers left one after another over ~50 ms; here a
    request costs a fraction of that (`bench/fanout.py`). The reply is validated here either way.

    Args:
        base_url: the server's `/v1` URL.
        model: model name sent with each request.
        api_key: key for the server (local servers accept anything).
        timeout_s: hard limit on one `complete` call, every retry included.
        request_timeout_s: limit on one HTTP request, the whole reply included.
        connect_timeout_s: limit on opening the connection.
        max_retries: retries on 429, 5xx, timeouts, broken connections and malformed replies.
        retry_wait_s: wait before the first retry; doubled on each further one, up to 8 s.
        concurrency: most requests in flight at once through this client.
    """

    def __init__(
        self,
        base_url: str,
        model: str = "local",
        *,
        api_key: str = "sk-no-key",
        timeout_s: float = 120.0,
        request_timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_retries: int = 3,
        retry_wait_s: float = 0.5,
        concurrency: int = 16,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_wait_s = retry_wait_s
        self.request_timeout_s = request_timeout_s
        self.concurrency = max(1, concurrency)
        # One absolute URL parsed once: httpx parses and merges a relative one on every request.
        self._endpoint = httpx.URL(f"{self.base_url}/chat/completions")
        self._http = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
            # Every call in flight keeps its connection for the next fan-out.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=max(20, self.concurrency)),
            verify=_tls_context(),
        )
        self._limit = asyncio.Semaphore(self.concurrency)

    def request_body(self, request: ChatRequest) -> bytes:
        """The JSON body of `request`'s chat completion, encoded once for every attempt."""
        params, json_schema = request.params, request.json_schema
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "output"), "schema": json_schema},
            }
        return json.dumps(body, ensure_ascii=False).encode("utf-8")

    async def respond(self, request: ChatRequest) -> Completion:
        check_real_model_call(f"a call to the model server at {self.base_url}")
        body = self.request_body(request)
        try:
            # The concurrency slot is taken before the clock starts: waiting for our turn behind other
            # readers is not the server being slow.
            async with self._limit, asyncio.timeout(self.timeout_s):
                return await self._complete_with_retries(body, request.agent)
        except TimeoutError as exc:
            raise LLMUnavailableError(f"LLM at {self.base_url} did not answer within {self.timeout_s:g}s") from exc
        except _Refused as exc:
            raise LLMUnavailableError(f"LLM at {self.base_url} refused the request ({exc.status}): {exc}") from exc
        except _MalformedReply as exc:
            raise LLMBadReplyError(
                f"LLM at {self.base_url} answered {self.max_retries + 1} time(s) with something that is not "
                f"a chat completion; the last: {exc}"
            ) from exc
        except _TRANSIENT as exc:
            why = str(exc) if isinstance(exc, _Busy | _SlowReply) else f"{type(exc).__name__}: {exc or 'no reply'}"
            raise LLMUnavailableError(
                f"LLM at {self.base_url} failed after {self.max_retries + 1} attempts: {why}"
            ) from exc

    async def _complete_with_retries(self, body: bytes, agent: str) -> Completion:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_TRANSIENT),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=self.retry_wait_s, max=8),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                start = time.perf_counter()
                reply = _parse_reply(await self._post(body))
                latency = time.perf_counter() - start
        choice, usage = reply.choices[0], reply.usage or _Usage()
        # The model is named as it was asked for (what settings and the price table call it); a server may
        # answer with a longer name of its own (a dated snapshot, a weights file), kept as `served_model`.
        return Completion(
            text=choice.message.content or "",
            model=self.model,
            prompt_tokens=usage.prompt_tokens or 0,
            completion_tokens=usage.completion_tokens or 0,
            latency_s=latency,
            agent=agent,
            extra={"finish_reason": choice.finish_reason, "served_model": reply.model or self.model},
        )

    async def _post(self, body: bytes) -> bytes:
        """One attempt: the reply body of a 2xx; `_Busy` or `_Refused` for an error status."""
        try:
            async with asyncio.timeout(self.request_timeout_s):
                response = await self._http.post(self._endpoint, content=body)
        except TimeoutError:
            raise _SlowReply(f"no whole reply within the {self.request_timeout_s:g}s request timeout") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Busy(f"it answered {response.status_code}: {_error_message(response)}")
        if response.status_code >= 400:
            raise _Refused(response.status_code, _error_message(response))
        return response.content

    async def aclose(self) -> None:
        await self._http.aclose()
