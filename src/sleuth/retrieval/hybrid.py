"""Hybrid search: reciprocal-rank fusion of several retrievers' rankings (BM25 + dense by default)."""

from __future__ import annotations

from sleuth.retrieval.base import Filter, Hit, Retriever

RRF_K = 60
"""The constant of Cormack et al. (2009): large enough that one retriever's top rank cannot dominate."""


def reciprocal_rank_fusion(rankings: list[list[Hit]], k: int = RRF_K, limit: int | None = None) -> list[Hit]:
    """Fuse rankings: each passage scores sum over rankings of 1 / (k + rank), rank starting at 1.

    Ties keep the order in which passages were first seen (earlier rankings first).
    """
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            pid = hit.passage.id
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (k + rank)
            first.setdefault(pid, hit)
    order = sorted(scores, key=lambda pid: -scores[pid])  # sorted() is stable: ties keep first-seen order
    fused = [Hit(first[pid].passage, scores[pid], "hybrid") for pid in order]
    return fused if limit is None else fused[:limit]


class HybridRetriever:
    """Runs each retriever to `depth` and fuses the rankings with reciprocal-rank fusion.

    Args:
        retrievers: the retrievers to fuse (e.g. BM25 and dense).
        depth: hits taken from each retriever before fusion; at least `k`.
        rrf_k: the fusion constant.
    """

    def __init__(self, retrievers: list[Retriever], *, depth: int = 50, rrf_k: int = RRF_K) -> None:
        self.retrievers = retrievers
        self.depth = depth
        self.rrf_k = rrf_k

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        depth = max(k, self.depth)
        rankings = [r.search(query, depth, where=where) for r in self.retrievers]
        return reciprocal_rank_fusion(rankings, self.rrf_k, limit=k)
