"""The definition of an optimization job: what `sleuth optimize`, the HTTP API and `job.json` carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field


class OptimizeConfig(BaseModel):
    """Everything that defines an optimization job (saved as `job.json`; a resume must match it, apart from
    the budget, which may grow, and the test set, which is scored after the search)."""

    agent: Literal["ask", "research"] = "ask"
    dataset: str
    """A dataset folder (`questions.jsonl` + `corpus.jsonl`) or a questions `.jsonl` file."""
    limit: int | None = Field(default=None, ge=1)
    """Training questions (default: all not used for validation)."""
    val_limit: int = Field(default=10, ge=1)
    test_limit: int = Field(default=0, ge=0)
    """Held-out questions, disjoint from train and validation, scored for the seed and the best set after the
    search (outside the budget): the validation score picked the best set, so it flatters it."""
    metric: str = "em"
    budget: int = Field(default=60, ge=1)
    """Metric calls (one agent run scored on one question), the seed's validation run included."""
    out: Path
    seed_prompts: str = "minimal"
    method: Literal["gepa", "textgrad"] = "gepa"
    roles: list[str] | None = None
    """Roles to optimize (default: every role of the agent)."""
    minibatch_size: int = Field(default=3, ge=1)
    seed: int = 0
    max_prompt_chars: int | None = Field(default=None, ge=1)
    corrections: bool = False
    """Add questions built from active user corrections to the validation set (reported separately)."""
    collection: str | None = None
    """Search this indexed collection instead of a BM25 index over the dataset's own corpus."""

    def identity(self) -> dict[str, Any]:
        """The fields a resumed job must share with the saved one (the budget may grow)."""
        return self.model_dump(mode="json", exclude={"budget", "out", "test_limit"})
