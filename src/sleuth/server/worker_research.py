"""The warm worker's research route: a CLI's research run, run in the worker (everything imported, the
embedding model and collections loaded) and streamed back to the CLI as JSON lines, one event each, then the
report or why the run failed.

The run is the CLI's own: its `ResearchJob` on the CLI's settings (`settings_wire.settings_from`), through the same
`Sleuth.open` and `ResearchJob.stream` the CLI would follow in-process, searching and embedding on the worker's
state. The worker takes it only when the run would go exactly as in the CLI's process; otherwise it answers 409
and the CLI runs it in-process. The CLI leaving (Ctrl-C) closes the stream, which cancels the run.

Only the pydantic models are imported at the top: the CLI imports this module to read the lines.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from sleuth.agents.events import Event
from sleuth.agents.research.job import ResearchJob
from sleuth.agents.results import ResearchReport
from sleuth.config import Settings
from sleuth.settings_wire import settings_from

if TYPE_CHECKING:
    from fastapi import APIRouter

    from sleuth.retrieval.worker.app import WorkerState

PATH = "/v1/research"

_ENVIRONMENT = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"}

log = logging.getLogger(__name__)


def run_environment() -> dict[str, str]:
    """The variables outside settings that shape a run's model and web calls: proxies, CA certificates, and
    the openai SDK's own (`OPENAI_*`)."""
    return {k: v for k, v in os.environ.items() if k.upper() in _ENVIRONMENT or k.startswith("OPENAI_")}


class ResearchCall(BaseModel):
    """What a CLI sends: its settings (`settings_wire.settings_values`), its `run_environment()`, and the job."""

    settings: dict[str, Any]
    environment: dict[str, str]
    job: ResearchJob


class RunFailure(BaseModel):
    """Why a run sent to the worker failed: `reported` (one of `job.reported_errors()`: the CLI says the message
    as it would have), `database` (its store cannot be reached), `crash` (anything else; the worker's log has
    the traceback)."""

    kind: Literal["reported", "database", "crash"]
    message: str


class RunLine(BaseModel):
    """One line of the stream: an event, or, last, the report or the failure."""

    event: Event | None = None
    report: ResearchReport | None = None
    failure: RunFailure | None = None


def research_router(state: WorkerState) -> APIRouter:
    """`POST /v1/research` over the worker's `state` (mounted under the worker's token)."""
    from fastapi import APIRouter, HTTPException
    from fastapi.responses import StreamingResponse

    router = APIRouter()
    # What a run imports (the graph, the model client, the checkpointer: ~2 s), loaded once the worker listens,
    # so that its first run waits for none of it.
    threading.Thread(target=_load_run_modules, name="load-run-modules", daemon=True).start()

    @router.post(PATH)
    async def research(call: ResearchCall) -> StreamingResponse:
        try:
            settings = settings_from(call.settings)
        except ValidationError as exc:
            raise HTTPException(409, f"the settings sent are not valid here: {exc}") from exc
        problem = await asyncio.to_thread(_why_not, state, settings, call.environment)
        if problem is not None:
            raise HTTPException(409, problem)
        return StreamingResponse(_run(state, settings, call.job), media_type="application/x-ndjson")

    return router


_RUN_MODULES = ("sleuth.api", "sleuth.llm.clients", "langgraph.checkpoint.sqlite.aio", "openai.resources.chat")
"""Imported by a run on first use (the facade, the model client, the checkpointer, the SDK's chat calls)."""


def _load_run_modules() -> None:
    from sleuth.agents.research.graph import research_graph
    from sleuth.heap import freeze_loaded

    for name in _RUN_MODULES:
        importlib.import_module(name)
    research_graph()  # compiled once per process
    freeze_loaded()  # with the embedding model, loaded before the worker listened


def _why_not(state: WorkerState, settings: Settings, environment: dict[str, str]) -> str | None:
    """Why this worker cannot run a job on `settings` as the CLI's process would (None: it can)."""
    from sleuth.llm.local import running_server
    from sleuth.retrieval.worker.protocol import WorkerKey

    if WorkerKey.of(settings) != state.key:
        return "the worker serves other settings"
    if settings.tracing != "off":
        return "tracing is set up once per process: a traced run runs in the CLI's"
    if environment != run_environment():
        differ = sorted(set(environment.items()) ^ set(run_environment().items()))
        return f"the worker's environment differs ({', '.join(sorted({k for k, _ in differ}))})"
    if not settings.llm_base_url and running_server(settings) is None:
        return "the run would start the embedded model, which the CLI's process starts and stops itself"
    return None


async def _run(state: WorkerState, settings: Settings, job: ResearchJob) -> AsyncIterator[str]:
    from sleuth.agents.research.job import reported_errors
    from sleuth.api import Sleuth
    from sleuth.database import DatabaseError
    from sleuth.retrieval.worker.client import WorkerLink

    state.runs += 1
    state.runs_running += 1
    try:
        link = WorkerLink(settings, service=state)
        async with Sleuth.open(settings, collection=job.collection, prompts=job.prompts, worker=link) as sleuth:
            async for item in job.stream(sleuth):
                line = RunLine(event=item) if isinstance(item, Event) else RunLine(report=item)
                yield line.model_dump_json() + "\n"
    except reported_errors() as exc:
        yield _failure("reported", str(exc))
    except DatabaseError as exc:
        yield _failure("database", str(exc))
    except Exception as exc:  # a bug: the CLI says so in a line, the traceback goes to the worker's log
        log.exception("research run failed")
        yield _failure("crash", f"{type(exc).__name__}: {exc}")
    finally:
        state.runs_running -= 1
        state.last_request = time.monotonic()


def _failure(kind: Literal["reported", "database", "crash"], message: str) -> str:
    return RunLine(failure=RunFailure(kind=kind, message=message)).model_dump_json() + "\n"
