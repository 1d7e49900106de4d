"""Collections: named, persistent passage indexes (SQLite store, BM25, Chroma vectors) and their retrievers.

The public entry point of retrieval:

    collection = open_collection(settings, "papers")
    report = collection.add([Path("docs/")])
    hits = collection.retriever("hybrid").search("what is RRF?", k=8)
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sleuth.config import Settings
from sleuth.retrieval.base import Embedder, Filter, Hit, Passage, Retriever, embedder_identity
from sleuth.retrieval.bm25 import BM25Files, Tokenizer
from sleuth.retrieval.bm25_sync import BM25Sync
from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.filters import fields, matches
from sleuth.retrieval.ingest import collect_files, display_path, iter_batches, load_file
from sleuth.retrieval.ingest_report import FileReport, IngestReport
from sleuth.retrieval.store import PassageStore, SourceChange

if TYPE_CHECKING:
    import numpy as np

    from sleuth.retrieval.shipped import ShippedVectors

Mode = Literal["bm25", "dense", "hybrid"]
MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid")
Progress = Callable[[int, int], None]

_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_EMBED_BATCH = 256  # passages per embedding call: progress granularity, and what is held in memory


class CollectionError(RuntimeError):
    """A collection cannot be opened or used as asked (bad name, embedder mismatch, ...)."""


def open_collection(
    settings: Settings,
    name: str | None = None,
    *,
    embedder: Embedder | None = None,
    read_only: bool = False,
) -> Collection:
    """Open (creating if needed) the collection `name` (default `settings.collection`).

    Args:
        embedder: the embedder for dense vectors; default: built from settings on first dense use, so
            BM25-only work never loads a model.
        read_only: searches only, beside writers in other processes (the warm worker): never clean up after
            an add that looks crashed, since it may be another process's add still running.
    """
    return Collection(settings, name or settings.collection, embedder=embedder, read_only=read_only)


class Collection:
    """A named set of passages with a BM25 index and dense vectors, persisted under `SLEUTH_HOME/indexes`.

    The SQLite passage store is the record of what is committed; BM25 and the vectors follow it (see
    `store.py`), so a crash mid-ingest never leaves half a file searchable.
    """

    def __init__(
        self, settings: Settings, name: str, *, embedder: Embedder | None = None, read_only: bool = False
    ) -> None:
        if not _NAME.match(name):
            raise CollectionError(
                f"invalid collection name {name!r}: use letters, digits, '.', '_' or '-' "
                "(at most 63, starting and ending with a letter or digit)"
            )
        self.settings = settings
        self.name = name
        self.path = settings.indexes_dir / name
        self.store = PassageStore(self.path / "passages.sqlite")
        self.bm25 = BM25Sync(self.store, BM25Files(self.path / "bm25"), Tokenizer(), settings.bm25_backend)
        self._lazy_lock = threading.RLock()  # one embedder / Chroma client per collection, not one per thread
        self._embedder = embedder
        self.read_only = read_only
        self._vectors: Any = None
        self._reranker: Any = None
        self._filter_cache: tuple[int, list[dict[str, Any]]] | None = None

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.reopen_vectors()
        self.store.close()

    def reopen_vectors(self) -> None:
        """Close the Chroma client; the next dense search opens a new one. An embedded client kept open does
        not follow what another process writes (after another process deleted vectors, its reads failed with
        "Error finding id"), so a long-lived reader calls this when the store's generation moves."""
        with self._lazy_lock:
            vectors, self._vectors = self._vectors, None
        if vectors is not None:
            vectors.close()

    @property
    def count(self) -> int:
        return self.store.count()

    # --- adding and removing ------------------------------------------------------------------------
    def add(
        self,
        paths: list[Path],
        progress: Progress | None = None,
        *,
        shipped: Callable[[], ShippedVectors | None] | None = None,
    ) -> IngestReport:
        """Index files and directories. Re-adding an unchanged file does nothing; a changed file replaces
        its earlier version. Bad files are reported per file and never stop the others.

        Args:
            progress: called with (passages embedded so far, passages to embed).
            shipped: reads vectors made ahead of time (the demo corpus's), used for the passages they match;
                called only when something is to be embedded (an unchanged corpus reads no vectors).
        """
        files, ignored = collect_files([Path(p) for p in paths])
        config = ChunkingConfig(
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            max_file_bytes=self.settings.max_file_bytes,
            max_record_chars=self.settings.max_record_chars,
            max_sheet_rows=self.settings.max_sheet_rows,
            max_unpacked_bytes=self.settings.max_unpacked_bytes,
        )
        report = IngestReport(ignored=[display_path(p) for p in ignored])
        work = []
        read: set[str] = set()
        for path in files:
            loaded = load_file(path, config)
            if loaded.error is None and loaded.source in read:
                report.files.append(FileReport(display_path(path.absolute()), duplicate_of=loaded.source))
                continue
            read.add(loaded.source)
            file_report = FileReport(
                loaded.source, error=loaded.error, warnings=loaded.warnings, chunked=loaded.chunked
            )
            report.files.append(file_report)
            if loaded.error:
                continue
            unique = list({p.id: p for p in reversed(loaded.passages)}.values())[::-1]  # first one wins
            file_report.skipped = len(loaded.passages) - len(unique)
            if self.store.source_digest(loaded.source) == loaded.digest:
                file_report.skipped += len(unique)
                continue
            work.append((file_report, loaded.digest, unique, self._needs_vectors(loaded.source, unique)))
        self._commit(work, progress, shipped)
        return report

    def add_document(self, source: str, digest: str, passages: list[Passage]) -> FileReport:
        """Index passages read from elsewhere than a file (a web page: `source` is its address) as `add`
        indexes a file's: the same `digest` as last time changes nothing, another replaces the earlier version."""
        report = FileReport(source)
        unique = list({p.id: p for p in reversed(passages)}.values())[::-1]  # first one wins
        report.skipped = len(passages) - len(unique)
        if self.store.source_digest(source) == digest:
            report.skipped += len(unique)
        else:
            self._commit([(report, digest, unique, self._needs_vectors(source, unique))], None)
        return report

    def delete_source(self, source: str | Path) -> int | None:
        """Remove `source` (a path as given to `add`, or as `stats()` lists it) from the collection.

        Its passages go with it, except those another source holds too: they stay, under that source.

        Returns:
            The number of passages removed (0 when other sources hold them all), None when the collection
            has no such source.
        """
        candidates = [str(source)]
        if Path(source).exists() or not Path(source).is_absolute():
            candidates.insert(0, str(Path(source).resolve()))
        for candidate in candidates:
            if self.store.source_digest(candidate) is not None:
                self.store.set_state("vectors_pending", "1")  # a crash before the vector delete: orphans
                change = self.store.delete_source(candidate)
                if change is not None:
                    self._follow(change)
                    return len(change.removed)
        return None

    # --- reading ------------------------------------------------------------------------------------
    def get(self, passage_id: str) -> Passage | None:
        return self.store.get(passage_id)

    def stats(self) -> dict[str, Any]:
        sources = self.store.sources()
        return {
            "collection": self.name,
            "passages": self.count,
            "sources": len(sources),
            "files": sources,
            "generation": self.store.generation,
            "embedder": self.store.state("embedder"),
            "vector_store": self.settings.chroma_url or str(self.path / "chroma"),
            "path": str(self.path),
        }

    def retriever(self, mode: Mode = "hybrid") -> Retriever:
        """A retriever over this collection; reranked when `settings.reranker_path` is set."""
        if mode == "bm25":
            base: Retriever = _BM25Retriever(self)
        elif mode == "dense":
            base = _DenseRetriever(self)
        elif mode == "hybrid":
            from sleuth.retrieval.hybrid import HybridRetriever

            base = HybridRetriever([_BM25Retriever(self), _DenseRetriever(self)])
        else:
            raise CollectionError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
        if self.settings.reranker_path is None:
            return base
        from sleuth.retrieval.rerank import FlagCrossEncoder, RerankingRetriever

        if self._reranker is None:
            self._reranker = FlagCrossEncoder(self.settings.reranker_path)
        return RerankingRetriever(base, self._reranker)

    def bm25_search(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        state = self.bm25.current()
        index, ids = state.index, state.ids
        mask = None
        if where:
            import numpy as np  # the first search's, not the collection's opening: a run's plan comes first

            values = self._filter_values(state.generation, ids)
            mask = np.fromiter((matches(v, where) for v in values), dtype=bool, count=len(ids))
        pairs = index.search(query, k, mask)
        found = self.store.get_many([ids[i] for i, _ in pairs])
        return [Hit(found[ids[i]], score, "bm25") for i, score in pairs if ids[i] in found]

    def dense_search(self, query: str, k: int, where: Filter | None = None) -> list[Hit]:
        if self.store.state("embedder") is None:  # nothing embedded yet: no need to load a model
            return []
        vector = self.embedder.embed([query])[0]
        # Ask for a few extra: vectors of a crashed, uncommitted add are ignored until the next add.
        pairs = self._vector_store().query(vector, k + 8, where, version=self.store.generation)
        found = self.store.get_many([pid for pid, _ in pairs])
        return [Hit(found[pid], score, "dense") for pid, score in pairs if pid in found][:k]

    # --- internals ----------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._lazy_lock:
            if self._embedder is None:
                from sleuth.retrieval.embedders import load_embedder

                self._embedder = load_embedder(self.settings)
        identity = embedder_identity(self._embedder)
        recorded = self.store.state("embedder")
        if recorded is None:
            self.store.set_state("embedder", identity)
        elif recorded != identity:
            raise CollectionError(
                f"collection {self.name!r} holds vectors from embedder {recorded}, not {identity}: "
                "use the same SLEUTH_EMBEDDER_PATH, or index into a new collection"
            )
        return self._embedder

    def _filter_values(self, generation: int, ids: list[str]) -> list[dict[str, Any]]:
        """What filters see for each BM25 document, in BM25 order; read once per generation."""
        with self._lazy_lock:
            if self._filter_cache is None or self._filter_cache[0] != generation:
                by_id = {p.id: fields(p) for p in self.store.iter_passages()}
                self._filter_cache = (generation, [by_id.get(pid, {}) for pid in ids])
            return self._filter_cache[1]

    def _needs_vectors(self, source: str, passages: list[Passage]) -> list[Passage]:
        """Passages that are new to the collection or whose content changed within this source."""
        known = self.store.get_many([p.id for p in passages])
        return [
            p
            for p in passages
            if p.id not in known
            or (
                known[p.id].source == source
                and (known[p.id].text, known[p.id].title, known[p.id].metadata)
                != (p.text, p.title, json.loads(json.dumps(p.metadata, default=str)))
            )
        ]

    def _commit(
        self,
        work: list[tuple[FileReport, str, list[Passage], list[Passage]]],
        progress: Progress | None,
        read_shipped: Callable[[], ShippedVectors | None] | None = None,
    ) -> None:
        """Embed and commit each (report, digest, passages, passages to embed), one source at a time."""
        total = sum(len(embed) for *_, embed in work)
        done = 0
        if progress:
            progress(0, total)
        shipped = read_shipped() if read_shipped is not None and total else None
        if shipped is not None and not shipped.fits(self.embedder):
            shipped = None
        for file_report, digest, passages, embed in work:
            if embed:
                vectors = self._vector_store()
                self.store.set_state("vectors_pending", "1")  # a crash now leaves orphans to clean up
                for batch in iter_batches(embed, _EMBED_BATCH):
                    if shipped:
                        vectors.upsert(batch, shipped.vectors_for(batch, self._embed_passages))
                    else:
                        vectors.upsert(batch, self._embed_passages(batch))
                    done += len(batch)
                    if progress:
                        progress(done, total)
            change = self.store.replace_source(file_report.source, digest, passages)
            self._follow(change)
            file_report.added, file_report.updated = len(change.added), len(change.updated)
            file_report.removed = len(change.removed)
            file_report.skipped += change.unchanged
        if work:
            self.bm25.current()  # extend (or build) now so the first search is fast

    def _follow(self, change: SourceChange) -> None:
        """Bring the vectors in line with a committed change: drop removed passages, re-tag moved ones."""
        if self._has_vectors():
            if change.removed:
                self._vector_store().delete(change.removed)
            if change.moved:
                moved = self.store.get_many(change.moved)
                self._vector_store().set_metadata([moved[pid] for pid in change.moved if pid in moved])
        self.store.set_state("vectors_pending", "0")

    def _embed_passages(self, passages: list[Passage]) -> np.ndarray:
        from sleuth.retrieval.shipped import embedding_text

        return self.embedder.embed([embedding_text(p) for p in passages])

    def _has_vectors(self) -> bool:
        return self._vectors is not None or self.store.state("embedder") is not None

    def _vector_store(self) -> Any:
        with self._lazy_lock:
            if self._vectors is None:
                from sleuth.retrieval.dense import ChromaVectors, chroma_client

                client = chroma_client(self.settings.chroma_url, self.path / "chroma")
                self._vectors = ChromaVectors(
                    client, f"sleuth-{self.name}", exact_max=self.settings.dense_exact_max
                )
                if not self.read_only and self.store.state("vectors_pending") == "1":  # a crashed add's orphans
                    orphans = sorted(self._vectors.ids() - self.store.all_ids())
                    self._vectors.delete(orphans)
                    self.store.set_state("vectors_pending", "0")
            return self._vectors


class _BM25Retriever:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        return self.collection.bm25_search(query, k, where)


class _DenseRetriever:
    def __init__(self, collection: Collection) -> None:
        self.collection = collection

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        return self.collection.dense_search(query, k, where)
