"""Retrieval metrics and rank fusion on hand-checked cases."""

import math

import pytest

from sleuth.retrieval.base import Hit, Passage
from sleuth.retrieval.evaluate import (
    Query,
    all_gold_at_k,
    evaluate_retriever,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
    score_ranking,
)
from sleuth.retrieval.hybrid import HybridRetriever, reciprocal_rank_fusion
from sleuth.testing import StaticRetriever

RANKED = ["a", "x", "b", "y", "z"]
GOLD = {"a": 1.0, "b": 1.0, "c": 1.0}


def test_recall_and_all_gold() -> None:
    assert recall_at_k(RANKED, GOLD, 1) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, GOLD, 3) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, GOLD, 10) == pytest.approx(2 / 3)  # c never retrieved
    assert all_gold_at_k(RANKED, GOLD, 5) == 0.0
    assert all_gold_at_k(RANKED, {"a": 1, "b": 1}, 3) == 1.0
    assert all_gold_at_k(RANKED, {"a": 1, "b": 1}, 2) == 0.0
    assert recall_at_k(RANKED, {}, 5) == 0.0


def test_ndcg_by_hand() -> None:
    # relevant at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5; ideal (3 relevant) = 1 + 1/log2(3) + 1/2
    assert ndcg_at_k(RANKED, GOLD, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3) + 0.5))
    assert ndcg_at_k(["a", "b", "c"], GOLD, 10) == pytest.approx(1.0)
    # graded qrels (BEIR): a 2 at rank 2, a 1 at rank 1 -> DCG = 1 + 2/log2(3); ideal = 2 + 1/log2(3)
    assert ndcg_at_k(["p", "q"], {"p": 1, "q": 2}, 10) == pytest.approx(
        (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    )
    assert ndcg_at_k(["x"], {"a": 1}, 10) == 0.0


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(["x", "y", "b"], GOLD) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x", "y", "b"], GOLD, k=2) == 0.0
    assert score_ranking(RANKED, GOLD, ks=(1, 3))["mrr@10"] == 1.0


def test_reciprocal_rank_fusion_by_hand() -> None:
    def hits(*ids: str) -> list[Hit]:
        return [Hit(Passage(pid, pid), 1.0) for pid in ids]

    fused = reciprocal_rank_fusion([hits("a", "b", "c"), hits("c", "a", "d")], k=60)
    scores = {h.passage.id: h.score for h in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert [h.passage.id for h in fused] == ["a", "c", "b", "d"]
    assert all(h.retriever == "hybrid" for h in fused)
    assert [h.passage.id for h in reciprocal_rank_fusion([hits("a", "b"), hits("b", "a")], limit=1)] == ["a"]


def test_hybrid_and_evaluate_retriever() -> None:
    passages = [
        Passage("p1", "sea otters use rocks"),
        Passage("p2", "herons eat fish"),
        Passage("p3", "otters eat fish"),
    ]
    hybrid = HybridRetriever([StaticRetriever(passages), StaticRetriever(passages[::-1])])
    assert [h.passage.id for h in hybrid.search("otters fish", 2)] == ["p3", "p1"]
    result = evaluate_retriever(
        StaticRetriever(passages),
        [Query("q1", "herons fish", {"p2": 1}), Query("q2", "rocks", {"p1": 1, "p2": 1})],
    )
    assert result["queries"] == 2
    assert result["recall@1"] == pytest.approx((1 + 0.5) / 2)
    assert result["all_gold@10"] == pytest.approx(0.5)


def test_ndcg_clamps_negative_grades_to_zero_as_trec_eval() -> None:
    # A negative grade (some BEIR qrels mark "harmful" with -1) is no gain, never a loss below 0.
    assert ndcg_at_k(["bad", "good"], {"bad": -1, "good": 1}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["bad"], {"bad": -2, "good": 1}, 10) == 0.0


def test_ndcg_counts_a_repeated_id_once() -> None:
    # The repeat keeps its rank (it took a slot) but gains nothing, so nDCG never exceeds 1.
    assert ndcg_at_k(["a", "a"], {"a": 1}, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["a", "a", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(
        (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    )


def test_evaluate_retriever_ranks_to_the_requested_depth() -> None:
    passages = [Passage(f"p{i}", f"filler {i}") for i in range(30)]
    seen: list[int] = []

    class Recording(StaticRetriever):
        def search(self, query: str, k: int, *, where: object = None) -> list[Hit]:  # type: ignore[override]
            seen.append(k)
            return super().search(query, k)

    retriever = Recording(passages)
    assert evaluate_retriever(retriever, [Query("q", "filler", {"p25": 1})])["recall@20"] == 0.0
    assert seen == [20]  # today's default depth
    result = evaluate_retriever(retriever, [Query("q", "filler", {"p25": 1})], ks=(1, 30))
    assert seen[-1] == 30 and result["recall@30"] == 1.0
    evaluate_retriever(retriever, [Query("q", "filler", {"p25": 1})], ks=(5,), depth=25)
    assert seen[-1] == 25
