"""What the agents return: `AskResult` (a short answer, either ask strategy) and `ResearchReport` (answer,
citations, plan, searches, usage, events)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, computed_field

from sleuth.agents.events import Event
from sleuth.agents.records import Citation, SearchCall
from sleuth.agents.research.report import Report
from sleuth.agents.research.state import ResearchState
from sleuth.llm.pricing import sum_costs
from sleuth.llm.usage import AgentUsage
from sleuth.names import Form, Strategy, Variant

Finish = Literal["answer", "time_up", "untagged", "fallback", "refused"]
NO_ANSWER = "No answer found."
"""What a short answer says when every candidate was a guess or none was given."""


class AgentResult(Protocol):
    """What evals and optimizers read from either agent's result (`AskResult`, `ResearchReport`)."""

    @property
    def answer(self) -> str: ...

    @property
    def citations(self) -> list[Citation]: ...

    @property
    def search_calls(self) -> list[SearchCall]: ...

    @property
    def turns(self) -> int: ...

    @property
    def trajectory(self) -> list[TrajectoryStep]: ...


class TrajectoryStep(BaseModel):
    """One message of the agent's conversation (kept for distillation)."""

    role: str
    content: str


class AskResult(BaseModel):
    """What `run_ask` returns: the short answer, its sources, and how it got there."""

    question: str
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    search_calls: list[SearchCall] = Field(default_factory=list)
    turns: int = 0
    """Model actions taken (searches, answers, rejected answers), the time-is-up turn included."""
    finish: Finish = "answer"
    """How the run ended: the model answered; answered on the time-is-up turn; answered only in an untagged
    reply on the last turn (its words kept); gave no answer at all; or every answer it gave occurs in no
    retrieved passage or correction's evidence, so it was refused as a guess (the grounded strategy, and
    the ASP loop's `always` variant; `free` and `closed` measure unsearched answers, so they keep them)."""
    trajectory: list[TrajectoryStep] = Field(default_factory=list)
    patches_used: list[str] = Field(default_factory=list)
    prompt_set_hash: str = ""
    strategy: Strategy = "asp"
    variant: Variant = "always"
    """The ASP loop's prompt variant (the grounded strategy always searches)."""
    usage: dict[str, AgentUsage] = Field(default_factory=dict)
    """Per role and for the run (`total`): calls, tokens, the model that served each role, dollars."""
    events: list[Event] = Field(default_factory=list)
    latency_s: float = 0.0

    @property
    def searches(self) -> int:
        return len(self.search_calls)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> float | None:
        """Dollars the run's calls cost by the price table; None ("n/a") when a model is not in it."""
        return self.usage["total"].cost_usd if "total" in self.usage else 0.0


class PlannedTask(BaseModel):
    query: str
    instructions: str = ""


class Round(BaseModel):
    """One round of the plan: the searches it ran and what the aggregator concluded."""

    round: int
    tasks: list[PlannedTask]
    summary: str = ""
    unknown: list[str] = Field(default_factory=list)


class NodeUsage(BaseModel):
    """Cost of one node over the run (all its executions)."""

    runs: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_s: float = 0.0
    """Seconds inside LLM calls (summed over parallel readers)."""
    wall_s: float = 0.0
    """Seconds the node ran (summed over executions)."""
    models: dict[str, str] = Field(default_factory=dict)
    """Role -> the model that served its calls (the `total` row: every role of the run)."""
    cost_usd: float | None = 0.0
    """Dollars by the price table; None ("n/a") when a call went to a model the table does not price."""


class DroppedSentence(BaseModel):
    text: str
    reason: str


