"""The bundled demo collection: the demo corpus (`sleuth/data/demo/`) indexed on first use, with the vectors
shipped beside it (`vectors.npz`), and the function that makes that file again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING

from sleuth.config import Settings
from sleuth.retrieval.base import Embedder, Passage
from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.index import Collection, CollectionError, Progress, open_collection
from sleuth.retrieval.ingest import load_file

if TYPE_CHECKING:
    from sleuth.retrieval.shipped import ShippedVectors

CORPUS = "corpus.jsonl"
VECTORS = "vectors.npz"
"""The demo corpus's passage vectors (the default embedder's): `sleuth index demo-vectors` writes it."""


@contextmanager
def demo_file(name: str) -> Iterator[Path]:
    """A file of the bundled demo data as a path (the package may be a zip)."""
    with as_file(files("sleuth") / "data" / "demo" / name) as path:
        yield Path(path)


def ensure_demo_collection(
    settings: Settings, progress: Progress | None = None, *, embedder: Embedder | None = None
) -> Collection:
    """The "demo" collection over the bundled demo corpus, indexed on first use (fast afterwards), with the
    shipped vectors for the passages they match (all of them, with the default embedder)."""
    collection = open_collection(settings, "demo", embedder=embedder)
    with demo_file(CORPUS) as corpus, demo_file(VECTORS) as vectors:
        report = collection.add([corpus], progress, shipped=lambda: _load_shipped(vectors))
    if report.errors:
        raise CollectionError(f"cannot index the demo corpus: {report.errors[0].error}")
    return collection


def demo_passages(config: ChunkingConfig | None = None) -> list[Passage]:
    """The demo corpus's passages, as an add reads them (default chunking: its records are kept whole)."""
    with demo_file(CORPUS) as corpus:
        loaded = load_file(corpus, config or ChunkingConfig())
    if loaded.error:
        raise CollectionError(f"cannot read the demo corpus: {loaded.error}")
    return loaded.passages


def _load_shipped(path: Path) -> ShippedVectors | None:
    from sleuth.retrieval.shipped import ShippedVectors  # numpy: only when the corpus is to be indexed

    return ShippedVectors.load(path)


def write_demo_vectors(embedder: Embedder, path: Path) -> ShippedVectors:
    """Embed the demo corpus with `embedder` and write the shipped-vectors file to `path`."""
    from sleuth.retrieval.shipped import ShippedVectors

    shipped = ShippedVectors.build(embedder, demo_passages())
    shipped.save(path)
    return shipped
