"""What the server runs for a research or ask job: the `Runner` interface and the agents behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from sleuth.agents.events import EventLog, EventSink
from sleuth.agents.research.report import ReportOptions
from sleuth.names import Strategy, Variant
from sleuth.server.jobs import AwaitingApproval

JobKind = Literal["research", "ask"]


@dataclass(frozen=True)
class RunRequest:
    """One question to run (or a paused run to continue), with the scope the caller's token allows."""

    question: str
    collection: str | None = None
    tenant: str | None = None
    prompts: str | None = None
    """A prompt-set name or folder; None: the default set."""
    strategy: Strategy | None = None
    """`ask` only: the ask strategy; None: the server's `ask_strategy` setting."""
    variant: Variant = "always"
    """`ask` only, asp strategy: the always-search agent or a comparison variant."""
    options: ReportOptions | None = None
    """`research` only: the answer or the sectioned report, and the report's controls; None: an answer."""
    follow_up: str | None = None
    """`research` only: the run id of an earlier research run whose evidence this one starts from."""
    approve_run: str | None = None
    """`research` only: the id of a run paused for plan approval, to continue with `plan` approved (the
    question, collection and options are the paused run's own)."""
    plan: dict[str, Any] | None = None
    """With `approve_run`: the edited plan ({"title", "sections": [{"heading", "questions"}]}); None: as drafted."""


class Runner(Protocol):
    """Runs one job to its result, reporting each event to `emit` as it happens. A research run that pauses
    for plan approval returns its report wrapped in `AwaitingApproval`."""

    async def run(
        self, kind: JobKind, request: RunRequest, emit: EventSink
    ) -> BaseModel | dict[str, Any] | AwaitingApproval: ...


class FacadeRunner:
    """A `Runner` over the `sleuth.api.Sleuth` facade, scoping patches to the caller's tenant.

    The facade is shared by every job, so all jobs draw on its one LLM client and that client's bounded
    concurrency (`llm_concurrency`), and on its one checkpoint store (where paused runs wait).
    """

    def __init__(self, sleuth: Any) -> None:
        self.sleuth = sleuth

    async def run(self, kind: JobKind, request: RunRequest, emit: EventSink) -> BaseModel | AwaitingApproval:
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
        elif request.approve_run:
            result = await scoped.resume(
                request.approve_run, prompts=request.prompts, events=events, approve=True, plan=request.plan
            )
        else:
            result = await scoped.research(
                request.question,
                collection=request.collection,
                prompts=request.prompts,
                events=events,
                options=request.options,
                follow_up=request.follow_up,
            )
        # The job keeps the events itself (and streams them); a second copy in the result would double it.
        if "events" in type(result).model_fields:
            result = result.model_copy(update={"events": []})
        return AwaitingApproval(result) if getattr(result, "status", None) == "awaiting_approval" else result
