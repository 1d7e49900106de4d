"""Async client for any OpenAI-compatible chat server (OpenAI, vLLM, llama.cpp), with retries and limits."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sleuth.llm.base import BaseChatModel, ChatRequest, Completion, LLMBadReplyError, LLMUnavailableError
from sleuth.llm.guard import check_real_model_call

if TYPE_CHECKING:
    import aiohttp


class _Busy(Exception):
    """A 429 or 5xx: the server is busy, restarting or failing; worth another try."""


class _Refused(Exception):
    """Any other 4xx: our request or key is wrong, and asking again will not change that."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Broken(Exception):
    """The connection could not be made or broke, or a read timed out; worth another try."""


class _SlowReply(Exception):
    """An attempt that outlived the request timeout in all: the socket's read limit applies to each read, so a
    reply that drips in a byte at a time would otherwise hold the call until the hard timeout, with no retry."""


class _MalformedReply(Exception):
    """A status-200 body that is not a chat completion; retried like a 5xx (a proxy or a loading server)."""


# Failures worth another try: the server is busy, restarting, or slow, or the connection broke; anything
# else is our bug or theirs.
_TRANSIENT = (_Busy, _Broken, _SlowReply, _MalformedReply)


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


def _error_message(status: int, reason: str | None, body: bytes) -> str:
    """What an error reply says: its `error.message` when it is OpenAI-shaped, else the start of its body."""
    try:
        error = json.loads(body).get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or body[:200].decode("utf-8", "replace") or reason or status)


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (`HTTPS_PROXY`/`HTTP_PROXY`, unless `NO_PROXY` covers its
    host), as other HTTP clients choose it; None for a direct connection."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


class OpenAICompatModel(BaseChatModel):
    """A `ChatModel` that posts to `<base_url>/chat/completions` with aiohttp.

    Each request body is JSON-encoded once per call (`request_body`) and posted as bytes. Not through the
    openai SDK, nor httpx: 16 parallel readers build and send their requests one after another on the event
    loop, and the SDK's per-request parameter transform, option copies and headers cost ~2.5 ms a request,
    httpx's URL handling and connection pool 2-4 times what aiohttp's C parser and connector cost
    (`bench/fanout.py`). The reply is validated here, as it always was (the SDK built its reply unchecked).
    Redirects are not followed (a chat endpoint has none; a login page's would be a malformed reply).

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
        self.connect_timeout_s = connect_timeout_s
        self.concurrency = max(1, concurrency)
        self._endpoint = f"{self.base_url}/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        # The proxy is looked up once: aiohttp's `trust_env` looks it up, and the netrc file, on a worker thread
        # for every request, two thread hops that delayed each reader of a fan-out.
        self._proxy = _proxy_for(self._endpoint)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._limit = asyncio.Semaphore(self.concurrency)

    def _client(self) -> aiohttp.ClientSession:
        """The HTTP session, opened on first use in the running event loop (a session belongs to one loop)."""
        import aiohttp  # imported by the first call, not by every command that imports sleuth

        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            if self._session is not None and not self._session.closed:
                # Used from another event loop now: the old one's connections cannot be closed from here.
                self._session.detach()
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                # No limit of its own (the semaphore bounds calls in flight); idle connections are kept for
                # the next fan-out.
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.connect_timeout_s, sock_read=self.request_timeout_s
                ),
            )
            self._session_loop = loop
        return self._session

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
            raise LLMUnavailableError(
                f"LLM at {self.base_url} failed after {self.max_retries + 1} attempts: {exc}"
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
        import aiohttp

        try:
            async with (
                asyncio.timeout(self.request_timeout_s),
                self._client().post(
                    self._endpoint, data=body, proxy=self._proxy, allow_redirects=False
                ) as response,
            ):
                status, reason, content = response.status, response.reason, await response.read()
        except aiohttp.ClientError as exc:  # refused or broken connections, and read timeouts
            raise _Broken(f"{type(exc).__name__}: {exc}") from exc
        except TimeoutError:
            raise _SlowReply(f"no whole reply within the {self.request_timeout_s:g}s request timeout") from None
        if status == 429 or status >= 500:
            raise _Busy(f"it answered {status}: {_error_message(status, reason, content)}")
        if status >= 400:
            raise _Refused(status, _error_message(status, reason, content))
        return content

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
