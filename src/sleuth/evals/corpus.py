"""A dataset's corpus as retrievers: indexed into a collection named after the dataset, once, then reused."""

from __future__ import annotations

import re
from collections.abc import Callable

from sleuth.config import Settings
from sleuth.evals.datasets import Dataset, DatasetError
from sleuth.retrieval.base import Retriever, retriever_override

Progress = Callable[[int, int], None]
"""`progress(done, total)` while passages are indexed (total 0: not known yet)."""


def collection_name(dataset: Dataset) -> str:
    """The collection a dataset's corpus is indexed into: the dataset folder's name, made Chroma-safe."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", dataset.name).strip("._-") or "eval"
    # Chroma wants 3 to 63 characters that start and end with a letter or digit: pad short names with a
    # word, not with "_" (a name ending in "_" is refused).
    return f"{name}-eval" if len(name) < 3 else name[:63].rstrip("._-")


def open_retrievers(
    settings: Settings, dataset: Dataset, progress: Progress | None = None
) -> Callable[[str], Retriever]:
    """Index the dataset's corpus into its collection and return mode -> retriever.

    Indexing is idempotent: an unchanged corpus is skipped by its digest, a changed one re-indexed. With a
    stand-in in `retriever_override` (a test's), nothing is indexed and every mode searches the stand-in.

    Raises:
        DatasetError: the dataset has no corpus, or a corpus file cannot be indexed.
        CollectionError: the collection cannot be opened.
    """
    from sleuth.retrieval.index import open_collection

    standin = retriever_override.get()
    if standin is not None:
        return lambda mode: standin[0]
    if dataset.corpus_path is None:
        raise DatasetError(f"dataset {dataset.name!r} has no corpus.jsonl to search")
    collection = open_collection(settings, collection_name(dataset))
    report = collection.add([dataset.corpus_path], progress)
    if report.errors:
        raise DatasetError(f"cannot index {dataset.corpus_path}: {report.errors[0].error}")
    cache: dict[str, Retriever] = {}

    def retriever(mode: str) -> Retriever:
        if mode not in cache:
            cache[mode] = collection.retriever(mode)  # type: ignore[arg-type]  # the Collection checks it
        return cache[mode]

    return retriever
