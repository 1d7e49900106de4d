"""Fake retrieval parts: a deterministic hash embedder and a static retriever over a fixed list of passages."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import numpy as np

from sleuth.retrieval.base import Filter, Hit, Passage, Vectors

_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """A deterministic bag-of-words embedder: each token hashed to a bucket, vector L2-normalised.

    Texts that share words get a positive cosine, texts that share none get ~0, which is enough to
    test ranking logic without loading a model.
    """

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def embed(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "little")
                out[row, bucket % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1.0, norms)).astype(np.float32)


class StaticRetriever:
    """A `Retriever` over a fixed list of passages, ranked by shared-word count (ties: input order)."""

    def __init__(self, passages: Iterable[Passage]) -> None:
        self.passages = list(passages)
        self.queries: list[str] = []

    def get(self, passage_id: str) -> Passage | None:
        """The passage with this id (a passage lookup, as a collection's `get`)."""
        return next((p for p in self.passages if p.id == passage_id), None)

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        self.queries.append(query)
        words = set(_TOKEN.findall(query.lower()))
        scored = []
        for index, passage in enumerate(self.passages):
            if where and any(passage.metadata.get(key) != value for key, value in where.items()):
                continue
            overlap = len(words & set(_TOKEN.findall(f"{passage.title} {passage.text}".lower())))
            if overlap:
                scored.append((-overlap, index, passage))
        scored.sort(key=lambda item: (item[0], item[1]))
        return [Hit(passage, float(-neg), "static") for neg, _, passage in scored[:k]]
