"""The definition of an optimization job: what `sleuth optimize`, the HTTP API and `job.json` carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from sleuth.names import Strategy

Method = Literal["gepa", "textgrad"]
METHODS: tuple[Method, ...] = ("gepa", "textgrad")

STOP_OPTIONS = ("budget", "no_improvement", "timeout_min", "max_reflection_cost")
"""When to stop: a resumed job may change these (a larger budget goes on further)."""


class OptimizeConfig(BaseModel):
    """Everything that defines an optimization job (saved as `job.json`; a resume must match it, apart from
    the stop conditions, `STOP_OPTIONS`)."""

    agent: Literal["ask", "research"] = "ask"
    strategy: Strategy = "grounded"
    """For the ask agent: the strategy whose prompts are tuned (grounded: `ask_read*`; asp: the tag loop's)."""
    dataset: str
    """A dataset folder (`questions.jsonl` + `corpus.jsonl`) or a questions `.jsonl` file."""
    limit: int | None = Field(default=None, ge=1)
    """Training questions (default: all not used for validation or test)."""
    val_limit: int | None = Field(default=None, ge=1)
    """Validation questions (default: a fifth of the distinct questions)."""
    test_limit: int | None = Field(default=None, ge=1)
    """Held-out test questions, disjoint from train and validation by question and gold passage, scored for the
    seed and each method's winner after the search (outside the budget) with a paired bootstrap interval
    (default: three fifths of the distinct questions)."""
    metric: str = "em"
    budget: int = Field(default=60, ge=1)
    """Metric calls per method (one agent run scored on one question), the seed's validation run included."""
    out: Path
    seed_prompts: str = "minimal"
    method: Literal["gepa", "textgrad", "both"] = "gepa"
    """`both` runs GEPA, then the TextGrad-style baseline, on the same splits and budget, in one report."""
    roles: list[str] | None = None
    """Roles to optimize (default: every role of the agent, or of the ask strategy)."""
    minibatch_size: int = Field(default=3, ge=1)
    seed: int = 0
    max_prompt_chars: int | None = Field(default=None, ge=1)
    """An absolute cap on any role's prompt, over the growth cap."""
    max_growth: float = Field(default=2.0, ge=1.0)
    """A proposal may make a role's prompt at most this many times its seed's length (and always the seed's
    length plus 400 characters, `guards.GROWTH_FLOOR`); a longer one is refused before it is run."""
    merge: bool = True
    """GEPA: also merge two candidates that improved different roles (gepa's `use_merge`)."""
    skip_perfect: bool = True
    """GEPA: no reflection on a minibatch the candidate already answers perfectly (gepa's `skip_perfect_score`);
    off, every minibatch is reflected on, for training questions the seed already gets right."""
    max_merges: int = Field(default=5, ge=1)
    accept_ties: bool = False
    """Both methods: a proposal that ties its parent on the minibatch is also run on the validation set
    (gepa's `improvement_or_equal`); by default only a strict improvement is. On 3 questions most proposals tie
    (measured: most of GEPA's rejections were 2.0 against 2.0), so strict acceptance rarely gets to validation;
    each tie let through costs one validation run."""
    no_improvement: int | None = Field(default=None, ge=1)
    """Stop after this many iterations without a better validation score (gepa's `NoImprovementStopper`)."""
    timeout_min: float | None = Field(default=None, gt=0)
    """Stop each method's search after this many minutes (gepa's `TimeoutStopCondition`)."""
    max_reflection_cost: float | None = Field(default=None, gt=0)
    """Stop when the reflection model's calls cost this many USD (priced with the price table)."""
    corrections: bool = False
    """Add questions built from active user corrections to the validation set (reported separately, also at
    test time, as never-regress questions)."""
    exact: bool = True
    """Every agent run computes its prompts whole (`GenParams.exact`: the embedded server's prefix cache off),
    so a candidate's answers differ from the seed's only where its prompts do. With the cache, identical
    requests got other replies in 4-7% of the repeated calls of a job. Costs about 1.2x the time per agent
    run on 2 CPU cores (6.1 s against ~5 s)."""
    collection: str | None = None
    """Search this indexed collection instead of a BM25 index over the dataset's own corpus."""

    @property
    def methods(self) -> list[Method]:
        return list(METHODS) if self.method == "both" else [self.method]

    def identity(self) -> dict[str, Any]:
        """The fields a resumed job must share with the saved one."""
        return self.model_dump(mode="json", exclude={"out", *STOP_OPTIONS})
