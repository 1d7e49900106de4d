"""The search route: BM25, dense or hybrid search of a collection, on collections (and embedding models)
the server keeps open, so repeated searches do not reload a model the way one-shot CLI calls do."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException

from sleuth.server.guards import Reader, State
from sleuth.server.schemas import SearchRequest
from sleuth.tracing import record_hits, search_span

if TYPE_CHECKING:
    from sleuth.config import Settings
    from sleuth.retrieval.base import Embedder
    from sleuth.retrieval.index import Collection

router = APIRouter(tags=["search"])


class OpenCollections:
    """The collections searched so far, opened once each and kept until `close()`.

    Args:
        embedder: the embedder of every collection (tests pass a fake); default: each collection loads the
            configured model on its first dense search, and keeps it.
    """

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self._open: dict[str, Collection] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Collection:
        """The collection `name`, indexing the bundled demo corpus on first use of `demo`.

        Raises:
            LookupError: no such collection, or it holds no passages.
        """
        from sleuth.retrieval.demo import ensure_demo_collection
        from sleuth.retrieval.index import open_collection

        with self._lock:
            if name not in self._open:
                if name == "demo":
                    self._open[name] = ensure_demo_collection(self.settings, embedder=self.embedder)
                elif not (self.settings.indexes_dir / name).is_dir():
                    raise LookupError(f"no collection {name!r} on this server")
                else:
                    self._open[name] = open_collection(self.settings, name, embedder=self.embedder)
            collection = self._open[name]
        if collection.count == 0:
            raise LookupError(f"collection {name!r} is empty on this server: add files with `sleuth index add`")
        return collection

    def close(self) -> None:
        with self._lock:
            for collection in self._open.values():
                collection.close()
            self._open.clear()


@router.post("/v1/search")
def search(body: SearchRequest, who: Reader, state: State) -> dict[str, Any]:
    """The best `k` passages for `query`: `{"hits": [{id, score, title, text, source, metadata, retriever}]}`.

    A read: not counted against the write rate limit. The first dense or hybrid search of a collection
    loads the embedding model; later ones reuse it.
    """
    from sleuth.retrieval.embedders import EmbedderError
    from sleuth.retrieval.filters import FilterError
    from sleuth.retrieval.index import CollectionError
    from sleuth.retrieval.remote import hit_json

    name = body.collection or state.settings.collection
    try:
        with search_span(body.query, body.k) as span:
            hits = state.collections.get(name).retriever(body.mode).search(body.query, body.k, where=body.where)
            record_hits(span, len(hits))
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
    except FilterError as exc:
        raise HTTPException(422, str(exc)) from exc
    except CollectionError as exc:
        raise HTTPException(409, str(exc)) from exc
    except EmbedderError as exc:
        raise HTTPException(503, str(exc)) from exc
    return {"hits": [{**hit_json(hit), "retriever": hit.retriever} for hit in hits]}
