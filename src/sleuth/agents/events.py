"""Run events (node started/finished, searches, evidence found), the sink agents emit them to, and streaming a
run's events as they happen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Literal, TypeVar

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


EventSink = Callable[[Event], None]
"""Where an agent run reports what happens (`EventLog`, a CLI view, an SSE stream)."""


ProgressSink = Callable[[dict[str, Any]], None]
"""Where an eval or optimization job reports its progress: plain records (counts, scores), not run events."""

JobSink = Callable[[Event | dict[str, Any]], None]
"""A server job's sink: it takes both, so one job type runs agents, evals and optimizations."""


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


R = TypeVar("R")


async def streamed(run: Callable[[EventLog], Coroutine[Any, Any, R]]) -> AsyncIterator[Event | R]:
    """Start `run` with an event log; yield its events as they happen, then its result (cancelled if the
    consumer stops early)."""
    queue: asyncio.Queue[Event | None] = asyncio.Queue()
    task: asyncio.Task[R] = asyncio.create_task(run(EventLog(listener=lambda event: queue.put_nowait(event))))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while (event := await queue.get()) is not None:
            yield event
        yield task.result()
    finally:
        if not task.done():
            task.cancel()
