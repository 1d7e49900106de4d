"""SearXNG: a self-hosted metasearch engine, asked through its JSON API (`GET /search?q=...&format=json`)."""

from __future__ import annotations

from typing import Any

from sleuth.retrieval.web.base import WebResult, WebSearchError
from sleuth.retrieval.web.replies import api_json, results_from


class SearxngSearch:
    """A `SearchProvider` over the SearXNG instance at `url`.

    The instance must serve JSON: `search.formats` in its settings.yml lists `json` (it answers 403 otherwise).
    """

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def search(self, query: str, limit: int, *, timeout_s: float) -> list[WebResult]:
        params = {"q": query, "format": "json", "pageno": "1"}
        try:
            reply: Any = api_json("GET", f"{self.url}/search", timeout_s, params=params)
        except WebSearchError as exc:
            if "403" in str(exc):
                raise WebSearchError(f"{exc} (is `json` in the instance's search.formats?)") from None
            raise
        return results_from(reply, "content", limit, self.url)
