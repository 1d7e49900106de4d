"""The FastAPI app: research/ask/optimize jobs with live SSE progress, feedback, search, health, the web page."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from sse_starlette import EventSourceResponse, ServerSentEvent

from sleuth.config import Settings
from sleuth.retrieval.base import Embedder
from sleuth.server.auth import AuditLog, RateLimiter, Role, TokenStore
from sleuth.server.db import ServerDB
from sleuth.server.export_routes import router as export_router
from sleuth.server.feedback_routes import router as feedback_router
from sleuth.server.guards import (
    Admin,
    AdminWrite,
    BodySizeLimit,
    Reader,
    ReaderWrite,
    ServerState,
    State,
    job_for,
)
from sleuth.server.jobs import JobRegistry, new_job_id
from sleuth.server.mcp_http import PATH as MCP_PATH
from sleuth.server.mcp_http import mcp_endpoint, mcp_server
from sleuth.server.optimize import Optimizer, make_optimizer
from sleuth.server.research_routes import router as research_router
from sleuth.server.research_routes import submit_run
from sleuth.server.runner import FacadeRunner, Runner, RunRequest
from sleuth.server.schemas import AskRequest, Health, JobCreated, OptimizeRequest
from sleuth.server.search_routes import OpenCollections
from sleuth.server.search_routes import router as search_router
from sleuth.tracing import setup_tracing


def create_app(
    settings: Settings | None = None,
    *,
    sleuth: Any = None,
    runner: Runner | None = None,
    patches: Any = None,
    optimizer: Optimizer | None = None,
    embedder: Embedder | None = None,
) -> FastAPI:
    """Build the API server.

    Args:
        settings: limits, and where tokens, the audit log and jobs live (`SLEUTH_DATABASE_URL`, else
            `server.sqlite` under SLEUTH_HOME).
        sleuth: a `sleuth.api.Sleuth` facade that runs research and ask jobs.
        runner: runs jobs instead of the facade (tests inject fakes here).
        patches: the feedback `PatchStore`; default: the facade's patches when they can be written.
        optimizer: runs optimization jobs; default: `sleuth.optimizers.jobs` when installed, else 501.
        embedder: the embedder of the collections `/v1/search` opens; default: the configured model, loaded
            on the first dense search and kept.

    With neither `sleuth` nor `runner`, the app connects the configured LLM and opens the patch store
    when it starts (`sleuth serve`). Tracing is set up for the process as `SLEUTH_TRACING` says (once).
    """
    settings = settings or Settings()
    setup_tracing(settings)
    db = ServerDB.from_settings(settings)
    state = ServerState(
        settings=settings,
        tokens=TokenStore(db),
        audit=AuditLog(db),
        limiter=RateLimiter(settings.server_rate_per_minute, settings.server_rate_burst),
        jobs=JobRegistry(db, max_running=settings.server_max_jobs, lease_s=settings.server_job_lease_s),
        runner=runner or (FacadeRunner(sleuth) if sleuth is not None else None),
        sleuth=sleuth,
        patches=patches if patches is not None else _writable(getattr(sleuth, "patches", None)),
        optimizer=optimizer or make_optimizer(settings, sleuth),
        collections=OpenCollections(settings, embedder),
    )
    mcp = mcp_server(state, _version())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if state.runner is None:
                await _open_defaults(state, stack)
            # Import the agents now, so the first job does not pay for loading LangGraph.
            await asyncio.to_thread(importlib.import_module, "sleuth.agents.research.run")
            stack.callback(state.collections.close)
            # After the defaults are open: the MCP tools call what they are when its lifespan starts.
            await stack.enter_async_context(mcp.session_manager.run())
            try:
                yield
            finally:
                await state.jobs.shutdown()

    app = FastAPI(
        title="sleuth",
        version=_version(),
        lifespan=lifespan,
        description="Deep research that searches, never guesses, and learns from corrections. "
        "Authenticate with `Authorization: Bearer <token>` (`sleuth token create`).",
    )
    app.state.sleuth = state
    app.add_middleware(BodySizeLimit, max_bytes=settings.server_max_body_bytes)
    app.add_exception_handler(RequestValidationError, _unprocessable)
    app.include_router(feedback_router)
    app.include_router(research_router)
    app.include_router(search_router)
    app.include_router(export_router)
    _add_job_routes(app)
    _add_page_routes(app)
    app.add_route(MCP_PATH, mcp_endpoint(mcp, state), include_in_schema=False)
    return app


def _add_job_routes(app: FastAPI) -> None:
    @app.post("/v1/ask", tags=["jobs"])
    async def ask(body: AskRequest, who: ReaderWrite, state: State) -> dict[str, Any]:
        """A short answer. `wait=true` answers when done (the job runs on if the client leaves);
        `wait=false` returns the job id at once."""
        request = RunRequest(
            question=body.question.strip(),
            collection=body.collection,
            tenant=who.tenant,
            prompts=body.prompts,
            strategy=body.strategy,
            variant=body.variant,
        )
        job = submit_run(state, "ask", request, body, who)
        if not body.wait:
            return JobCreated.of(job).model_dump()
        await state.jobs.wait(job)
        return job.summary()

    @app.get("/v1/jobs", tags=["jobs"])
    async def list_jobs(who: Reader, state: State, limit: int = Query(50, ge=1, le=500)) -> list[dict[str, Any]]:
        """Your tenant's newest jobs (admins: everyone's), without results."""
        jobs = state.jobs.recent(tenant=who.tenant, everyone=who.role is Role.admin, limit=limit)
        return [{k: v for k, v in job.summary().items() if k != "result"} for job in jobs]

    @app.get("/v1/research/{job_id}", tags=["jobs"])
    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def get_job(job_id: str, who: Reader, state: State, events: bool = False) -> dict[str, Any]:
        """A job's status and, once finished, its result (`events=true` adds every event so far)."""
        return job_for(state, job_id, who).summary(with_events=events)

    @app.get("/v1/research/{job_id}/events", tags=["jobs"])
    @app.get("/v1/jobs/{job_id}/events", tags=["jobs"])
    async def job_events(
        request: Request,
        job_id: str,
        who: Reader,
        state: State,
        after: int = Query(-1, ge=-1, description="Send only events with a larger seq (-1: all of them)."),
    ) -> EventSourceResponse:
        """Server-sent events: every event of the run in order (from the start, or after `after` /
        `Last-Event-ID`), then one `result` event with the finished job."""
        job = job_for(state, job_id, who)
        last_id = request.headers.get("last-event-id", "")
        # A browser resends the last id it saw: only a plain non-negative seq counts (int() of a
        # 5000-digit header would raise).
        if last_id.isdigit() and len(last_id) <= 18:
            after = max(after, int(last_id))

        async def stream() -> AsyncIterator[ServerSentEvent]:
            async for event in state.jobs.follow(job, after=after):
                yield ServerSentEvent(data=json.dumps(event), id=str(event["seq"]))
            yield ServerSentEvent(data=json.dumps(job.summary()), event="result")

        return EventSourceResponse(stream(), ping=15)

    @app.post("/v1/optimize", status_code=202, response_model=JobCreated, tags=["admin"])
    async def optimize(body: OptimizeRequest, who: AdminWrite, state: State) -> JobCreated:
        """Start a prompt-optimization job (admins)."""
        if state.optimizer is None:
            raise HTTPException(
                501,
                "prompt optimization is not available on this server: the optimizer "
                "module (sleuth.optimizers.jobs) is not installed",
            )
        if body.dataset != "demo" and not (state.settings.home / "datasets" / body.dataset).exists():
            raise HTTPException(404, f"no dataset {body.dataset!r} under SLEUTH_HOME/datasets")
        optimizer, job_id = state.optimizer, new_job_id("optimize")
        job = state.jobs.submit(
            "optimize",
            body.model_dump(),
            lambda emit: optimizer(body, job_id, emit),
            token_id=who.token_id,
            tenant=who.tenant,
            job_id=job_id,
        )
        return JobCreated.of(job, base="/v1/optimize")

    @app.get("/v1/optimize/{job_id}", tags=["admin"])
    async def optimize_status(job_id: str, who: Admin, state: State) -> dict[str, Any]:
        job = job_for(state, job_id, who)
        if job.kind != "optimize":
            raise HTTPException(404, f"no optimization job {job_id!r}")
        return job.summary()

    @app.get("/v1/health", response_model=Health, tags=["meta"])
    async def health(state: State) -> Health:
        return Health(
            version=_version(),
            jobs_in_flight=state.jobs.in_flight,
            jobs_running=state.jobs.running,
            llm_concurrency=state.settings.llm_concurrency,
            optimizer=state.optimizer is not None,
        )


