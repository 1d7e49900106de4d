"""Async client for any OpenAI-compatible chat server (OpenAI, vLLM, llama.cpp), with retries and limits."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx2 as httpx  # the HTTP client openai 3.x is built on
import openai
from pydantic import BaseModel, Field, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sleuth.llm.base import BaseChatModel, ChatRequest, Completion, LLMBadReplyError, LLMUnavailableError
from sleuth.llm.guard import check_real_model_call
from sleuth.names import LLMHttp

# Failures worth another try: the server is busy, restarting, or slow; anything else is our bug or theirs.
_TRANSIENT = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
)


class _SlowReply(Exception):
    """An attempt that outlived the request timeout in all: httpx limits each read, so a reply that drips in
    a byte at a time would otherwise hold the call until the hard timeout, with no retry."""


class _MalformedReply(Exception):
    """A status-200 body that is not a chat completion; retried like a 5xx (a proxy or a loading server)."""


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


def chat_completion_body(model: str, request: ChatRequest, *, llama_cpp: bool = False) -> bytes:
    """The JSON body `openai.AsyncOpenAI().chat.completions.create` sends for `request`.

    The SDK's own call walks every argument through its type-driven transform (`maybe_transform`): two
    thirds of its time per request on the event loop, where a round's readers are sent one after another.
    This body holds only strings and numbers, which that transform leaves as they are, so it is built
    directly, in the SDK's key order and with its JSON settings (`openai._utils._json`): the same bytes.
    """
    params, json_schema = request.params, request.json_schema
    body: dict[str, Any] = {"model": model, "messages": request.messages, "max_tokens": params.max_tokens}
    if json_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": json_schema.get("title", "output"), "schema": json_schema},
        }
    if params.seed is not None:
        body["seed"] = params.seed
    if params.stop:
        body["stop"] = list(params.stop)
    body["temperature"] = params.temperature
    if params.exact and llama_cpp:  # OpenAI refuses fields it does not know
        body["cache_prompt"] = False
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


class OpenAICompatModel(BaseChatModel):
    """A `ChatModel` over `openai.AsyncOpenAI`.

    Args:
        base_url: the server's `/v1` URL.
        model: model name sent with each request.
        api_key: key for the server (local servers accept anything).
        timeout_s: hard limit on one `complete` call, every retry included.
        request_timeout_s: limit on one HTTP request, the whole reply included.
        connect_timeout_s: limit on opening the connection.
        max_retries: retries on 429, 5xx, timeouts and refused connections.
        retry_wait_s: wait before the first retry; doubled on each further one, up to 8 s.
        concurrency: most requests in flight at once through this client.
        http: the SDK's HTTP backend: its default httpx2 client, or aiohttp (`openai.DefaultAioHttpClient`,
            the SDK's choice "for improved concurrency performance"), whose session is bound to the event loop
            of the first call.
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
        concurrency: int = 4,
        http: LLMHttp = "httpx",
        llama_cpp: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.llama_cpp = llama_cpp
        """The server is llama.cpp's (the embedded one): `GenParams.exact` turns its prefix cache off."""
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_wait_s = retry_wait_s
        self.request_timeout_s = request_timeout_s
        self.http = http
        timeout = httpx.Timeout(request_timeout_s, connect=connect_timeout_s)
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key,
            max_retries=0,  # tenacity owns retries, so the hard timeout covers all of them
            timeout=timeout,
            # httpx2's own connection pool and HTTP/1.1 code take more CPU per call than aiohttp's (0.5-0.6x
            # for 16 calls); a round's readers are sent at once, so that time passes one request after another.
            http_client=openai.DefaultAioHttpClient(timeout=timeout) if http == "aiohttp" else None,
        )
        self._limit = asyncio.Semaphore(max(1, concurrency))

    async def respond(self, request: ChatRequest) -> Completion:
        check_real_model_call(f"a call to the model server at {self.base_url}")
        body = chat_completion_body(self.model, request, llama_cpp=self.llama_cpp)
        try:
            # The concurrency slot is taken before the clock starts: waiting for our turn behind other
            # readers is not the server being slow.
            async with self._limit, asyncio.timeout(self.timeout_s):
                return await self._complete_with_retries(body, request.agent)
        except TimeoutError as exc:
            raise LLMUnavailableError(f"LLM at {self.base_url} did not answer within {self.timeout_s:g}s") from exc
        except _TRANSIENT as exc:
            raise LLMUnavailableError(
                f"LLM at {self.base_url} failed after {self.max_retries + 1} attempts: {type(exc).__name__}: {exc}"
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMUnavailableError(
                f"LLM at {self.base_url} refused the request ({exc.status_code}): {exc.message}"
            ) from exc
        except _SlowReply as exc:
            raise LLMUnavailableError(
                f"LLM at {self.base_url} failed after {self.max_retries + 1} attempts: {exc}"
            ) from exc
        except _MalformedReply as exc:
            raise LLMBadReplyError(
                f"LLM at {self.base_url} answered {self.max_retries + 1} time(s) with something that is not "
                f"a chat completion; the last: {exc}"
            ) from exc

    async def _complete_with_retries(self, body: bytes, agent: str) -> Completion:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type((*_TRANSIENT, _SlowReply, _MalformedReply)),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=self.retry_wait_s, max=8),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                start = time.perf_counter()
                try:
                    async with asyncio.timeout(self.request_timeout_s):
                        raw = await self._post(body)
                except TimeoutError:
                    raise _SlowReply(
                        f"no whole reply within the {self.request_timeout_s:g}s request timeout"
                    ) from None
                reply = _parse_reply(raw.content)
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

    async def _post(self, body: bytes) -> httpx.Response:
        """One attempt: `body` posted through the SDK's request path (auth, headers, timeouts, status errors
        raised as `openai.APIStatusError`), the way its README has undocumented endpoints called; the reply
        comes back raw, to be validated rather than trusted."""
        return await self._client.post("/chat/completions", cast_to=httpx.Response, content=body)

    async def aclose(self) -> None:
        await self._client.close()
