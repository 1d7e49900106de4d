"""Web pages as passages: a page's text chunked like a file's, and the pages one run read, searchable by BM25.

A run's pages are kept in a passage store of their own (`retrieval/store.py`, one SQLite file per run under
`SLEUTH_HOME/runs/web/`), so a run resumed in another process (after plan approval, say) still finds the
passages it cited, with their addresses; BM25 over them is rebuilt in memory when pages are added.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from sleuth.retrieval.base import Filter, Hit, Passage
from sleuth.retrieval.bm25 import BM25Index
from sleuth.retrieval.chunking import chunk_text, passage_id
from sleuth.retrieval.filters import fields, matches
from sleuth.retrieval.store import PassageStore
from sleuth.retrieval.web.extract import PageText


def page_passages(
    text: PageText, *, source: str, url: str, chunk_size: int, chunk_overlap: int
) -> tuple[str, list[Passage]]:
    """A page's passages, each with `metadata={"url", "fetched_at"}` (and `page` for a PDF's, `chunk` when a
    part is split), and the digest of its text (what tells an unchanged page on a second read).

    Args:
        source: what the page is filed under (the address asked for).
        url: the address the text came from (after redirects), which citations show.
    """
    fetched_at = datetime.now(UTC).isoformat(timespec="seconds")
    digest = hashlib.sha256()
    digest.update(text.title.encode())
    passages: list[Passage] = []
    for body, where in text.parts:
        digest.update(b"\x00" + body.encode())
        pieces = chunk_text(body, chunk_size, chunk_overlap)
        for number, piece in enumerate(pieces):
            metadata = {"url": url, "fetched_at": fetched_at, **where}
            if len(pieces) > 1:
                metadata["chunk"] = number
            passages.append(Passage(passage_id(text.title, piece), piece, text.title, source, metadata))
    return digest.hexdigest(), passages


class RunPages:
    """The pages one run read from the web: passages, BM25 over them, and the run's web mode.

    Args:
        path: the run's SQLite file.
        mode: the run's web mode (`web` or `mixed`), recorded; None: the one recorded before (a resumed run).
    """

    def __init__(self, path: Path, mode: str | None = None) -> None:
        self.store = PassageStore(path)
        if mode is not None:
            self.store.set_state("web_mode", mode)
        self._index: tuple[int, BM25Index, list[Passage]] | None = None
        self._lock = threading.Lock()  # searches run on worker threads; one rebuild at a time

    @property
    def mode(self) -> str:
        return self.store.state("web_mode") or "web"

    def close(self) -> None:
        self.store.close()

    def has(self, source: str) -> bool:
        """Whether a page filed under `source` is held already."""
        return self.store.source_digest(source) is not None

    def add(self, source: str, digest: str, passages: list[Passage]) -> int:
        """Keep a page's passages (a passage another page holds already is linked, not copied).

        Returns:
            The passages new to the run.
        """
        unique = list({p.id: p for p in reversed(passages)}.values())[::-1]  # the first of a repeated id wins
        return len(self.store.replace_source(source, digest, unique).added)

    def get(self, passage_id: str) -> Passage | None:
        return self.store.get(passage_id)

    def search(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        """The run's best `k` web passages for `query` (BM25 over every page the run read)."""
        _, index, passages = self._current()
        mask = None
        if where:
            mask = np.fromiter((matches(fields(p), where) for p in passages), dtype=bool, count=len(passages))
        return [Hit(passages[i], score, "web") for i, score in index.search(query, k, mask)]

    def _current(self) -> tuple[int, BM25Index, list[Passage]]:
        with self._lock:
            generation = self.store.generation
            if self._index is None or self._index[0] != generation:
                mark, passages = self.store.snapshot()
                index = BM25Index.build([f"{p.title}\n{p.text}" for p in passages], backend="numpy")
                self._index = (mark.generation, index, passages)
            return self._index
