"""Dense vectors in Chroma (embedded PersistentClient or a Chroma server), always with our own embeddings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.private import private_dir
from sleuth.retrieval.base import Filter, Passage, Vectors
from sleuth.retrieval.filters import to_chroma


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
    """

    def __init__(self, client: Any, name: str) -> None:
        self._client = client
        self.name = name
        self._collection = client.get_or_create_collection(
            name=name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )

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

    def query(self, vector: Vectors, k: int, where: Filter | None = None) -> list[tuple[str, float]]:
        """The `k` nearest passage ids with cosine similarity (1 - cosine distance), best first."""
        if k <= 0:
            return []
        result = self._collection.query(
            query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
            n_results=k,
            where=to_chroma(where),
            include=["distances"],
        )
        return [(pid, 1.0 - float(d)) for pid, d in zip(result["ids"][0], result["distances"][0], strict=True)]

    def drop(self) -> None:
        self._client.delete_collection(self.name)


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
