"""The result vocabulary both agents share: a verified `Citation` and a `SearchCall` (the graph's state keeps
the same records as JSON-able TypedDicts in `state.py`, so checkpoints stay plain data)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Citation(BaseModel):
    """Source `[n]`: a quote that occurs verbatim in a retrieved passage (or in a user correction's evidence)."""

    n: int = Field(default=1, ge=1)
    """The number the answer's `[n]` markers use (a short answer numbers its sources in order)."""
    passage_id: str
    """The passage id, or `patch:<id>` for a user correction's evidence."""
    title: str = ""
    quote: str
    """Text that occurs in the passage (checked in code)."""
    kind: Literal["passage", "patch"] = "passage"
    page: int | None = None
    """The page of a PDF source (1-based), when the passage came from one."""
    url: str | None = None
    """The address of a web source, when the passage came from one."""


class SearchCall(BaseModel):
    """One search an agent made: the query, how many hits it asked for, which passages came back."""

    query: str
    k: int
    hit_ids: list[str] = Field(default_factory=list)
    round: int = 1
    """The research round (or hop) it belongs to."""
    summary: str = ""
    """The ASP loop's summary of the hits, as the model saw them."""
