"""Run events (node started/finished, searches, evidence found) and the sink agents emit them to."""

from __future__ import annotations

import time
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

EventType = Literal[
    "run_started",
    "node_started",
    "node_finished",
    "search",
    "evidence",
    "patches",
    "warning",
    "answer",
    "outline",
    "awaiting_approval",
    "plan_approved",
    "section",
    "report",
    "budget_reached",
    "run_finished",
    "error",
]


class Event(BaseModel):
    """One thing that happened during a run; streamed live (CLI, SSE) and kept with the result."""

    type: EventType
    node: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    t: float = Field(default_factory=time.time)
    seq: int = 0
    """Order within the run, set by the sink."""


class EventSink(Protocol):
    def __call__(self, event: Event) -> None: ...


class EventLog:
    """An `EventSink` that numbers events, keeps them, and forwards them to an optional listener."""

    def __init__(self, listener: EventSink | None = None) -> None:
        self.events: list[Event] = []
        self._listener = listener

    def __call__(self, event: Event) -> None:
        event.seq = len(self.events)
        self.events.append(event)
        if self._listener is not None:
            self._listener(event)

    def emit(self, type: EventType, node: str = "", **data: Any) -> None:
        self(Event(type=type, node=node, data=data))
