"""Async client for any OpenAI-compatible chat server (OpenAI, vLLM, llama.cpp), with retries and limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2 as httpx  # the HTTP client openai 3.x is built on
import openai
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sleuth.llm.base import Completion, GenParams, LLMUnavailableError, Message

# Failures worth another try: the server is busy, restarting, or slow; anything else is our bug or theirs.
_TRANSIENT = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
)


class OpenAICompatModel:
    """A `ChatModel` over `openai.AsyncOpenAI`.

    Args:
        base_url: the server's `/v1` URL.
        model: model name sent with each request.
        api_key: key for the server (local servers accept anything).
        timeout_s: hard limit on one `complete` call, every retry included.
        request_timeout_s: limit on one HTTP request.
        connect_timeout_s: limit on opening the connection.
        max_retries: retries on 429, 5xx, timeouts and refused connections.
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
        concurrency: int = 4,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=api_key,
            max_retries=0,  # tenacity owns retries, so the hard timeout covers all of them
            timeout=httpx.Timeout(request_timeout_s, connect=connect_timeout_s),
        )
        self._limit = asyncio.Semaphore(max(1, concurrency))

    async def complete(
        self,
        messages: list[Message],
        *,
        params: GenParams | None = None,
        json_schema: dict[str, Any] | None = None,
        agent: str = "",
    ) -> Completion:
        params = params or GenParams()
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": params.temperature,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "output"), "schema": json_schema},
            }
        try:
            # The concurrency slot is taken before the clock starts: waiting for our turn behind other
            # readers is not the server being slow.
            async with self._limit, asyncio.timeout(self.timeout_s):
                return await self._complete_with_retries(kwargs, agent)
        except TimeoutError as exc:
            raise LLMUnavailableError(
                f"LLM at {self.base_url} did not answer within {self.timeout_s:.0f}s"
            ) from exc
        except _TRANSIENT as exc:
            raise LLMUnavailableError(
                f"LLM at {self.base_url} failed after {self.max_retries + 1} attempts: {type(exc).__name__}: {exc}"
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMUnavailableError(
                f"LLM at {self.base_url} refused the request ({exc.status_code}): {exc.message}"
            ) from exc

    async def _complete_with_retries(self, kwargs: dict[str, Any], agent: str) -> Completion:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_TRANSIENT),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                start = time.perf_counter()
                response = await self._client.chat.completions.create(**kwargs)
                latency = time.perf_counter() - start
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            model=response.model or self.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=latency,
            agent=agent,
            extra={"finish_reason": choice.finish_reason},
        )

    async def aclose(self) -> None:
        await self._client.close()
