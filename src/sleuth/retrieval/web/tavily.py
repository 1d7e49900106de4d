"""Tavily, or any API that speaks its search call: `POST /search` with the key, answering
`{"results": [{"url", "title", "content"}]}`."""

from __future__ import annotations

from typing import Any

from sleuth.retrieval.web.base import WebResult
from sleuth.retrieval.web.replies import api_json, results_from


class TavilySearch:
    """A `SearchProvider` over a Tavily-compatible API at `url`.

    The key goes in the body (`api_key`, as the API first took it) and in an `Authorization: Bearer` header
    (as it takes it now), so both kinds of server accept it.
    """

    def __init__(self, url: str, api_key: str) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key

    def search(self, query: str, limit: int, *, timeout_s: float) -> list[WebResult]:
        body = {"api_key": self.api_key, "query": query, "max_results": limit, "search_depth": "basic"}
        reply: Any = api_json(
            "POST",
            f"{self.url}/search",
            timeout_s,
            json=body,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        return results_from(reply, "content", limit, self.url)
