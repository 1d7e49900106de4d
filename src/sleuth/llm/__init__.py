"""LLM layer: one async client for any OpenAI-compatible server, or the embedded local model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sleuth.config import Settings
from sleuth.llm.base import (
    ChatModel,
    Completion,
    GenParams,
    LLMBadReplyError,
    LLMError,
    LLMUnavailableError,
    Message,
    StructuredOutputError,
)
from sleuth.llm.cache import CachedModel
from sleuth.llm.clients import openai_client
from sleuth.llm.openai_compat import OpenAICompatModel
from sleuth.llm.structured import generate
from sleuth.llm.usage import MeteredModel, UsageLog

__all__ = [
    "CachedModel",
    "ChatModel",
    "Completion",
    "GenParams",
    "LLMBadReplyError",
    "LLMError",
    "LLMUnavailableError",
    "Message",
    "MeteredModel",
    "OpenAICompatModel",
    "StructuredOutputError",
    "UsageLog",
    "connect",
    "generate",
]


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[ChatModel]:
    """Yield the configured chat model for the duration of a block.

    `SLEUTH_LLM_BASE_URL` set: a client for that server. Unset: a running `sleuth llm serve` for this
    home if there is one, else the embedded llama.cpp server started for this block and stopped after.
    """
    from sleuth.llm.local import EmbeddedServer, running_server

    server: EmbeddedServer | None = None
    base_url = settings.llm_base_url or running_server(settings)
    if base_url is None:
        server = EmbeddedServer(settings)
        base_url = server.start()
    client = openai_client(
        settings,
        base_url,
        settings.llm_model,
        # The embedded server decodes `local_parallel` requests at once; more in flight would only queue
        # inside llama.cpp, where the wait counts against each call's timeout.
        concurrency=settings.llm_concurrency
        if server is None and settings.llm_base_url
        else min(settings.llm_concurrency, settings.local_parallel),
    )
    model: ChatModel = (
        CachedModel(client, settings.cache_path, settings.llm_model) if settings.llm_cache else client
    )
    try:
        yield model
    finally:
        await client.aclose()
        if server is not None:
            server.stop()
