"""The chat-model interface every backend implements, the records a call takes and returns, and the base
classes a backend (`BaseChatModel`) or a decorator around one (`ModelWrapper`) starts from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypedDict, runtime_checkable

from sleuth.override import Override


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
    exact: bool = False
    """Compute the whole prompt anew (llama.cpp's `cache_prompt: false`), so the same request always gets the
    same reply. Reusing a cached prefix evaluates the rest in other batch shapes: at temperature 0 the 0.5B
    model then answered 4 of 60 repeated reading calls differently (0 of 60 with the cache off, at 1.7x the
    time). Sent only to the embedded llama.cpp server; other servers never see it."""

    def as_dict(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        }
        if self.exact:  # only then: the cache keys of every other call stay what they were
            fields["exact"] = True
        return fields


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


@dataclass(frozen=True)
class ChatRequest:
    """The arguments of one `ChatModel.complete` call, as one record (what `BaseChatModel.respond` gets)."""

    messages: list[Message]
    params: GenParams = field(default_factory=GenParams)
    json_schema: dict[str, Any] | None = None
    agent: str = ""

    @property
    def schema_name(self) -> str:
        """The title of the JSON schema asked for ('' for free text)."""
        return (self.json_schema or {}).get("title", "")

    @property
    def prompt(self) -> str:
        """All message contents joined: what the model was shown."""
        return "\n".join(m["content"] for m in self.messages)


class BaseChatModel(ABC):
    """A `ChatModel` that takes each call as one `ChatRequest`: a backend implements only `respond`, so the
    keyword signature of `complete` is written once, here."""

    async def complete(
        self,
        messages: list[Message],
        *,
        params: GenParams | None = None,
        json_schema: dict[str, Any] | None = None,
        agent: str = "",
    ) -> Completion:
        return await self.respond(ChatRequest(list(messages), params or GenParams(), json_schema, agent))

    @abstractmethod
    async def respond(self, request: ChatRequest) -> Completion:
        """The reply to `request`."""


class ModelWrapper(BaseChatModel):
    """A decorator around another model (metering, caching, recording, delaying): it forwards every call to
    `inner`, and a subclass overrides `respond` to add its one thing around `forward(request)`.

    Args:
        inner: the model that answers.
    """

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner

    async def respond(self, request: ChatRequest) -> Completion:
        return await self.forward(request)

    async def forward(self, request: ChatRequest) -> Completion:
        """`request` answered by the inner model."""
        return await self.inner.complete(
            request.messages, params=request.params, json_schema=request.json_schema, agent=request.agent
        )


class ExactModel(ModelWrapper):
    """Asks for reproducible replies on every call (`GenParams.exact`): scores compared answer by answer
    (an optimization job's candidates) then differ only where the prompts do."""

    async def respond(self, request: ChatRequest) -> Completion:
        return await self.forward(replace(request, params=replace(request.params, exact=True)))


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


model_override: Override[ChatModel] = Override("model")
"""The model `connect` and `open_model` yield instead of building one (tests); here, not with them, so a
caller can ask whether one is in force without importing the client."""
