"""Reaching the warm worker: find the live one of this home, and an Embedder and a Retriever that call it,
each falling back to in-process work when it cannot answer.

A worker is used only when it answers with its record's token and a `WorkerKey` equal to this process's
(same home, same embedding model and batch size, same reranker, vector store and search settings), so its
hits and vectors are the ones this process would compute. When it cannot answer (stopped, killed, its token
replaced, failing) the same search or embedding runs in-process instead. When it answers and refuses (an
unknown collection, a bad filter) the same error is raised as in-process.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from pydantic import ValidationError

from sleuth.config import Settings
from sleuth.retrieval.base import Embedder, Filter, Hit, Vectors
from sleuth.retrieval.worker.protocol import (
    EmbedderInfo,
    EmbedReply,
    SearchReply,
    WorkerError,
    WorkerKey,
    WorkerRecord,
    WorkerStatus,
    decode_vectors,
    read_record,
)

if TYPE_CHECKING:
    from sleuth.retrieval.index import Collection, Mode

_LOOPBACK: dict[str, Any] = {
    "trust_env": False,  # loopback: never through a proxy from the environment
    # Plain HTTP only: a context with no CA certificates (loading the system's takes 50-100 ms of a start-up
    # that should take well under a second) would refuse any certificate it were shown.
    "verify": ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
}
CONNECT_TIMEOUT_S = 1.0
"""Loopback: a worker that does not accept within a second is not one to wait for."""
READ_TIMEOUT_S = 600.0
"""Long: a first search of a large collection builds its BM25 index and reads its vectors."""


class WorkerUnavailable(RuntimeError):
    """The worker could not answer (not running, killed, another token, failing): nothing was done there."""


class SearchService(Protocol):
    """What a `WorkerLink` searches and embeds through: a `WorkerClient`, or, in the worker itself, its
    state (`app.WorkerState`)."""

    @property
    def embedder_info(self) -> EmbedderInfo: ...

    def embed(self, texts: list[str]) -> Vectors: ...

    def search(self, collection: str, mode: Mode, query: str, k: int, where: Filter | None) -> list[Hit]: ...


@dataclass(frozen=True)
class Probe:
    """What is known of this home's worker: its record, its status when it answered, and why it cannot be
    used (None when it can; then `client` is open on it, the caller's to close)."""

    record: WorkerRecord | None
    status: WorkerStatus | None
    problem: str | None
    client: WorkerClient | None = None


class WorkerClient:
    """Calls to one running worker (thread-safe: one pooled HTTP client)."""

    def __init__(self, record: WorkerRecord, status: WorkerStatus | None = None) -> None:
        self.record = record
        self.status = status
        """What the worker said of itself when it was found (None: not asked yet)."""
        self._http = httpx.Client(
            base_url=record.url,
            headers={"Authorization": f"Bearer {record.token}"},
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            **_LOOPBACK,
        )

    @property
    def embedder_info(self) -> EmbedderInfo:
        if self.status is None:
            self.status = self.fetch_status()
        return self.status.embedder

    def fetch_status(self) -> WorkerStatus:
        return self._call("GET", "/v1/status", None, WorkerStatus)

    def embed(self, texts: list[str]) -> Vectors:
        return decode_vectors(self._call("POST", "/v1/embed", {"texts": texts}, EmbedReply))

    def search(self, collection: str, mode: str, query: str, k: int, where: Filter | None) -> list[Hit]:
        body = {"collection": collection, "mode": mode, "query": query, "k": k, "where": where}
        return [hit.hit() for hit in self._call("POST", "/v1/search", body, SearchReply).hits]

    def stop(self) -> None:
        self._call("POST", "/v1/stop", {}, None)

    async def stream(self, path: str, body: Any) -> AsyncIterator[dict[str, Any]]:
        """POST `body` to `path` and yield the reply's JSON lines as they come; leaving early (or being
        cancelled, Ctrl-C) closes the connection, which the worker takes as the caller gone. No read
        timeout: a line may take as long as the work behind it.

        Raises:
            WorkerUnavailable: the worker did not take the call (not answering, another status; its
                detail is in the message), or the connection broke after it did.
        """
        async with httpx.AsyncClient(
            base_url=self.record.url,
            headers={"Authorization": f"Bearer {self.record.token}"},
            timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT_S),
            **_LOOPBACK,
        ) as http:
            try:
                async with http.stream("POST", path, json=body) as answer:
                    if answer.status_code != 200:
                        detail = (await answer.aread()).decode("utf-8", "replace")[:300]
                        raise WorkerUnavailable(f"the worker answered {answer.status_code}: {detail}")
                    async for line in answer.aiter_lines():
                        if line.strip():
                            yield json.loads(line)
            except (httpx.HTTPError, ValueError) as exc:
                raise WorkerUnavailable(f"the worker at {self.record.url} did not answer: {exc!r}") from exc

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Any, reply: type[Any] | None) -> Any:
        try:
            answer = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise WorkerUnavailable(f"the worker at {self.record.url} did not answer: {exc!r}") from exc
        if answer.status_code == 422:
            _raise_refusal(answer)
        if answer.status_code != 200:
            raise WorkerUnavailable(f"the worker at {self.record.url} answered {answer.status_code}")
        if reply is None:
            return None
        try:
            return reply.model_validate_json(answer.content)
        except ValidationError as exc:
            raise WorkerUnavailable(f"the worker at {self.record.url} sent an unreadable reply") from exc


