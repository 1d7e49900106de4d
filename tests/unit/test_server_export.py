"""`GET /v1/research/{id}/report.{fmt}`: a finished research job's report as a file, for whoever may read
the job (the real agents on the grounded fake model)."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from docx import Document
from fastapi import FastAPI
from pypdf import PdfReader

from sleuth.agents.results import ResearchReport
from sleuth.config import Settings
from sleuth.export import as_report
from sleuth.server.app import create_app
from sleuth.server.runner import FacadeRunner, JobKind, RunRequest
from sleuth.testing import fake_sleuth


class GatedRunner:
    """The real agents, started only once `gate` is set; the question "boom" fails."""

    def __init__(self, settings: Settings) -> None:
        self.inner = FacadeRunner(fake_sleuth(settings))
        self.gate = asyncio.Event()

    async def run(self, kind: JobKind, request: RunRequest, emit: Any) -> Any:
        await self.gate.wait()
        if request.question == "boom":
            raise RuntimeError("the model went away")
        return await self.inner.run(kind, request, emit)


class Api:
    def __init__(self) -> None:
        self.settings = Settings(max_rounds=1)
        self.runner = GatedRunner(self.settings)
        self.app = self.new_app()
        tokens = self.app.state.sleuth.tokens
        self.tokens = {
            "reader": tokens.create("reader", tenant="acme")[1],
            "rival": tokens.create("reader", tenant="globex")[1],
            "admin": tokens.create("admin")[1],
        }

    def new_app(self) -> FastAPI:
        return create_app(self.settings, runner=self.runner)

    def client(self, who: str | None = None, app: FastAPI | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app or self.app), base_url="http://sleuth", headers=headers
        )

    async def finished(self, job_id: str) -> dict[str, Any]:
        jobs = self.app.state.sleuth.jobs
        job = jobs.get(job_id)
        assert job is not None
        await jobs.wait(job)
        return job.summary()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    srv = Api()
    yield srv
    await srv.app.state.sleuth.jobs.shutdown()


async def test_each_format_comes_back_with_its_media_type_filename_and_the_runs_citations(api: Api) -> None:
    api.runner.gate.set()
    async with api.client("reader") as reader:
        job_id = (await reader.post("/v1/research", json={"question": "What is Lilu?"})).json()["id"]
        result = ResearchReport.model_validate((await api.finished(job_id))["result"])
        got = {
            fmt: await reader.get(f"/v1/research/{job_id}/report.{fmt}") for fmt in ("md", "html", "pdf", "docx")
        }
    assert result.citations and result.citations[0].passage_id == "p-lilu"
    for fmt, response in got.items():
        assert response.status_code == 200, response.text
        assert response.headers["content-disposition"] == f'attachment; filename="research-{job_id}.{fmt}"'
        assert response.headers["x-content-type-options"] == "nosniff"
    assert got["md"].headers["content-type"] == "text/markdown; charset=utf-8"
    assert got["md"].content.decode() == as_report(result).markdown()
    assert got["html"].headers["content-type"] == "text/html; charset=utf-8"
    assert 'href="#source-1"' in got["html"].text and 'id="source-1"' in got["html"].text
    assert got["pdf"].headers["content-type"] == "application/pdf"
    text = " ".join(PdfReader(io.BytesIO(got["pdf"].content)).pages[0].extract_text().split())
    assert text.startswith(f"What is Lilu? {result.answer}") and "[1] Lilu (mythology) (p-lilu)" in text
    assert got["docx"].headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    doc = Document(io.BytesIO(got["docx"].content))
    assert [(p.style.name if p.style else "", p.text) for p in doc.paragraphs][:2] == [
        ("Heading 1", "What is Lilu?"),
        ("Normal", result.answer),
    ]
    assert doc.paragraphs[-1].text.startswith("[1] Lilu (mythology) (p-lilu): “")


async def test_only_a_reader_of_the_job_gets_it_and_an_unknown_format_is_refused(api: Api) -> None:
    api.runner.gate.set()
    async with api.client("reader") as reader, api.client("rival") as rival, api.client("admin") as admin:
        job_id = (await reader.post("/v1/research", json={"question": "What is Lilu?"})).json()["id"]
        await api.finished(job_id)
        path = f"/v1/research/{job_id}/report.md"
        async with api.client() as anon:
            assert (await anon.get(path)).status_code == 401
        assert (await rival.get(path)).status_code == 404  # another tenant's job does not exist for them
        assert (await admin.get(path)).status_code == 200
        assert (await reader.get("/v1/research/r0000000000000000/report.md")).status_code == 404
        assert (await reader.get(f"/v1/research/{job_id}/report.txt")).status_code == 422
        assert (await reader.get(f"/v1/research/{job_id}/report.md.pdf")).status_code == 422


async def test_a_job_that_is_not_a_finished_research_job_is_a_conflict(api: Api) -> None:
    async with api.client("reader") as reader:
        running = (await reader.post("/v1/research", json={"question": "What is Lilu?"})).json()["id"]
        early = await reader.get(f"/v1/research/{running}/report.pdf")
        failing = (await reader.post("/v1/research", json={"question": "boom"})).json()["id"]
        ask = (await reader.post("/v1/ask", json={"question": "What is Lilu?", "wait": False})).json()["id"]
        api.runner.gate.set()
        assert (await api.finished(failing))["status"] == "failed"
        await api.finished(ask)
        await api.finished(running)
        failed = await reader.get(f"/v1/research/{failing}/report.pdf")
        not_research = await reader.get(f"/v1/research/{ask}/report.docx")
        late = await reader.get(f"/v1/research/{running}/report.pdf")
    assert early.status_code == 409 and re.search(
        r"is (queued|running): its report can be exported once", early.text
    )
    assert failed.status_code == 409 and "failed" in failed.json()["detail"]
    assert not_research.status_code == 409 and "ask job" in not_research.json()["detail"]
    assert late.status_code == 200 and late.content.startswith(b"%PDF-")


async def test_a_finished_job_exports_after_a_restart(api: Api) -> None:
    api.runner.gate.set()
    async with api.client("reader") as reader:
        job_id = (await reader.post("/v1/research", json={"question": "What is Lilu?"})).json()["id"]
        await api.finished(job_id)
        before = await reader.get(f"/v1/research/{job_id}/report.html")
    restarted = api.new_app()  # reads the job back from server.sqlite
    async with api.client("reader", app=restarted) as reader:
        after = await reader.get(f"/v1/research/{job_id}/report.html")
    await restarted.state.sleuth.jobs.shutdown()
    assert before.status_code == after.status_code == 200 and after.content == before.content
