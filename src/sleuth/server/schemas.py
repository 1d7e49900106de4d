"""Request and response bodies of the HTTP API (validated at the boundary, shown in the OpenAPI docs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from sleuth.agents.research.report import ReportOptions
from sleuth.names import Strategy, Variant
from sleuth.text import has_lone_surrogate

if TYPE_CHECKING:
    from sleuth.server.jobs import Job

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
"""Collection and prompt-set names: no paths, so a caller cannot point the server at arbitrary files."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        # pydantic itself refuses a lone surrogate only in fields with a length limit; elsewhere it would
        # reach SQLite or the JSON encoder and fail there with a 500.
        if has_lone_surrogate(value):
            raise PydanticCustomError(
                "string_unicode", "Input should be valid Unicode: it holds a lone surrogate (\\ud800-\\udfff)"
            )
        return value


class QuestionRequest(_Body):
    question: str = Field(min_length=1, max_length=4000)
    collection: str | None = Field(None, pattern=NAME_PATTERN)
    """Indexed collection to search; default: the server's collection."""
    prompts: str | None = Field(None, pattern=NAME_PATTERN)
    """Prompt-set name; default: the built-in set."""


class ResearchRequest(ReportOptions, QuestionRequest):
    """A research job: the question, the form (`answer` or a sectioned `report`) and the report's controls
    (`approve_plan`, `language`, `length_words`: the library's `ReportOptions`, checked the same way), and
    optionally an earlier research job of yours to follow up on."""

    follow_up: str | None = Field(None, min_length=1, max_length=64)
    """The id of an earlier research job of your tenant that has succeeded: this run starts from its evidence."""

    def report_options(self) -> ReportOptions:
        return ReportOptions(**self.model_dump(include=set(ReportOptions.model_fields)))


class PlanSection(_Body):
    heading: str
    """A few words."""
    questions: list[str]
    """The section's search questions (1-3)."""


class Plan(_Body):
    """A report plan, as the paused job's `result.outline` shows it."""

    title: str
    sections: list[PlanSection]


class PlanRequest(_Body):
    """Approve a paused report's plan: `{"plan": null}` runs it as drafted, `{"plan": {...}}` runs your edit."""

    plan: Plan | None
    """The edited plan, checked as the planner's own plans are (2-6 sections, each a heading and 1-3
    questions); null: the plan as drafted."""

    @field_validator("plan")
    @classmethod
    def _a_valid_plan(cls, plan: Plan | None) -> Plan | None:
        if plan is not None:
            from sleuth.agents.research.nodes.outline import (  # loads LangGraph: only when used
                PlanError,
                parse_plan,
            )

            try:
                parse_plan(plan.model_dump())
            except PlanError as exc:
                raise ValueError(str(exc)) from exc
        return plan


class AskRequest(QuestionRequest):
    strategy: Strategy | None = None
    """grounded (code-driven searches, the default) or asp (the model's own tag loop)."""
    variant: Variant = "always"
    wait: bool = True
    """True: answer when done (the job still runs on if the client leaves). False: return the job id."""


class SearchRequest(_Body):
    """A search of one collection (what `sleuth search` sends when `SLEUTH_SERVER_URL` is set)."""

    query: str = Field(min_length=1, max_length=4000)
    mode: Literal["bm25", "dense", "hybrid"] = "hybrid"
    k: int = Field(8, ge=1, le=1000)
    collection: str | None = Field(None, pattern=NAME_PATTERN)
    """Indexed collection to search; default: the server's collection."""
    where: dict[str, Any] | None = None
    """A metadata filter in Chroma's `where` syntax, e.g. `{"source": "wiki.jsonl"}`."""


class JobCreated(BaseModel):
    id: str
    kind: str
    status: str
    events_url: str
    result_url: str

    @classmethod
    def of(cls, job: Job, base: str = "") -> JobCreated:
        """The reply to a request that started (or continued) `job`; `base`: where its result is read."""
        base = base or ("/v1/research" if job.kind == "research" else "/v1/jobs")
        return cls(
            id=job.id,
            kind=job.kind,
            status=job.status.value,
            result_url=f"{base}/{job.id}",
            events_url=f"/v1/jobs/{job.id}/events",
        )


class FeedbackRequest(_Body):
    """A correction of an answer: the question, the corrected answer, and what supports it."""

    query: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    evidence: str = ""
    evidence_passage_ids: list[str] = Field(default_factory=list, max_length=50)
    collection: str | None = Field(None, pattern=NAME_PATTERN)
    supersedes: str | None = None
    """Id of an active patch (of your tenant) this correction replaces."""
    note: str = Field("", max_length=2000)


class OptimizeRequest(_Body):
    """An optimization job (see `sleuth optimize`); the server picks the output folder."""

    dataset: str = Field("demo", pattern=NAME_PATTERN)
    """`demo` (bundled) or the name of a dataset folder under `SLEUTH_HOME/datasets/`."""
    agent: Literal["ask", "research"] = "ask"
    strategy: Literal["grounded", "asp"] = "grounded"
    method: Literal["gepa", "textgrad", "both"] = "gepa"
    """`both`: GEPA and the TextGrad-style baseline on the same splits and budget, in one report."""
    metric: str = Field("em", pattern=NAME_PATTERN)
    budget: int = Field(40, ge=1, le=10_000)
    """Metric calls each method may spend."""
    roles: list[str] | None = None
    limit: int | None = Field(None, ge=1)
    val_limit: int | None = Field(None, ge=1)
    test_limit: int | None = Field(None, ge=1)
    seed_prompts: str = Field("minimal", pattern=NAME_PATTERN)
    minibatch_size: int = Field(3, ge=1)
    seed: int = 0
    max_growth: float = Field(2.0, ge=1.0)
    merge: bool = True
    skip_perfect: bool = True
    accept_ties: bool = False
    exact: bool = True
    no_improvement: int | None = Field(None, ge=1)
    timeout_min: float | None = Field(None, gt=0)


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    jobs_in_flight: int
    """Queued or running."""
    jobs_running: int
    llm_concurrency: int
    optimizer: bool
