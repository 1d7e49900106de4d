"""The optimizer interfaces: a task that runs an agent on an example, a metric that scores it, and records.

A `Task` runs one agent (`ask` or `research`) with a candidate prompt set and returns a `Rollout`: the
answer plus every LLM call each role made and every search, so feedback can be given role by role.
A `Metric` turns a rollout into a `Score`: a number for the optimizer and text feedback for reflection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sleuth.evals.datasets import QAExample
from sleuth.llm.base import Message
from sleuth.prompts.sets import PromptSet


class JobError(ValueError):
    """A job that cannot start: bad options, or an output folder holding a different job."""


@dataclass
class RoleCall:
    """One LLM call made by one agent role during a rollout."""

    role: str
    messages: list[Message]
    output: str

    @property
    def user_input(self) -> str:
        """The last user message: what the role was asked (its system prompt is the candidate text)."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return ""


@dataclass
class Search:
    """One retriever call: the query and the passages it returned (id -> text)."""

    query: str
    passages: dict[str, str]


@dataclass
class Rollout:
    """What one agent run on one example left behind."""

    example: QAExample
    answer: str = ""
    calls: list[RoleCall] = field(default_factory=list)
    searches: list[Search] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    """The exception text when the run failed (the example then scores 0)."""

    def calls_by(self, role: str) -> list[RoleCall]:
        return [c for c in self.calls if c.role == role]

    @property
    def passages(self) -> dict[str, str]:
        """Every passage any search returned (id -> text)."""
        seen: dict[str, str] = {}
        for search in self.searches:
            seen.update(search.passages)
        return seen

    def to_json(self) -> dict[str, Any]:
        """Everything but the example, as JSON data (the evaluation cache keeps it for reflection)."""
        return {
            "answer": self.answer,
            "calls": [{"role": c.role, "messages": c.messages, "output": c.output} for c in self.calls],
            "searches": [{"query": s.query, "passages": s.passages} for s in self.searches],
            "citations": self.citations,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, example: QAExample, data: dict[str, Any]) -> Rollout:
        return cls(
            example,
            answer=data.get("answer", ""),
            calls=[RoleCall(c["role"], c["messages"], c["output"]) for c in data.get("calls", [])],
            searches=[Search(s["query"], s["passages"]) for s in data.get("searches", [])],
            citations=data.get("citations", []),
            error=data.get("error"),
        )


@dataclass
class Score:
    """A metric's verdict on one rollout: the number the optimizer maximises and feedback for reflection."""

    value: float
    feedback: str
    parts: dict[str, float] = field(default_factory=dict)


class Task(Protocol):
    """Runs one agent on one example with a prompt set (async; many run concurrently)."""

    @property
    def roles(self) -> tuple[str, ...]:
        """The prompt roles this agent uses (what can be optimized)."""
        ...

    async def run(self, example: QAExample, prompts: PromptSet) -> Rollout: ...


class Metric(Protocol):
    """Scores a rollout against its example; higher is better, in [0, 1]."""

    name: str

    async def score(self, rollout: Rollout) -> Score: ...


@dataclass
class Outcome:
    """What an optimization run found, in one shape for GEPA and the TextGrad-style baseline.

    Candidate 0 is the seed. `val_subscores[i]` maps a validation index to candidate i's score.
    """

    method: str
    candidates: list[dict[str, str]]
    parents: list[list[int | None]]
    val_scores: list[float]
    val_subscores: list[dict[int, float]]
    discovered_at: list[int]
    """Metric calls spent when each candidate was found."""
    total_metric_calls: int
    pareto: dict[int, set[int]] = field(default_factory=dict)
    """Validation index -> candidates with the best score on it (GEPA's instance front)."""
    stopped_by: str | None = None
    """The stop condition that ended the search (`stopping.Stoppers.fired`)."""

    @property
    def best_idx(self) -> int:
        # Ties go to the earliest candidate: the seed wins unless something beat it.
        return max(range(len(self.val_scores)), key=lambda i: (self.val_scores[i], -i))

    @property
    def front(self) -> list[int]:
        """Candidates on the Pareto front (best on at least one validation example)."""
        return sorted({i for ids in self.pareto.values() for i in ids})