def _add_page_routes(app: FastAPI) -> None:
    static = resources.files("sleuth.server") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(str(static / "index.html"), media_type="text/html")


async def _unprocessable(request: Request, exc: Exception) -> Response:
    """FastAPI's 422, in ASCII JSON: the default one encodes the echoed input as UTF-8, so a lone surrogate
    in it (a JSON body may spell one `\\ud800`) turned the 422 into a 500."""
    assert isinstance(exc, RequestValidationError)  # registered for it alone
    body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")


def _writable(patches: Any) -> Any:
    return patches if all(hasattr(patches, name) for name in ("add", "list", "get", "retract")) else None


async def _open_defaults(state: ServerState, stack: AsyncExitStack) -> None:
    """Connect the configured LLM and open the patch store (`sleuth serve`)."""
    from sleuth.api import Sleuth
    from sleuth.feedback import open_patch_store
    from sleuth.llm import connect

    llm = await stack.enter_async_context(connect(state.settings))
    patches = open_patch_store(state.settings)
    if hasattr(patches, "close"):
        stack.callback(patches.close)
    sleuth = Sleuth(state.settings, llm=llm, patches=patches)
    state.runner, state.sleuth = FacadeRunner(sleuth), sleuth
    state.patches = state.patches or patches
    state.optimizer = state.optimizer or make_optimizer(state.settings, sleuth)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sleuth")
    except PackageNotFoundError:
        return "0"
