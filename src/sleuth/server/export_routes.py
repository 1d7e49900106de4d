"""Export routes: a finished research job's report as a Markdown, HTML, PDF or Word file."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response
from pydantic import ValidationError

from sleuth.agents.results import ResearchReport
from sleuth.export import FORMATS, Format, as_report, export
from sleuth.server.guards import Reader, State, job_for
from sleuth.server.jobs import JobStatus

router = APIRouter(tags=["jobs"])

_EXPORT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # The HTML export holds no script; should a browser open it from this origin anyway, none may run.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}


@router.get(
    "/v1/research/{job_id}/report.{fmt}",
    response_class=Response,
    responses={200: {"content": {spec.media_type: {} for spec in FORMATS.values()}}},
)
def research_report(job_id: str, fmt: Format, who: Reader, state: State) -> Response:
    """The finished research job's report as a file to download: `md`, `html`, `pdf` or `docx`.

    404: no such job in your tenant. 409: the job is not a research job, or has not succeeded (yet).
    """
    job = job_for(state, job_id, who)
    if job.kind != "research":
        raise HTTPException(409, f"job {job_id!r} is a {job.kind} job; only research jobs have a report")
    if job.status is not JobStatus.succeeded or job.result is None:
        raise HTTPException(
            409, f"job {job_id!r} is {job.status.value}: its report can be exported once it has succeeded"
        )
    try:
        result = ResearchReport.model_validate(job.result)
    except ValidationError as exc:  # a result stored by an incompatible version
        raise HTTPException(409, f"job {job_id!r} has a result this server cannot read as a report") from exc
    spec = FORMATS[fmt]
    filename = f"research-{job.id}{spec.suffixes[0]}"
    return Response(
        export(as_report(result), fmt),
        media_type=spec.media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', **_EXPORT_HEADERS},
    )
