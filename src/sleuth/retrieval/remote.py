"""A Retriever that searches a collection through a running `sleuth serve` (which keeps its models loaded).

A one-shot CLI search in dense or hybrid mode spends most of its time loading the embedding model (13-19 s
on two CPU cores); the server loads it once. `ServerUnavailable` means the server could not answer (not
running, unreachable, failing): a caller may search in-process instead. `RemoteSearchError` means it
answered and refused (a bad token, an unknown collection, a bad filter): searching elsewhere would hide it.
"""

from __future__ import annotations

from typing import Any

import httpx

from sleuth.retrieval.base import Filter, Hit, Passage

CONNECT_TIMEOUT_S = 2.0
"""Short: with no server listening, the in-process search should start at once."""
READ_TIMEOUT_S = 300.0
"""Long: the server's first dense search loads the embedding model (and a reranker, when configured)."""


class RemoteSearchError(RuntimeError):
    """The server answered and refused the search; the message is its reason."""


class ServerUnavailable(RuntimeError):
    """The server could not be reached, or failed (5xx): nothing was searched."""


class RemoteRetriever:
    """Searches `collection` in `mode` on the `sleuth serve` at `url` (`POST /v1/search`).

    Args:
        url: the server's base URL (http://host:port).
        token: an API token of any role (`sleuth token create --role reader`).
        collection: the collection on the server; None: the server's default (`SLEUTH_COLLECTION` there).
        mode: bm25, dense or hybrid.
    """

    def __init__(self, url: str, token: str, *, collection: str | None = None, mode: str = "hybrid") -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.collection = collection
        self.mode = mode

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        body = {"query": query, "k": k, "mode": self.mode, "collection": self.collection, "where": where}
        try:
            reply = httpx.post(
                f"{self.url}/v1/search",
                json=body,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            )
        except httpx.HTTPError as exc:
            raise ServerUnavailable(f"cannot reach {self.url}: {exc or type(exc).__name__}") from exc
        if reply.status_code >= 500:
            raise ServerUnavailable(f"{self.url} answered {reply.status_code}: {_detail(reply)}")
        if reply.status_code != 200:
            raise RemoteSearchError(f"{self.url} refused the search ({reply.status_code}): {_detail(reply)}")
        try:
            return [_hit(item) for item in reply.json()["hits"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ServerUnavailable(f"{self.url} sent a reply that is not a search result") from exc


def hit_json(hit: Hit) -> dict[str, Any]:
    """A hit as the CLI's `--json` and the server's `/v1/search` send it."""
    p = hit.passage
    return {
        "id": p.id,
        "score": hit.score,
        "title": p.title,
        "text": p.text,
        "source": p.source,
        "metadata": p.metadata,
    }


def _hit(item: dict[str, Any]) -> Hit:
    passage = Passage(item["id"], item["text"], item["title"], item["source"], dict(item["metadata"]))
    return Hit(passage, float(item["score"]), item.get("retriever", ""))


def _detail(reply: httpx.Response) -> str:
    try:
        detail = reply.json().get("detail", reply.text)
    except ValueError:
        detail = reply.text
    return str(detail)[:500]
