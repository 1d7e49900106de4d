"""Reranking: re-score a retriever's top hits with a cross-encoder (FlagEmbedding's FlagReranker)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from sleuth.retrieval.base import Filter, Hit, Reranker, Retriever


class FlagCrossEncoder:
    """A `Reranker` over a local cross-encoder folder (e.g. bge-reranker-base), loaded offline.

    Args:
        path: the model folder.
        max_length: tokens of query + passage kept.
    """

    def __init__(self, path: Path, *, max_length: int = 512) -> None:
        from sleuth.retrieval.embedders import EmbedderError

        path = Path(path).expanduser()
        if not (path / "config.json").exists():
            raise EmbedderError(f"no reranker model at {path} (expected a folder with config.json)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from FlagEmbedding import FlagReranker

        self._model = FlagReranker(str(path), use_fp16=False, max_length=max_length)

    def rerank(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        if not hits:
            return []
        scores = self._model.compute_score([[query, f"{h.passage.title}\n{h.passage.text}"] for h in hits])
        if not isinstance(scores, list):
            scores = [scores]
        ranked = sorted(zip(hits, scores, strict=True), key=lambda pair: -float(pair[1]))
        return [replace(hit, score=float(score), retriever=f"{hit.retriever}+rerank") for hit, score in ranked[:k]]


class RerankingRetriever:
    """Takes `depth` hits from `base` and keeps the reranker's best `k`."""

    def __init__(self, base: Retriever, reranker: Reranker, *, depth: int = 30) -> None:
        self.base = base
        self.reranker = reranker
        self.depth = depth

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        hits = self.base.search(query, max(k, self.depth), where=where)
        return self.reranker.rerank(query, hits, k)
