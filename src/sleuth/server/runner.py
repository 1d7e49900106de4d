"""What the server runs for a research or ask job: the `Runner` interface and the agents behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from sleuth.agents.events import EventLog, EventSink

JobKind = Literal["research", "ask"]


@dataclass(frozen=True)
class RunRequest:
    """One question to run, with the scope the caller's token allows."""

    question: str
    collection: str | None = None
    tenant: str | None = None
    prompts: str | None = None
    """A prompt-set name or folder; None: the default set."""
    strategy: Literal["grounded", "asp"] | None = None
    """`ask` only: the ask strategy; None: the server's `ask_strategy` setting."""
    variant: Literal["always", "free", "closed"] = "always"
    """`ask` only, asp strategy: the always-search agent or a comparison variant."""


class Runner(Protocol):
    """Runs one job to its result, reporting each event to `emit` as it happens."""

    async def run(self, kind: JobKind, request: RunRequest, emit: EventSink) -> BaseModel | dict[str, Any]: ...


class FacadeRunner:
    """A `Runner` over the `sleuth.api.Sleuth` facade, scoping patches to the caller's tenant.

    The facade is shared by every job, so all jobs draw on its one LLM client and that client's bounded
    concurrency (`llm_concurrency`).
    """

    def __init__(self, sleuth: Any) -> None:
        self.sleuth = sleuth

    async def run(self, kind: JobKind, request: RunRequest, emit: EventSink) -> BaseModel:
        scoped = self.sleuth.for_tenant(request.tenant)
        events = EventLog(listener=emit)
        result: BaseModel
        if kind == "ask":
            result = await scoped.ask(
                request.question,
                collection=request.collection,
                prompts=request.prompts,
                strategy=request.strategy,
                variant=request.variant,
                events=events,
            )
        else:
            result = await scoped.research(
                request.question, collection=request.collection, prompts=request.prompts, events=events
            )
        # The job keeps the events itself (and streams them); a second copy in the result would double it.
        return result.model_copy(update={"events": []}) if "events" in type(result).model_fields else result
