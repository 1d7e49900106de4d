"""Reranking: the reranker reorders the base retriever's candidates; a bad reranker path is a clear error."""

from pathlib import Path

import pytest

from sleuth.config import Settings
from sleuth.retrieval.base import Hit, Passage
from sleuth.retrieval.embedders import EmbedderError
from sleuth.retrieval.index import open_collection
from sleuth.retrieval.rerank import RerankingRetriever
from sleuth.testing import HashEmbedder, StaticRetriever


class LengthReranker:
    """Prefers shorter passages: an order the base retriever would never produce."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def rerank(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        self.seen.append(len(hits))
        ranked = sorted(hits, key=lambda h: len(h.passage.text))
        return [Hit(h.passage, -len(h.passage.text), "rerank") for h in ranked[:k]]


def test_reranker_sees_depth_candidates_and_decides_the_order() -> None:
    passages = [Passage(f"p{i}", "otter " * (10 - i) + "x" * i) for i in range(10)]
    reranker = LengthReranker()
    retriever = RerankingRetriever(StaticRetriever(passages), reranker, depth=6)
    hits = retriever.search("otter", 2)
    assert reranker.seen == [6]
    assert [h.passage.id for h in hits] == ["p5", "p4"]  # shortest of the 6 candidates


def test_configured_reranker_path_must_exist(tmp_path: Path) -> None:
    collection = open_collection(Settings(reranker_path=tmp_path / "missing"), "r", embedder=HashEmbedder())
    with pytest.raises(EmbedderError, match="no reranker model"):
        collection.retriever("bm25")
