"""LLM layer: one async client for any OpenAI-compatible server, or the embedded local model.

Names are loaded on first use, so `import sleuth.llm.base` or `sleuth.llm.pricing` (what run records and
reports need) does not import the openai SDK (~0.6 s) with the client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sleuth.llm.base import (
        ChatModel,
        Completion,
        GenParams,
        LLMBadReplyError,
        LLMError,
        LLMUnavailableError,
        Message,
        StructuredOutputError,
        model_override,
    )
    from sleuth.llm.cache import CachedModel
    from sleuth.llm.clients import connect, openai_client
    from sleuth.llm.openai_compat import OpenAICompatModel
    from sleuth.llm.structured import generate
    from sleuth.llm.usage import MeteredModel, UsageLog

_EXPORTS = {
    "CachedModel": "sleuth.llm.cache",
    "ChatModel": "sleuth.llm.base",
    "Completion": "sleuth.llm.base",
    "GenParams": "sleuth.llm.base",
    "LLMBadReplyError": "sleuth.llm.base",
    "LLMError": "sleuth.llm.base",
    "LLMUnavailableError": "sleuth.llm.base",
    "Message": "sleuth.llm.base",
    "MeteredModel": "sleuth.llm.usage",
    "OpenAICompatModel": "sleuth.llm.openai_compat",
    "StructuredOutputError": "sleuth.llm.base",
    "UsageLog": "sleuth.llm.usage",
    "connect": "sleuth.llm.clients",
    "generate": "sleuth.llm.structured",
    "model_override": "sleuth.llm.base",
    "openai_client": "sleuth.llm.clients",
}

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


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sleuth.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
