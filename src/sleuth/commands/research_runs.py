"""Where `sleuth research` runs its job: on the warm worker when one answers for this home and these settings
(it has everything imported and the model loaded, so the first LLM request leaves within a second), else in
this process on `Sleuth.open`, as it always did. Either way it is the same `ResearchJob`, run by the same
library code; from the worker its events come back as they happen and are shown the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from sleuth.agents.events import Event
from sleuth.agents.research.job import ResearchJob
from sleuth.commands.common import fail
from sleuth.config import Settings
from sleuth.settings_wire import settings_values

if TYPE_CHECKING:
    from sleuth.agents.results import ResearchReport
    from sleuth.api import Sleuth
    from sleuth.retrieval.worker import WorkerClient
    from sleuth.server.worker_research import RunFailure


class ResearchRuns:
    """The research runs of one command: each sent to the warm worker while it takes them, else run here.

    The worker is used when `SLEUTH_WORKER` allows it, one answers for this home and these settings, and
    nothing that lives only in this process takes part in the run (a test's stand-in model or retriever, a
    block on real model calls). It refuses a run it could not run as this process would (see
    `sleuth.server.worker_research`); that run, and the rest, run here.

    Args:
        settings: the command's.
        stack: closes what is opened here (the worker's client, the facade).
    """

    def __init__(self, settings: Settings, stack: AsyncExitStack) -> None:
        self.settings = settings
        self._stack = stack
        self._worker = _usable_worker(settings)
        if self._worker is not None:
            stack.callback(self._worker.close)
        self._sleuth: Sleuth | None = None

    @property
    def note(self) -> str | None:
        """Why the warm worker a run here wanted for its searches was not used (it did not start), if so."""
        link = self._sleuth.worker if self._sleuth is not None else None
        return link.note if link is not None else None

    async def stream(self, job: ResearchJob) -> AsyncIterator[Event | ResearchReport]:
        """The run's events as they happen, then its report.

        Raises:
            SystemExit: the run failed on the worker (its message said as an in-process run would), or the
                worker stopped during the run.
        """
        from sleuth.retrieval.worker import WorkerUnavailable

        sent = _sendable(job)
        if self._worker is not None and sent is not None:
            taken, run_id = False, job.run_id
            try:
                async for item in self._on_worker(self._worker, sent):
                    taken = True
                    if isinstance(item, Event) and item.type == "run_started":
                        run_id = item.data.get("run_id")
                    yield item
                return
            except WorkerUnavailable as exc:
                if taken:
                    fail(
                        f"the warm worker stopped during run {run_id} ({exc}); "
                        f"`sleuth research --resume {run_id}` continues it"
                    )
                self._worker = None  # it refused or is gone: this run and the next run here
        sleuth = await self._facade(job)
        async for item in job.stream(sleuth):
            yield item

    async def _on_worker(self, worker: WorkerClient, job: ResearchJob) -> AsyncIterator[Event | ResearchReport]:
        from sleuth.retrieval.worker import WorkerUnavailable
        from sleuth.server.worker_research import PATH, ResearchCall, RunLine, run_environment

        call = ResearchCall(settings=settings_values(self.settings), environment=run_environment(), job=job)
        async for raw in worker.stream(PATH, call.model_dump(mode="json")):
            try:
                line = RunLine.model_validate(raw)
            except ValidationError as exc:
                raise WorkerUnavailable(f"the worker sent a line that is not a run's: {exc}") from exc
            if line.failure is not None:
                _fail_as(line.failure, self.settings)
            if line.event is not None:
                yield line.event
            elif line.report is not None:
                yield line.report

    async def _facade(self, job: ResearchJob) -> Sleuth:
        """The in-process facade, opened on the first job run here (a later one, the approved plan of a paused
        report, runs on it too)."""
        if self._sleuth is None:
            from sleuth.api import Sleuth

            opened = Sleuth.open(self.settings, collection=job.collection, prompts=job.prompts, worker=True)
            self._sleuth = await self._stack.enter_async_context(opened)
        return self._sleuth


def _usable_worker(settings: Settings) -> WorkerClient | None:
    if settings.worker == "off":
        return None
    from sleuth.llm.base import model_override
    from sleuth.llm.guard import real_models_blocked
    from sleuth.retrieval.base import retriever_override
    from sleuth.retrieval.worker import connect_worker

    if model_override.get() is not None or retriever_override.get() is not None or real_models_blocked():
        return None
    return connect_worker(settings)


def _sendable(job: ResearchJob) -> ResearchJob | None:
    """`job` as the worker, in another folder, reads it the same (a prompt folder's path made absolute); None
    when it would not (a folder named `.`, whose set would take another name there)."""
    from sleuth.prompts.sets import BUILTIN_SETS

    if job.prompts is None or job.prompts in BUILTIN_SETS or not Path(job.prompts).is_dir():
        return job
    folder = Path(job.prompts).absolute()
    if folder.name != Path(job.prompts).name:
        return None
    return job.model_copy(update={"prompts": str(folder)})


def _fail_as(failure: RunFailure, settings: Settings) -> None:
    """End the command as the failure would have ended it in-process (a crash: in a line, not a traceback)."""
    if failure.kind == "database":
        from sleuth.database import DatabaseError

        raise DatabaseError(failure.message)
    if failure.kind == "reported":
        fail(failure.message)
    from sleuth.retrieval.worker.process import log_path

    fail(f"the research run failed on the warm worker: {failure.message} (its log: {log_path(settings)})")