def _raise_refusal(answer: httpx.Response) -> None:
    """Raise the error the worker refused a call with, as in-process code would have raised it."""
    from sleuth.retrieval.filters import FilterError
    from sleuth.retrieval.index import CollectionError

    try:
        error = WorkerError.model_validate(answer.json()["detail"])
    except (ValueError, KeyError, TypeError, ValidationError):
        raise WorkerUnavailable(f"the worker refused a call it should take: {answer.text[:300]}") from None
    if error.kind == "filter":
        raise FilterError(error.detail)
    if error.kind == "collection":
        raise CollectionError(error.detail)
    raise ValueError(error.detail)


def probe_worker(settings: Settings) -> Probe:
    """Look for this home's worker and ask it who it is (one loopback request when a record exists)."""
    from sleuth.retrieval.embedders.flag import EmbedderError

    record = read_record(settings.worker_file)
    if record is None:
        return Probe(None, None, "no worker is recorded for this home")
    try:
        expected = WorkerKey.of(settings)
    except EmbedderError as exc:
        return Probe(record, None, str(exc))
    client = WorkerClient(record)
    try:
        status = client.status = client.fetch_status()
    except WorkerUnavailable as exc:
        client.close()
        return Probe(record, None, str(exc))
    problem = None
    if status.pid != record.pid or status.key != record.key:
        problem = "the worker answering is not the one recorded"
    elif status.key != expected:
        differs = sorted(k for k, v in status.key.model_dump().items() if expected.model_dump()[k] != v)
        problem = f"the worker serves other settings ({', '.join(differs)})"
    if problem is not None:
        client.close()
        return Probe(record, status, problem)
    return Probe(record, status, None, client)


def connect_worker(settings: Settings) -> WorkerClient | None:
    """A client of this home's worker when one answers that serves these settings; None otherwise."""
    return probe_worker(settings).client


class WorkerEmbedder:
    """An `Embedder` that embeds on the worker; with the worker gone, the in-process embedder from `fallback`
    (built once, on the first failure). Its name, dimension, pooling and token limit are the worker's."""

    def __init__(self, client: SearchService, fallback: Callable[[], Embedder]) -> None:
        info = client.embedder_info
        self.name = info.name
        self.dim = info.dim
        self.pooling = info.pooling
        self.max_length = info.max_length
        self._client: SearchService | None = client
        self._fallback = fallback
        self._local: Embedder | None = None

    def embed(self, texts: list[str]) -> Vectors:
        if self._client is not None:
            try:
                return self._client.embed(texts)
            except WorkerUnavailable:
                self._client = None
        if self._local is None:
            self._local = self._fallback()
        return self._local.embed(texts)


