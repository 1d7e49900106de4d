"""The retrieval interfaces (Retriever, Embedder, Reranker), the records they pass around, the recorder
every eval and optimizer wraps a retriever in, and the slots a test's stand-in retriever or embedder goes in
(`sleuth.testing.override`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from sleuth.override import Override

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Filter = dict[str, Any]
"""A metadata filter in Chroma's `where` syntax, e.g. `{"source": "wiki.jsonl"}`."""

Vectors: TypeAlias = "npt.NDArray[np.float32]"
"""A matrix of float32 vectors, one row each (named here only: importing numpy waits for the first vector)."""


@dataclass(frozen=True)
class Passage:
    """One retrievable unit of text (a chunk of a document), with a stable content-hash id."""

    id: str
    text: str
    title: str = ""
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A passage returned for a query, with the retriever's score (higher is better)."""

    passage: Passage
    score: float
    retriever: str = ""


@runtime_checkable
class Retriever(Protocol):
    """Finds the passages that best match a query."""

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]: ...


Lookup = Callable[[str], Passage | None]
"""Passage id -> passage (None when unknown): how a citation of a passage outside a run's hits is verified."""


class RecordingRetriever:
    """A `Retriever` that passes searches through and keeps each query with the hits it returned, so evals
    and optimizers see every search an agent made, whatever its own result reports.

    Args:
        inner: the retriever that searches.
    """

    def __init__(self, inner: Retriever) -> None:
        self.inner = inner
        self.searches: list[tuple[str, list[Hit]]] = []
        """(query, hits) of each search, in order."""
        self._lock = threading.Lock()  # agents search from worker threads

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        hits = self.inner.search(query, k, where=where)
        with self._lock:
            self.searches.append((query, hits))
        return hits

    @property
    def queries(self) -> list[str]:
        return [query for query, _ in self.searches]

    @property
    def hit_ids(self) -> list[str]:
        """Every passage id any search returned, first occurrence first."""
        return list(dict.fromkeys(hit.passage.id for _, hits in self.searches for hit in hits))


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (so a dot product is a cosine)."""

    dim: int

    def embed(self, texts: list[str]) -> Vectors: ...


def embedder_identity(embedder: Embedder) -> str:
    """What a collection records of the embedder its vectors came from, and checks the embedder against:
    its `name` (its class name when it has none) and dimension, e.g. `flag:model:384`."""
    return f"{getattr(embedder, 'name', type(embedder).__name__)}:{embedder.dim}"


@runtime_checkable
class Reranker(Protocol):
    """Re-scores hits for a query with a stronger (slower) model."""

    def rerank(self, query: str, hits: list[Hit], k: int) -> list[Hit]: ...


retriever_override: Override[tuple[Retriever, Lookup | None]] = Override("retriever")
"""The retriever (and passage lookup) every collection and eval corpus is searched with instead (tests):
`Sleuth` and the eval jobs then open and index nothing."""

embedder_override: Override[Embedder] = Override("embedder")
"""The embedder `retrieval.embedders.load_embedder` returns instead of loading the configured one (tests)."""
