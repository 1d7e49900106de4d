"""One research run as a caller asks for it (`ResearchJob`): a new question or a run to continue, with its
collection, prompts and options; run by `Sleuth.research_stream` here, or sent whole to the warm worker.

The CLI builds one from its arguments and either process runs it the same way: opens the facade with
`Sleuth.open(settings, collection=job.collection, prompts=job.prompts, ...)` and follows `job.stream(sleuth)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from sleuth.agents.research.report import ReportOptions
from sleuth.names import WebMode

if TYPE_CHECKING:
    from sleuth.agents.events import Event
    from sleuth.agents.results import ResearchReport


class ResearchJob(BaseModel):
    """What to run: `question` for a new run, or `resume` with `run_id` to continue one (a paused report
    continues with `approve`, and `plan` when the plan was edited)."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = None
    collection: str | None = None
    """The collection to search; None: the configured one (a resumed run searches its own)."""
    prompts: str | None = None
    """A built-in prompt set's name or a directory of `<role>.yaml` (absolute when sent to another process);
    None: the default set."""
    run_id: str | None = None
    resume: bool = False
    max_rounds: int | None = Field(default=None, ge=1)
    options: ReportOptions = Field(default_factory=ReportOptions)
    follow_up: str | None = None
    """The run whose evidence a new run starts from."""
    approve: bool = False
    plan: dict[str, Any] | None = None
    """With `approve`: the edited plan ({"title", "sections": [{"heading", "questions"}]})."""
    web: WebMode | None = None

    def approved(self, run_id: str, plan: dict[str, Any] | None) -> ResearchJob:
        """The job that runs the paused run `run_id` with its plan approved (`plan`: edited; None: as drafted)."""
        return ResearchJob(prompts=self.prompts, run_id=run_id, resume=True, approve=True, plan=plan)

    def stream(self, sleuth: Any) -> AsyncIterator[Event | ResearchReport]:
        """The run's events as they happen, then its report, from `sleuth` (a `sleuth.api.Sleuth` opened with
        this job's collection and prompts)."""
        return sleuth.research_stream(  # type: ignore[no-any-return]
            self.question,
            collection=self.collection,
            max_rounds=self.max_rounds,
            run_id=self.run_id,
            resume=self.resume,
            options=self.options,
            follow_up=self.follow_up,
            approve=self.approve,
            plan=self.plan,
            web=self.web,
        )


def reported_errors() -> tuple[type[Exception], ...]:
    """The failures of a research run that its user is told in one line, not shown a traceback: a run, plan,
    collection or prompt set that cannot be used, an empty question, a model that cannot answer."""
    from sleuth.agents.research.nodes.outline import PlanError
    from sleuth.agents.research.policy import PolicyViolationError
    from sleuth.llm.base import LLMError
    from sleuth.llm.weights import ModelWeightsError
    from sleuth.retrieval.index import CollectionError

    # UnknownRunError and PlanError are ValueErrors; ValueError also covers bad prompt files and an unknown
    # collection.
    return (
        ValueError,
        FileNotFoundError,
        PolicyViolationError,
        CollectionError,
        PlanError,
        LLMError,
        ModelWeightsError,
    )
