"""Dense vectors in Chroma (embedded or a server), searched so that a query ranks the same in every process.

Chroma is always given our own embeddings (embedded `PersistentClient`, or `HttpClient` for a server).

Chroma's HNSW index is approximate, and its answers differ from process to process: the graph a process
holds after opening a saved collection is not the same each time (the saved index lags Chroma's write log,
which each process re-applies; one thread instead of several did not make it repeatable). On the bundled
multi-hop corpus (2,884 MiniLM vectors) the top-50 of 19 of its 200 questions differed between two
processes, and 52 of 200 differed from the exact top-50. So:

- a collection of up to `exact_max` passages (`SLEUTH_DENSE_EXACT_MAX`) is searched exactly: every stored
  vector is read once per store generation and scored against the query (exact, so reproducible);
- a larger one takes HNSW's top `2k` (`ef_search` raised to `HNSW_EF_SEARCH`) and re-scores those
  candidates with their stored vectors. The ranking is then a function of the candidate set alone, but that
  set may still differ between processes: the documented bound.

Either way equal scores are ordered by passage id, never by Chroma's traversal order.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.private import private_dir
from sleuth.retrieval.base import Filter, Passage, Vectors
from sleuth.retrieval.filters import to_chroma

HNSW_EF_SEARCH = 1000
"""Candidates HNSW keeps while searching (Chroma's default, 100, found 60% of the exact top-50 of 20,000
clustered 384-d vectors; 1,000 found 98%, at about 5 ms a query)."""

_PAGE = 5000  # vectors read from Chroma per call when loading them all


def chroma_client(url: str | None, path: Path) -> Any:
    """A Chroma client: `HttpClient` for a server URL (http://host:port), else a PersistentClient at `path`.

    Telemetry is off: sleuth must work with no network.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    options = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if url:
        from urllib.parse import urlparse

        parsed = urlparse(url if "://" in url else f"http://{url}")
        return chromadb.HttpClient(
            host=parsed.hostname or "localhost",
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=options,
        )
    private_dir(path)
    return chromadb.PersistentClient(path=str(path), settings=options)


class ChromaVectors:
    """One Chroma collection of passage vectors (cosine space), keyed by passage id.

    Chroma is given `embedding_function=None` and explicit vectors everywhere: its default embedding
    function would download an ONNX model at first use.

    Args:
        exact_max: collections up to this many vectors are searched exactly (see the module docstring);
            a `Collection` passes `SLEUTH_DENSE_EXACT_MAX`.
    """

    def __init__(self, client: Any, name: str, *, exact_max: int) -> None:
        self._client = client
        self.name = name
        self.exact_max = exact_max
        self._collection = client.get_or_create_collection(
            name=name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "ef_search": HNSW_EF_SEARCH}},
        )
        # get_or_create keeps an existing collection's configuration: raise ef_search on older ones.
        hnsw = (getattr(self._collection, "configuration", None) or {}).get("hnsw") or {}
        if hnsw.get("ef_search", HNSW_EF_SEARCH) != HNSW_EF_SEARCH:
            self._collection.modify(configuration={"hnsw": {"ef_search": HNSW_EF_SEARCH}})
        self._all: tuple[int | None, list[str], Vectors] | None = None
        self._all_lock = threading.Lock()

    def upsert(self, passages: list[Passage], vectors: Vectors) -> None:
        if not passages:
            return
        step = max(1, min(5000, self._client.get_max_batch_size()))
        for start in range(0, len(passages), step):
            batch = passages[start : start + step]
            self._collection.upsert(
                ids=[p.id for p in batch],
                embeddings=np.asarray(vectors[start : start + step], dtype=np.float32),
                metadatas=[chroma_metadata(p) for p in batch],
            )

    def set_metadata(self, passages: list[Passage]) -> None:
        """Rewrite the filterable fields of passages already embedded (their text, so vector, is the same)."""
        for start in range(0, len(passages), 5000):
            batch = passages[start : start + 5000]
            self._collection.update(ids=[p.id for p in batch], metadatas=[chroma_metadata(p) for p in batch])

    def delete(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 5000):
            self._collection.delete(ids=ids[start : start + 5000])

    def ids(self) -> set[str]:
        return set(self._collection.get(include=[])["ids"])

    def count(self) -> int:
        return int(self._collection.count())

    def query(
        self, vector: Vectors, k: int, where: Filter | None = None, *, version: int | None = None
    ) -> list[tuple[str, float]]:
        """The `k` nearest passage ids with cosine similarity, best first, equal scores by id.

        Args:
            version: what the vectors read for an exact search are cached under (the passage store's
                generation); None reads them again for this query.
        """
        if k <= 0:
            return []
        chroma_where = to_chroma(where)
        if self.count() <= self.exact_max:
            ids, matrix = self._all_vectors(version)
            if chroma_where:
                allowed = set(self._collection.get(where=chroma_where, include=[])["ids"])
                keep = np.fromiter((pid in allowed for pid in ids), dtype=bool, count=len(ids))
                ids, matrix = [pid for pid, kept in zip(ids, keep, strict=True) if kept], matrix[keep]
            return _top(vector, ids, matrix, k)
        result = self._collection.query(
            query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
            n_results=2 * k,  # slack for near-ties that HNSW's float32 distances order differently
            where=chroma_where,
            include=["embeddings"],
        )
        return rank_exactly(vector, list(result["ids"][0]), np.asarray(result["embeddings"][0]), k)

    def drop(self) -> None:
        self._client.delete_collection(self.name)

    def close(self) -> None:
        """Release the client (Chroma stops an embedded one when its last client on that path closes)."""
        close = getattr(self._client, "close", None)
        if close is not None:
            close()

    def _all_vectors(self, version: int | None) -> tuple[list[str], Vectors]:
        """Every stored vector, unit length, in id order; kept while `version` is unchanged."""
        with self._all_lock:
            if version is None or self._all is None or self._all[0] != version:
                ids: list[str] = []
                pages: list[Vectors] = []
                while True:
                    page = self._collection.get(include=["embeddings"], limit=_PAGE, offset=len(ids))
                    if not page["ids"]:
                        break
                    ids.extend(page["ids"])
                    pages.append(np.asarray(page["embeddings"], dtype=np.float32))
                self._all = (
                    version,
                    *_by_id(ids, np.concatenate(pages) if pages else np.zeros((0, 0), np.float32)),
                )
            return self._all[1], self._all[2]


