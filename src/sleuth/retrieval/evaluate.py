"""Retrieval metrics (pure functions) and the loop that scores a retriever on a question set.

`qrels` map a passage id to its relevance (1 for the binary gold passages of the shared data; BEIR qrels
may be graded). A passage not in qrels is irrelevant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sleuth.retrieval.base import Retriever

Qrels = Mapping[str, float]


def recall_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    """Share of the relevant passages found in the top `k` (0.0 when there are none to find)."""
    relevant = {pid for pid, rel in qrels.items() if rel > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def all_gold_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    """1.0 when every relevant passage is in the top `k` (what a multi-hop question needs), else 0.0."""
    relevant = {pid for pid, rel in qrels.items() if rel > 0}
    return float(bool(relevant) and relevant.issubset(ranked[:k]))


def ndcg_at_k(ranked: Sequence[str], qrels: Qrels, k: int) -> float:
    """Normalised discounted cumulative gain with linear gains (rel / log2(rank + 1)), as BEIR/trec_eval.

    A negative grade gains 0, as in trec_eval (else nDCG could fall below 0); an id repeated in the ranking
    gains only at its first rank (else nDCG could exceed 1), its repeats still take their slots.
    """
    dcg = 0.0
    seen: set[str] = set()
    for rank, pid in enumerate(ranked[:k]):
        if pid not in seen:
            seen.add(pid)
            dcg += max(qrels.get(pid, 0.0), 0.0) / math.log2(rank + 2)
    ideal = sorted((rel for rel in qrels.values() if rel > 0), reverse=True)[:k]
    idcg = sum(rel / math.log2(rank + 2) for rank, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def reciprocal_rank(ranked: Sequence[str], qrels: Qrels, k: int | None = None) -> float:
    """1 / rank of the first relevant passage within the top `k` (all when None); 0.0 if none."""
    for rank, pid in enumerate(ranked[:k] if k else ranked, start=1):
        if qrels.get(pid, 0.0) > 0:
            return 1.0 / rank
    return 0.0


def score_ranking(ranked: Sequence[str], qrels: Qrels, ks: Sequence[int] = (1, 5, 10, 20)) -> dict[str, float]:
    """All metrics for one query: recall@k and all_gold@k for each k, ndcg@10, mrr@10."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"recall@{k}"] = recall_at_k(ranked, qrels, k)
    for k in ks:
        out[f"all_gold@{k}"] = all_gold_at_k(ranked, qrels, k)
    out["ndcg@10"] = ndcg_at_k(ranked, qrels, 10)
    out["mrr@10"] = reciprocal_rank(ranked, qrels, 10)
    return out


def mean_scores(per_query: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The mean of each metric over queries."""
    if not per_query:
        return {}
    return {key: sum(q[key] for q in per_query) / len(per_query) for key in per_query[0]}


@dataclass(frozen=True)
class Query:
    """A query with its relevance judgements."""

    id: str
    text: str
    qrels: dict[str, float]


def evaluate_retriever(
    retriever: Retriever,
    queries: Sequence[Query],
    ks: Sequence[int] = (1, 5, 10, 20),
    progress: Callable[[int, int], None] | None = None,
    depth: int | None = None,
) -> dict[str, float]:
    """Run every query and return the mean metrics (plus `queries`, the count).

    Args:
        depth: hits to rank per query; default the largest cutoff, at least 10 (what nDCG@10 and MRR@10
            read). A shallower depth would score rankings cut short, so it is refused.
    """
    needed = max(max(ks), 10)
    depth = depth or needed
    if depth < needed:
        raise ValueError(f"depth {depth} is below {needed}, the largest cutoff (at least 10, for nDCG@10)")
    scored = []
    for number, query in enumerate(queries, start=1):
        ranked = [hit.passage.id for hit in retriever.search(query.text, depth)]
        scored.append(score_ranking(ranked, query.qrels, ks))
        if progress:
            progress(number, len(queries))
    return {**mean_scores(scored), "queries": float(len(queries))}
