"""Research job routes: start a run (a cited answer or a sectioned report, perhaps following up an earlier job),
and approve a paused report's plan, as drafted or edited, so the same job runs on to its report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel

from sleuth.server.auth import Principal
from sleuth.server.guards import ReaderWrite, ServerState, State, job_for
from sleuth.server.jobs import Job, JobStatus
from sleuth.server.runner import JobKind, RunRequest
from sleuth.server.schemas import JobCreated, PlanRequest, ResearchRequest

router = APIRouter(tags=["jobs"])


def submit_run(state: ServerState, kind: JobKind, request: RunRequest, body: BaseModel, who: Principal) -> Job:
    """Start a research or ask job for the caller (503 without a model, 422 for a blank question)."""
    if state.runner is None:
        raise HTTPException(503, "this server has no model to run jobs with")
    if not request.question:
        raise HTTPException(422, "the question is empty")
    runner = state.runner
    return state.jobs.submit(
        kind,
        body.model_dump(),
        lambda emit: runner.run(kind, request, emit),
        token_id=who.token_id,
        tenant=who.tenant,
    )


@router.post("/v1/research", status_code=202, response_model=JobCreated)
async def start_research(body: ResearchRequest, who: ReaderWrite, state: State) -> JobCreated:
    """Start a deep-research job; follow it at `events_url`, fetch the report at `result_url`.

    `form="report"` writes a sectioned report; with `approve_plan` the job stops at `awaiting_approval` once
    its plan is drafted (`result.outline`) until `POST /v1/research/{id}/plan`. `follow_up` names an earlier
    research job of yours: this run starts from that run's evidence.
    """
    request = RunRequest(
        question=body.question.strip(),
        collection=body.collection,
        tenant=who.tenant,
        prompts=body.prompts,
        options=body.report_options(),
        follow_up=_run_to_follow_up(state, body.follow_up, who) if body.follow_up else None,
    )
    return JobCreated.of(submit_run(state, "research", request, body, who))


@router.post("/v1/research/{job_id}/plan", status_code=202, response_model=JobCreated)
async def approve_plan(job_id: str, body: PlanRequest, who: ReaderWrite, state: State) -> JobCreated:
    """Approve the plan of a report job awaiting approval (`{"plan": null}`: as drafted) or run your edit of it
    (`{"plan": {...}}`, checked first: a bad plan is a 422 and the job stays paused). The same job runs on:
    same id, its events continue (follow `events_url` with `?after=` the last seq you saw), and it ends
    `succeeded` or `failed`. 409 when the job is not awaiting approval."""
    job = job_for(state, job_id, who)
    if job.status is not JobStatus.awaiting_approval:
        raise HTTPException(409, f"job {job_id!r} is {job.status.value}, not awaiting approval of its plan")
    if state.runner is None:
        raise HTTPException(503, "this server has no model to run jobs with")
    runner, paused = state.runner, job.result or {}
    request = RunRequest(
        question=str(paused.get("question", "")),
        tenant=job.tenant,  # the job's own tenant (an admin may approve it): its corrections apply
        prompts=job.request.get("prompts"),
        approve_run=paused["run_id"],
        plan=None if body.plan is None else body.plan.model_dump(),
    )
    try:
        state.jobs.resume(job, lambda emit: runner.run("research", request, emit))
    except ValueError as exc:  # approved a moment ago, here or on another server
        raise HTTPException(409, str(exc)) from None
    return JobCreated.of(job)


def _run_to_follow_up(state: ServerState, job_id: str, who: Principal) -> str:
    """The run id of the caller's finished research job `job_id` (404, 422 or 409 saying why not)."""
    job = state.jobs.get(job_id)
    if job is None or not who.can_touch(job.tenant):
        raise HTTPException(404, f"follow_up: no job {job_id!r} in your tenant")
    if job.kind != "research":
        raise HTTPException(
            422,
            f"follow_up: job {job_id!r} is an {job.kind} job; only a research job's evidence can be followed up",
        )
    result: dict[str, Any] = job.result or {}
    if job.status is not JobStatus.succeeded or not result.get("run_id"):
        raise HTTPException(
            409, f"follow_up: job {job_id!r} is {job.status.value}; follow up a research job once it has succeeded"
        )
    return str(result["run_id"])
