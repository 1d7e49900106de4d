"""Dense search: the same ranking in every process, exact on small collections, equal scores ordered by id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sleuth.config import Settings
from sleuth.retrieval.dense import HNSW_EF_SEARCH, ChromaVectors, chroma_client, rank_exactly
from sleuth.retrieval.index import open_collection
from sleuth.testing import HashEmbedder

SRC = Path(__file__).resolve().parents[2] / "src"

QUERIES = [f"w{i} w{i + 7} w{3 * i + 1} w{i * i % 97}" for i in range(25)]

_SEARCH_IN_A_NEW_PROCESS = """
import json, sys
from sleuth.config import Settings
from sleuth.retrieval.index import open_collection
from sleuth.testing import HashEmbedder

queries = json.loads(sys.argv[1])
with open_collection(Settings(), "repro", embedder=HashEmbedder()) as collection:
    dense = collection.retriever("dense")
    print(json.dumps([[hit.passage.id for hit in dense.search(q, 50)] for q in queries]))
"""


def _corpus(path: Path, n: int = 2000, seed: int = 0) -> Path:
    """`n` passages of 6-12 words drawn from 400 pseudo-words: many overlaps, many near and exact ties."""
    rng = np.random.default_rng(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            words = [f"w{w}" for w in rng.integers(0, 400, rng.integers(6, 13))]
            out.write(json.dumps({"id": f"p{i:05d}", "text": " ".join(words), "half": i % 2}) + "\n")
    return path


def _search_in_a_new_process() -> list[list[str]]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", _SEARCH_IN_A_NEW_PROCESS, json.dumps(QUERIES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def _best_scores(corpus: Path, query: str, k: int, half: int | None = None) -> list[float]:
    """The `k` best cosine scores of the corpus, by brute force."""
    records = [json.loads(line) for line in corpus.read_text().splitlines()]
    texts = [r["text"] for r in records if half is None or r["half"] == half]
    embedder = HashEmbedder()
    scores = embedder.embed(texts).astype(np.float64) @ embedder.embed([query])[0].astype(np.float64)
    return sorted(scores.tolist(), reverse=True)[:k]


def _is_exact(hits: list[tuple[str, float]], best: list[float]) -> bool:
    """True when the hits score what brute force finds (ids of near-equal scores may differ in order)."""
    return len(hits) == len(best) and np.allclose([score for _, score in hits], best, atol=1e-5)


def test_dense_rankings_are_the_same_in_every_process(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus.jsonl")
    with open_collection(Settings(), "repro", embedder=HashEmbedder()) as collection:
        collection.add([corpus])
    first, second = _search_in_a_new_process(), _search_in_a_new_process()
    assert first == second


def test_small_collections_are_searched_exactly_with_filters_too(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus.jsonl", n=2000, seed=1)
    with open_collection(Settings(), "exact", embedder=HashEmbedder()) as collection:
        collection.add([corpus])
        dense = collection.retriever("dense")
        for query in QUERIES[:5]:
            hits = [(h.passage.id, h.score) for h in dense.search(query, 30)]
            assert _is_exact(hits, _best_scores(corpus, query, 30))
            filtered = [(h.passage.id, h.score) for h in dense.search(query, 10, where={"half": 1})]
            assert _is_exact(filtered, _best_scores(corpus, query, 10, half=1))
            assert all(int(pid[1:]) % 2 == 1 for pid, _ in filtered)


@pytest.mark.parametrize("exact_max", [20_000, 0], ids=["exact", "hnsw"])
def test_equal_scores_are_ordered_by_id(tmp_path: Path, exact_max: int) -> None:
    # The same text under five ids, written out of id order: Chroma returns such ties as they were written.
    ids = ["t5", "t3", "t9", "t1", "t7"]
    records = [{"id": pid, "text": "the grey heron hunts fish"} for pid in ids]
    records.append({"id": "t0", "text": "the grey heron sleeps"})
    corpus = tmp_path / "ties.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with open_collection(Settings(dense_exact_max=exact_max), "ties", embedder=HashEmbedder()) as collection:
        collection.add([corpus])
        hits = collection.retriever("dense").search("grey heron hunts fish", 6)
    assert [h.passage.id for h in hits] == ["t1", "t3", "t5", "t7", "t9", "t0"]
    assert len({h.score for h in hits[:5]}) == 1


def test_the_exact_search_sees_what_another_process_adds(tmp_path: Path) -> None:
    first = _corpus(tmp_path / "first.jsonl", n=50)
    (tmp_path / "later.jsonl").write_text(json.dumps({"id": "new", "text": "zebra quagga okapi"}) + "\n")
    with (
        open_collection(Settings(), "grows", embedder=HashEmbedder()) as server,
        open_collection(Settings(), "grows", embedder=HashEmbedder()) as writer,
    ):
        server.add([first])
        assert server.retriever("dense").search("zebra quagga", 1)[0].passage.id != "new"
        writer.add([tmp_path / "later.jsonl"])  # a separate Collection, as `sleuth index add` would be
        assert server.retriever("dense").search("zebra quagga", 1)[0].passage.id == "new"


def test_the_ranking_of_candidates_does_not_depend_on_their_order() -> None:
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    vectors[10] = vectors[3]  # an exact tie
    ids = [f"c{i:02d}" for i in range(40)]
    query = rng.normal(size=8).astype(np.float32)
    expected = rank_exactly(query, ids, vectors, 12)
    for _ in range(5):
        order = rng.permutation(40)
        assert rank_exactly(query, [ids[i] for i in order], vectors[order], 12) == expected
    tied = rank_exactly(vectors[3], ids, vectors, 2)
    assert [pid for pid, _ in tied] == ["c03", "c10"]


def test_a_collection_made_with_chromas_default_search_width_is_widened(tmp_path: Path) -> None:
    client = chroma_client(None, tmp_path / "chroma")
    client.create_collection("sleuth-old", embedding_function=None, configuration={"hnsw": {"space": "cosine"}})
    assert client.get_collection("sleuth-old").configuration["hnsw"]["ef_search"] != HNSW_EF_SEARCH
    ChromaVectors(client, "sleuth-old", exact_max=Settings().dense_exact_max)
    assert client.get_collection("sleuth-old").configuration["hnsw"]["ef_search"] == HNSW_EF_SEARCH
