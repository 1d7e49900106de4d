"""The chat-model interface every backend implements, and the records a call returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, runtime_checkable


class Message(TypedDict):
    """One chat message, as the OpenAI API takes it."""

    role: str
    content: str


@dataclass(frozen=True)
class GenParams:
    """Sampling parameters of one call; part of the cache key."""

    temperature: float = 0.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        }


@dataclass
class Completion:
    """What one call returned, with what it cost."""

    text: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    agent: str = ""
    """Which agent role made the call (orchestrator, reader, ...); used for per-node usage."""
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class ChatModel(Protocol):
    """Anything that turns messages into a completion: a real server, a cache, a scripted fake."""

    async def complete(
        self,
        messages: list[Message],
        *,
        params: GenParams | None = None,
        json_schema: dict[str, Any] | None = None,
        agent: str = "",
    ) -> Completion:
        """Return the model's reply. `json_schema` asks for JSON-schema constrained output."""
        ...


class LLMError(RuntimeError):
    """Base class of every LLM failure sleuth reports."""


class LLMUnavailableError(LLMError):
    """The server could not be reached or kept failing within the timeout."""


class LLMBadReplyError(LLMUnavailableError):
    """The server kept answering, with status 200, something that is not a chat completion (no choices, an
    error object, a body that is not JSON)."""


class StructuredOutputError(LLMError):
    """The model returned output that does not validate against the schema, twice."""

    def __init__(self, message: str, raw_outputs: list[str]) -> None:
        super().__init__(message)
        self.raw_outputs = raw_outputs