def rank_exactly(vector: Vectors, ids: list[str], vectors: Vectors, k: int) -> list[tuple[str, float]]:
    """The best `k` of candidate passages by exact cosine with `vector`, equal scores ordered by id.

    The candidates are put in id order before scoring, so the result depends on the set alone, not on
    the order in which Chroma returned it.
    """
    return _top(vector, *_by_id(ids, vectors), k) if ids else []


def _top(vector: Vectors, ids: list[str], unit_rows: Vectors, k: int) -> list[tuple[str, float]]:
    """The `k` best of `ids` (sorted, one unit-length row each) by cosine with `vector`."""
    if not ids:
        return []
    scores = unit_rows @ _unit(vector)
    top = np.argsort(-scores, kind="stable")[:k]  # rows are in id order and the sort is stable: ties by id
    return [(ids[i], float(scores[i])) for i in top]


def _by_id(ids: list[str], vectors: Vectors) -> tuple[list[str], Vectors]:
    """The distinct `ids` sorted, and their vectors in that order, scaled to unit length."""
    row = {pid: i for i, pid in enumerate(ids)}
    order = sorted(row)
    matrix = np.asarray(vectors, dtype=np.float32)[[row[pid] for pid in order]]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return order, (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32, copy=False)


def _unit(vector: Vectors) -> Vectors:
    flat = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(flat))
    return flat / norm if norm else flat


def chroma_metadata(passage: Passage) -> dict[str, Any]:
    """Chroma accepts only str/int/float/bool values: other metadata values are stored as JSON text."""
    out: dict[str, Any] = {}
    for key, value in passage.metadata.items():
        if value is None:
            continue
        out[key] = value if isinstance(value, str | int | float | bool) else json.dumps(value, default=str)
    out["source"] = passage.source
    out["title"] = passage.title
    return out
