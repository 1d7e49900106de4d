"""The collections one process opens on first use and keeps until closed (the Python facade's)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from sleuth.config import Settings
from sleuth.retrieval.base import Embedder, Lookup, Retriever

if TYPE_CHECKING:
    from sleuth.retrieval.index import Collection
    from sleuth.retrieval.worker.client import WorkerLink

SearchMode = Literal["bm25", "dense", "hybrid"]


class OpenedCollections:
    """Collections by name, opened once (the bundled `demo` one built on first use), with one hybrid
    retriever each; searched through the warm worker when a link to one is given.

    Args:
        settings: where the indexes live.
        worker: the warm worker to embed and search through (the CLI's); None: in-process.
        embedder: builds the embedder collections are opened with (None: the collection's own choice).
    """

    def __init__(
        self,
        settings: Settings,
        worker: WorkerLink | None = None,
        embedder: Callable[[], Embedder | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.worker = worker
        self._embedder = embedder
        self._collections: dict[str, Collection] = {}
        self._hybrid: dict[str, Retriever] = {}
        self._opening = threading.Lock()  # searches run on worker threads: open each collection once

    def get(self, name: str) -> Collection:
        """The collection `name`, opened on first use.

        Raises:
            ValueError: no such collection (create it with `sleuth index add`).
        """
        with self._opening:
            if name not in self._collections:
                from sleuth.retrieval.demo import ensure_demo_collection
                from sleuth.retrieval.index import open_collection

                embedder = self._embedder()
                if name == "demo":
                    self._collections[name] = ensure_demo_collection(self.settings, embedder=embedder)
                elif not (self.settings.indexes_dir / name).is_dir():
                    raise ValueError(
                        f"no collection {name!r} under {self.settings.indexes_dir}; "
                        "create it with `sleuth index add` first"
                    )
                else:
                    self._collections[name] = open_collection(self.settings, name, embedder=embedder)
            return self._collections[name]

    def retriever(self, name: str, mode: SearchMode) -> Retriever:
        """A retriever of `name` in `mode` (the worker's when there is a link)."""
        opened = self.get(name)
        return opened.retriever(mode) if self.worker is None else self.worker.retriever(opened, mode)

    def hybrid(self, name: str) -> tuple[Retriever, Lookup]:
        """The hybrid retriever of `name`, kept, and its passage lookup."""
        opened = self.get(name)
        if name not in self._hybrid:
            self._hybrid[name] = self.retriever(name, "hybrid")
        return self._hybrid[name], opened.get

    def close(self) -> None:
        while self._collections:
            self._collections.popitem()[1].close()
        self._hybrid.clear()
