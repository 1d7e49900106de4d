"""The warm worker's HTTP app: embed texts and search collections with a model and collections kept loaded,
for the token in its record only, following index changes other processes make."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse

from sleuth.config import Settings
from sleuth.retrieval.base import Embedder, Filter, Hit, Vectors, embedder_identity
from sleuth.retrieval.filters import FilterError
from sleuth.retrieval.index import CollectionError, Mode, open_collection
from sleuth.retrieval.worker.protocol import (
    EmbedderInfo,
    EmbedReply,
    EmbedRequest,
    SearchReply,
    SearchRequest,
    WireHit,
    WorkerError,
    WorkerKey,
    WorkerStatus,
    encode_vectors,
)

if TYPE_CHECKING:
    from sleuth.retrieval.index import Collection


class Refused(Exception):
    """A call that cannot run as asked; the client raises the same kind of error again."""

    def __init__(self, error: WorkerError) -> None:
        super().__init__(error.detail)
        self.error = error


@dataclass
class _Open:
    """A collection held open, the store generation its vectors were read at, and the file it was opened on."""

    collection: Collection
    generation: int
    file: tuple[int, int]
    lock: threading.Lock = field(default_factory=threading.Lock)


class WorkerState:
    """The embedder and the collections the worker keeps, and what it has served.

    Collections are opened read-only (searches only) on first use. Before each search the store's
    generation is read (one SQLite read): when another process committed a change since, the Chroma client
    is reopened, because a client kept open does not see another process's writes; BM25 and the exact dense
    vectors already follow the generation. A collection folder deleted and made again is opened anew.
    """

    def __init__(self, settings: Settings, embedder: Embedder, key: WorkerKey, idle_s: float) -> None:
        self.settings = settings
        self.embedder = embedder
        self.key = key
        self.idle_s = idle_s
        self.started_at = time.time()
        self.last_request = time.monotonic()
        self.searches = 0
        self.embeds = 0
        self.runs = 0
        """Research runs CLIs sent here (the route mounted by `sleuth.server.worker_research`)."""
        self.runs_running = 0
        self._open: dict[str, _Open] = {}
        self._lock = threading.Lock()
        self._embed_lock = threading.Lock()  # one forward pass at a time: torch already uses every core

    @property
    def embedder_info(self) -> EmbedderInfo:
        return EmbedderInfo(
            name=embedder_identity(self.embedder).rsplit(":", 1)[0],
            dim=self.embedder.dim,
            pooling=getattr(self.embedder, "pooling", None),
            max_length=getattr(self.embedder, "max_length", None),
        )

    def status(self) -> WorkerStatus:
        return WorkerStatus(
            pid=os.getpid(),
            key=self.key,
            embedder=self.embedder_info,
            started_at=self.started_at,
            idle_s=self.idle_s,
            collections=sorted(self._open),
            searches=self.searches,
            embeds=self.embeds,
            runs=self.runs,
            runs_running=self.runs_running,
        )

    def embed(self, texts: list[str]) -> Vectors:
        with self._embed_lock:
            vectors = self.embedder.embed(texts)
        self.embeds += 1
        return vectors

    def search(self, collection: str, mode: Mode, query: str, k: int, where: Filter | None) -> list[Hit]:
        """The hits of one search, as the collection searched in this process gives them.

        Raises:
            CollectionError: no such collection, or it cannot be searched in `mode`.
            FilterError: `where` is not a valid filter.
        """
        held = self._held(collection)
        with held.lock:
            generation = held.collection.store.generation
            if generation != held.generation:
                held.collection.reopen_vectors()
                held.generation = generation
            try:
                hits = self._search(held.collection, mode, query, k, where)
            except (CollectionError, FilterError):
                raise
            except Exception:  # a Chroma client left stale by a writer still at work: reopen it, once
                held.collection.reopen_vectors()
                hits = self._search(held.collection, mode, query, k, where)
        self.searches += 1
        return hits

    @staticmethod
    def _search(collection: Collection, mode: Mode, query: str, k: int, where: Filter | None) -> list[Hit]:
        return collection.retriever(mode).search(query, k, where=where)  # type: ignore[no-any-return]  # Any: its retrievers differ

    def busy(self) -> bool:
        """Whether a call is under way that the idle exit must wait for (a research run)."""
        return self.runs_running > 0

    def _held(self, name: str) -> _Open:
        path = self.settings.indexes_dir / name / "passages.sqlite"
        with self._lock:
            try:
                stat = path.stat()
            except (OSError, ValueError):
                stat = None
            held = self._open.get(name)
            if held is not None and (stat is None or (stat.st_dev, stat.st_ino) != held.file):
                self._open.pop(name).collection.close()
                held = None
            if held is None:
                if stat is None:
                    raise CollectionError(f"no collection {name!r}")
                collection = open_collection(self.settings, name, embedder=self.embedder, read_only=True)
                held = _Open(collection, collection.store.generation, (stat.st_dev, stat.st_ino))
                self._open[name] = held
            return held

    def close(self) -> None:
        with self._lock:
            while self._open:
                self._open.popitem()[1].collection.close()


def create_worker_app(
    state: WorkerState, token: str, stop: Callable[[], None], routers: Sequence[APIRouter] = ()
) -> FastAPI:
    """The worker's routes over `state`; every call needs `Authorization: Bearer <token>`.

    Args:
        stop: ends the server (`POST /v1/stop`, `sleuth worker stop`).
        routers: more routes, under the same token (the research route of the layers above).
    """
    app = FastAPI(title="sleuth worker", docs_url=None, redoc_url=None, openapi_url=None)

    def authorized(authorization: Annotated[str | None, Header()] = None) -> None:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="this worker's token is required")
        state.last_request = time.monotonic()

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": exc.error.model_dump()})

    guarded: Any = [Depends(authorized)]

    @app.get("/v1/status", dependencies=guarded)
    def status() -> WorkerStatus:
        return state.status()

    @app.post("/v1/embed", dependencies=guarded)
    def embed(body: EmbedRequest) -> EmbedReply:
        return encode_vectors(state.embed(body.texts))

    @app.post("/v1/search", dependencies=guarded)
    def search(body: SearchRequest) -> SearchReply:
        try:
            hits = state.search(body.collection, body.mode, body.query, body.k, body.where)
        except FilterError as exc:
            raise Refused(WorkerError(kind="filter", detail=str(exc))) from exc
        except CollectionError as exc:
            raise Refused(WorkerError(kind="collection", detail=str(exc))) from exc
        return SearchReply(hits=[WireHit.of(hit) for hit in hits])

    @app.post("/v1/stop", dependencies=guarded)
    def stop_route() -> dict[str, bool]:
        stop()
        return {"stopping": True}

    for router in routers:
        app.include_router(router, dependencies=guarded)
    return app