class WorkerRetriever:
    """A `Retriever` of one collection in one mode that searches on the worker when `link` has one (starting
    it when the search needs the model and settings say `auto`), else in-process, as the collection would."""

    def __init__(self, link: WorkerLink, collection: Collection, mode: Mode) -> None:
        self.link = link
        self.collection = collection
        self.mode = mode
        self._local: Any = None

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        needs_model = self.mode != "bm25" and self.collection.store.state("embedder") is not None
        client = self.link.client(needs_model=needs_model)
        if client is not None:
            try:
                return client.search(self.collection.name, self.mode, query, k, where)
            except WorkerUnavailable:
                self.link.lost(client)
        if self._local is None:
            self._local = self.collection.retriever(self.mode)
        return self._local.search(query, k, where=where)  # type: ignore[no-any-return]


class WorkerLink:
    """How one process (a CLI command) reaches its home's worker, by `settings.worker`: decided on first need
    and kept. A worker that stops answering is dropped for the rest of the process.

    Args:
        start: starts a worker and returns a client of it (default: `process.start_worker`); tests pass
            their own.
        service: what to search and embed through instead of looking for a worker (the worker's own state,
            for a research run it runs).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        start: Callable[[Settings], WorkerClient] | None = None,
        service: SearchService | None = None,
    ) -> None:
        self.settings = settings
        self._start = start
        self._service = service
        self._client: WorkerClient | None = None
        self._looked = False
        self._tried_start = False
        self._lock = threading.Lock()  # agents search from several threads: decide (and start) once
        self._embedder: Embedder | None = None
        self.note: str | None = None
        """Why a worker was wanted and not used (a start that failed), for the command to show."""

    def client(self, *, needs_model: bool) -> SearchService | None:
        """The worker to use, or None: work in-process. With `needs_model` under `auto`, one is started (and
        waited for) when none answers: the load it does once is the one this command would do anyway."""
        if self._service is not None:
            return self._service
        if self.settings.worker == "off":
            return None
        with self._lock:
            return self._decide(needs_model)

    def _decide(self, needs_model: bool) -> WorkerClient | None:
        from sleuth.retrieval.base import embedder_override

        if self._client is None and not self._looked:
            self._looked = True
            self._client = connect_worker(self.settings)
        if self._client is not None or not needs_model or self._tried_start:
            return self._client
        # A stand-in embedder (a test's) lives in this process only: a new worker could not serve it.
        if self.settings.worker != "auto" or embedder_override.get() is not None:
            return None
        self._tried_start = True
        probe = probe_worker(self.settings)
        if probe.client is not None or probe.status is not None:
            return probe.client  # one answers now; when for other settings, it is left be (in-process here)
        try:
            self._client = (self._start or _default_start)(self.settings)
        except (WorkerUnavailable, OSError) as exc:
            self.note = f"the warm worker did not start ({exc}); working in-process"
        return self._client

    def lost(self, client: SearchService) -> None:
        """`client` stopped answering: work in-process from now on."""
        with self._lock:
            if self._client is client:
                self._client = None
        if isinstance(client, WorkerClient):
            client.close()

    def retriever(self, collection: Collection, mode: Mode) -> Any:
        """`collection`'s retriever in `mode`, searched on the worker when there is one to use."""
        if self.settings.worker == "off" and self._service is None:
            return collection.retriever(mode)
        return WorkerRetriever(self, collection, mode)

    def embedder(self) -> Embedder:
        """The worker's embedder when there is one to use (started under `auto`), else the configured one
        loaded in-process; one per link, so the collections and patches of a command share it. Call it only
        when something is to be embedded: this is the model's load."""
        from sleuth.retrieval.embedders import load_embedder

        client = self.client(needs_model=True)
        with self._lock:
            if self._embedder is None:
                self._embedder = (
                    load_embedder(self.settings)
                    if client is None
                    else WorkerEmbedder(client, lambda: load_embedder(self.settings))
                )
            return self._embedder


def _default_start(settings: Settings) -> WorkerClient:
    from sleuth.retrieval.worker.process import start_worker

    return start_worker(settings)
