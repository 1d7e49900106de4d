"""Shipped vectors: the demo corpus's packaged vectors match the corpus, and indexing uses a shipped vector
only for a passage whose id and text it was made from, and only with the embedder that made it."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.config import Settings
from sleuth.retrieval.demo import CORPUS, VECTORS, demo_file, demo_passages, ensure_demo_collection
from sleuth.retrieval.embedders.flag import FlagEmbedder, default_model_path, pooling_of
from sleuth.retrieval.index import open_collection
from sleuth.retrieval.shipped import PROBE_TEXTS, ShippedVectors, embedding_text, text_hash
from sleuth.testing import HashEmbedder, override


class RecordingEmbedder(HashEmbedder):
    """A hash embedder (under that name) that keeps every text it was asked to embed."""

    name = "HashEmbedder"

    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.texts: list[str] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.texts += texts
        return self.vectors(texts)

    def vectors(self, texts: list[str]) -> np.ndarray:
        return super().embed(texts)

    @property
    def passages_embedded(self) -> list[str]:
        return [t for t in self.texts if t not in PROBE_TEXTS]


class Impostor(RecordingEmbedder):
    """Has `HashEmbedder`'s name and dimension, but gives other vectors."""

    def vectors(self, texts: list[str]) -> np.ndarray:
        return super().vectors([text[::-1] for text in texts])


def _shipped_by(embedder: HashEmbedder, tmp_path: Path) -> ShippedVectors:
    path = tmp_path / "vectors.npz"
    ShippedVectors.build(embedder, demo_passages()).save(path)
    loaded = ShippedVectors.load(path)
    assert loaded is not None
    return loaded


def _corpus_copy(tmp_path: Path) -> tuple[Path, list[dict]]:
    with demo_file(CORPUS) as corpus:
        records = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    return tmp_path / "corpus.jsonl", records


def test_the_shipped_file_matches_the_shipped_corpus_and_the_default_embedder() -> None:
    """Fails when corpus.jsonl changed and vectors.npz was not made again: `sleuth index demo-vectors`."""
    with demo_file(VECTORS) as path:
        size = path.stat().st_size
        shipped = ShippedVectors.load(path)
    assert shipped is not None, "data/demo/vectors.npz is missing or unreadable: sleuth index demo-vectors"
    passages = demo_passages()
    assert shipped.ids == [p.id for p in passages], "demo corpus ids changed: sleuth index demo-vectors"
    assert shipped.hashes == [text_hash(embedding_text(p)) for p in passages], (
        "demo corpus text changed: sleuth index demo-vectors"
    )
    model = default_model_path()
    dim = json.loads((model / "config.json").read_text())["hidden_size"]
    max_length = inspect.signature(FlagEmbedder).parameters["max_length"].default
    assert shipped.embedder == f"flag:{model.name}:{dim}"
    assert shipped.settings == {"pooling": pooling_of(model), "max_length": max_length}
    assert shipped.vectors.shape == (len(passages), dim) and shipped.vectors.dtype == np.float16
    norms = np.linalg.norm(shipped.vectors.astype(np.float32), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-3)
    assert size < 400_000


def test_an_edited_passage_is_embedded_again_and_the_others_are_not(tmp_path: Path) -> None:
    shipped = _shipped_by(HashEmbedder(64), tmp_path)
    path, records = _corpus_copy(tmp_path)
    records[5]["text"] = "Tom Bombadil keeps bees on the Withywindle, east of the Old Forest."
    records.append({"id": "new-one", "title": "Goldberry", "text": "Goldberry is the River-woman's daughter."})
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    embedder = RecordingEmbedder(64)
    collection = open_collection(Settings(), "demo", embedder=embedder)
    collection.add([path], shipped=lambda: shipped)

    edited = f"{records[5]['title']}\n{records[5]['text']}"
    assert sorted(embedder.passages_embedded) == sorted(
        [edited, "Goldberry\nGoldberry is the River-woman's daughter."]
    )
    assert shipped.used == len(records) - 2 == collection.count - 2
    hit = collection.retriever("dense").search(edited, 1)[0]
    assert hit.passage.id == records[5]["id"] and hit.score > 0.999  # its new text's vector, not the shipped one
    other = collection.retriever("dense").search(embedding_text(collection.get(records[6]["id"])), 1)[0]
    assert other.passage.id == records[6]["id"] and other.score > 0.999  # a shipped vector, still right


def test_the_shipped_demo_vectors_are_not_used_with_another_embedder() -> None:
    embedder = RecordingEmbedder(64)
    with demo_file(VECTORS) as path:
        shipped = ShippedVectors.load(path)
    assert shipped is not None
    collection = open_collection(Settings(), "demo", embedder=embedder)
    with demo_file(CORPUS) as corpus:
        collection.add([corpus], shipped=lambda: shipped)
    assert shipped.used == 0
    assert len(embedder.passages_embedded) == collection.count == 396
    assert embedder.texts == embedder.passages_embedded  # not even the probes: the identity differs


def test_an_embedder_under_the_same_name_is_caught_by_the_probes(tmp_path: Path) -> None:
    shipped = _shipped_by(HashEmbedder(64), tmp_path)
    impostor = Impostor(64)
    collection = open_collection(Settings(), "demo", embedder=impostor)
    with demo_file(CORPUS) as corpus:
        collection.add([corpus], shipped=lambda: shipped)
    assert shipped.used == 0 and len(impostor.passages_embedded) == 396


def test_ensure_demo_collection_reads_the_shipped_file(tmp_path: Path, monkeypatch) -> None:
    shipped = _shipped_by(HashEmbedder(256), tmp_path)
    monkeypatch.setattr(ShippedVectors, "load", classmethod(lambda cls, path: shipped))
    embedder = RecordingEmbedder(256)
    demo = ensure_demo_collection(Settings(), embedder=embedder)
    assert demo.count == 396 and shipped.used == 396 and embedder.passages_embedded == []
    demon = next(p for p in demo_passages() if p.title == "Demon Dice")
    hit = demo.retriever("dense").search(embedding_text(demon), 1)[0]
    assert hit.passage.id == demon.id and hit.score > 0.999


def test_a_damaged_or_missing_file_means_embedding_as_usual(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert ShippedVectors.load(tmp_path / "bad.npz") is None
    assert ShippedVectors.load(tmp_path / "missing.npz") is None


def test_the_hidden_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "vectors.npz"
    with override(embedder=HashEmbedder(32)):
        result = CliRunner().invoke(app, ["index", "demo-vectors", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = ShippedVectors.load(out)
    assert written is not None and written.embedder == "HashEmbedder:32"
    assert written.ids == [p.id for p in demo_passages()]
