"""The result vocabulary both agents share: a verified `Citation` and a `SearchCall` (the graph's state keeps
the same records as JSON-able TypedDicts in `state.py`, so checkpoints stay plain data)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from sleuth.retrieval.base import Lookup, Passage


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

    @classmethod
    def of(cls, passage: Passage, quote: str, n: int = 1) -> Citation:
        """A citation of `passage`, with the PDF page or web address its metadata names."""
        return cls(n=n, passage_id=passage.id, title=passage.title, quote=quote, **source_of(passage))


def source_of(passage: Passage | None) -> dict[str, Any]:
    """The `page` and `url` of a citation of `passage`, from its metadata (None where it names none)."""
    meta = passage.metadata if passage is not None else {}
    page, url = meta.get("page"), meta.get("url")
    return {
        "page": page if isinstance(page, int) and not isinstance(page, bool) else None,
        "url": url if isinstance(url, str) else None,
    }


def with_sources(citations: list[Citation], lookup: Lookup | None) -> list[Citation]:
    """`citations` with the page or address of each cited passage `lookup` finds (corrections as they are)."""
    if lookup is None:
        return citations
    return [
        c.model_copy(update=source_of(lookup(c.passage_id))) if c.kind == "passage" and c.url is None else c
        for c in citations
    ]


class SearchCall(BaseModel):
    """One search an agent made: the query, how many hits it asked for, which passages came back."""

    query: str
    k: int
    hit_ids: list[str] = Field(default_factory=list)
    round: int = 1
    """The research round (or hop) it belongs to."""
    summary: str = ""
    """The ASP loop's summary of the hits, as the model saw them."""