class ResearchReport(BaseModel):
    """The result of `sleuth research`: every claim of `answer` cites a verified `citations` entry."""

    run_id: str
    question: str
    status: Literal["answered", "no_evidence", "awaiting_approval"]
    """`no_evidence`: the answer says what was searched and that nothing supported an answer;
    `awaiting_approval`: a report run paused after its outline (`outline`) until the plan is approved."""
    form: Form = "answer"
    report: Report | None = None
    """The sectioned report (report form); its Markdown is `answer`."""
    outline: dict[str, Any] | None = None
    """The report's plan ({"title", "sections": [{"heading", "questions"}]}): the one that ran, or the one
    awaiting approval."""
    follow_up_of: str | None = None
    """The run whose evidence this follow-up started from."""
    answer: str
    """Markdown with `[n]` markers that refer to `citations`."""
    citations: list[Citation]
    plan: list[Round]
    search_calls: list[SearchCall]
    patches_used: list[str]
    """Ids of the user corrections shown to the agents in this run."""
    prompt_set: str = ""
    prompt_set_hash: str = ""
    collection: str = ""
    dropped_sentences: list[DroppedSentence] = Field(default_factory=list)
    """Draft sentences removed because no verified citation supported them (they are not in `answer`)."""
    unsupported_policy: Literal["drop"] = "drop"
    rejected_quotes: int = 0
    """Reader quotes dropped because they do not occur in the passage they name."""
    writer_fallback: bool = False
    """True when no drafted sentence survived and the answer is made of the verified quotes themselves."""
    usage: dict[str, NodeUsage] = Field(default_factory=dict)
    """Per node and for the run (`total`): calls, tokens, time, the model that served each role, dollars."""
    wall_s: float = 0.0
    events: list[Event] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost_usd(self) -> float | None:
        """Dollars the run's calls cost by the price table; None ("n/a") when a model is not in it."""
        return self.usage["total"].cost_usd if "total" in self.usage else 0.0

    @property
    def turns(self) -> int:
        """Search rounds planned (the research graph's moves, as `AskResult.turns` counts the ask loop's)."""
        return len(self.plan)

    @property
    def trajectory(self) -> list[TrajectoryStep]:
        """Research keeps events, not a conversation: no trajectory to distil."""
        return []

    def sources_markdown(self) -> str:
        return "\n".join(
            f"[{c.n}] {c.title or c.passage_id} ({c.passage_id}): “{c.quote}”" for c in self.citations
        )


def report_from_state(
    state: ResearchState,
    *,
    run_id: str,
    prompt_set: str,
    prompt_set_hash: str,
    events: list[Event],
    wall_s: float,
    awaiting: bool = False,
) -> ResearchReport:
    """Build the report from a finished run's state (or one paused for plan approval: `awaiting`)."""
    usage: dict[str, NodeUsage] = defaultdict(NodeUsage)
    for record in state.get("usage") or []:
        for key in (record["node"], "total"):
            total = usage[key]
            total.runs += 1
            total.calls += record["calls"]
            total.prompt_tokens += record["prompt_tokens"]
            total.completion_tokens += record["completion_tokens"]
            total.llm_s += record["llm_s"]
            total.wall_s += record["wall_s"] if key != "total" else 0.0
            total.models.update(record.get("models") or {})
            # A run checkpointed before costs were recorded has none: unknown, not free.
            total.cost_usd = sum_costs([total.cost_usd, record.get("cost_usd") if record["calls"] else 0.0])
    if "total" in usage:
        usage["total"].wall_s = wall_s
    report = state.get("report")
    data: dict[str, Any] = {
        "run_id": run_id,
        "question": state.get("question", ""),
        "status": "awaiting_approval" if awaiting else state.get("status", "no_evidence"),
        "form": state.get("form", "answer"),
        "report": report if report and not awaiting else None,
        "outline": state.get("outline"),
        "follow_up_of": state.get("follow_up_of"),
        "answer": state.get("answer", ""),
        # A report's citations carry the page or URL of their source.
        "citations": (report or {}).get("citations") or state.get("citations") or [],
        "plan": state.get("rounds") or [],
        "search_calls": state.get("search_calls") or [],
        "patches_used": [p["id"] for p in state.get("patches") or []],
        "prompt_set": prompt_set,
        "prompt_set_hash": prompt_set_hash,
        "collection": state.get("collection", ""),
        "dropped_sentences": state.get("dropped_sentences") or [],
        "rejected_quotes": state.get("rejected_quotes", 0),
        "writer_fallback": state.get("writer_fallback", False),
        "usage": dict(usage),
        "wall_s": wall_s,
        "events": events,
    }
    return ResearchReport.model_validate(data)
