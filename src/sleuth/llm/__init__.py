"""LLM layer: one async client for any OpenAI-compatible server, or the embedded local model."""

from __future__ import annotations

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
from sleuth.llm.clients import connect, model_override, openai_client
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
    "model_override",
    "openai_client",
]
