"""Keeping a collection's BM25 index in step with its passage store: extended with the passages added since
it was built when adding is all that happened, rebuilt otherwise, and written so a crash never leaves it
half-updated.

The store is the record; the index on disk is stamped with the `StoreMark` it reflects. When the store has
moved on (another process added files, or this one crashed between committing passages and writing the
index), the next search reads the stamp: if no passage was changed or removed since, the index is extended
with the rows added after it (the same document numbers, and scores equal to a rebuild's); otherwise, or
when the files are missing, damaged, of other parameters or from before term counts were kept, it is
rebuilt from a snapshot. Each version is written to a fresh folder and made current by one atomic rename
(`BM25Files`), so a crash mid-write leaves the previous complete index, which the next search updates.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

from sleuth.retrieval.base import Passage
from sleuth.retrieval.bm25 import BM25Files, BM25Index, BM25Params, Tokenizer
from sleuth.retrieval.store import PassageStore, StoreMark


@dataclass(frozen=True)
class BM25State:
    """A BM25 index, the passage id of each of its document numbers, and the store state it reflects."""

    index: BM25Index
    ids: list[str]
    mark: StoreMark

    @property
    def generation(self) -> int:
        return self.mark.generation


class BM25Sync:
    """The current BM25 index of one passage store: cached, else read from disk, extended or rebuilt.

    Args:
        backend: bm25s's scoring backend choice (`Settings.bm25_backend`).
    """

    def __init__(self, store: PassageStore, files: BM25Files, tokenizer: Tokenizer, backend: str = "auto") -> None:
        self.store = store
        self.files = files
        self.tokenizer = tokenizer
        self.backend = backend
        self.extended = 0
        """How many times the index was extended rather than rebuilt (for tests and benchmarks)."""
        self.rebuilt = 0
        self._state: BM25State | None = None
        self._lock = threading.Lock()  # one update at a time when threads search together

    def current(self) -> BM25State:
        """The index for the store's current generation."""
        generation = self.store.generation
        state = self._state
        if state is not None and state.generation == generation:
            return state
        with self._lock:
            if self._state is None or self._state.generation != self.store.generation:
                self._state = self._update(self._state)
            return self._state

    def _update(self, cached: BM25State | None) -> BM25State:
        generation = self.store.generation
        # Another process may have brought the files up to date: reading them beats extending the cache.
        on_disk = self._read() if cached is None or self.files.generation() == generation else None
        if on_disk is not None and on_disk.generation == generation and on_disk.index.params == BM25Params():
            return on_disk
        base = cached or on_disk
        grown = self._extended(base) if base is not None else None
        if grown is None:
            mark, passages = self.store.snapshot()
            index = BM25Index.build(_texts(passages), tokenizer=self.tokenizer, backend=self.backend)
            grown = BM25State(index, [p.id for p in passages], mark)
            self.rebuilt += 1
        self.files.write(grown.index, grown.ids, grown.generation, asdict(grown.mark))
        return grown

    def _extended(self, base: BM25State) -> BM25State | None:
        """`base` with the passages added since, or None when it cannot be extended (then: rebuild)."""
        if base.index.counts is None or base.index.params != BM25Params() or len(base.ids) != base.index.num_docs:
            return None
        appended = self.store.appended_since(base.mark)
        if appended is None:
            return None
        mark, passages = appended
        index = base.index.extend(_texts(passages), backend=self.backend) if passages else base.index
        self.extended += 1
        return BM25State(index, base.ids + [p.id for p in passages], mark)

    def _read(self) -> BM25State | None:
        saved = self.files.read(self.tokenizer, self.backend)
        if saved is None:
            return None
        try:
            mark = StoreMark(**saved.mark)
        except TypeError:  # written before marks were kept: usable as is if current, never extended
            mark = StoreMark(saved.generation, last_seq=-1, rewrites=-1, passages=-1)
        if mark.generation != saved.generation:
            return None
        return BM25State(saved.index, saved.ids, mark)


def _texts(passages: list[Passage]) -> list[str]:
    return [f"{p.title}\n{p.text}" for p in passages]
