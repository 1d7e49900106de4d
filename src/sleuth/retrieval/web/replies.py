"""What the search providers share: one bounded JSON call, and their replies' result lists read defensively."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from sleuth.retrieval.web.base import WebResult, WebSearchError
from sleuth.retrieval.web.fetch import FetchError, read_capped

MAX_REPLY_BYTES = 5_000_000
"""A search API's reply is a few kilobytes; a larger one is cut (and then is no JSON)."""
MAX_URL_CHARS = 2048


def api_json(method: str, url: str, timeout_s: float, **request: Any) -> Any:
    """The JSON body of one call to a search API, read within `timeout_s` and `MAX_REPLY_BYTES`.

    The API is the user's own choice (often a SearXNG on localhost), so its address is not checked as a
    page's is.

    Raises:
        WebSearchError: no answer, an error status, a slow or oversized body, or no JSON.
    """
    stop = time.monotonic() + timeout_s
    try:
        with httpx.Client() as client, client.stream(method, url, timeout=timeout_s, **request) as response:
            if not response.is_success:
                raise WebSearchError(f"{url} answered {response.status_code}")
            body, cut = read_capped(response, MAX_REPLY_BYTES, stop)
    except httpx.HTTPError as exc:
        raise WebSearchError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from None
    except FetchError as exc:
        raise WebSearchError(f"{url}: {exc}") from None
    if cut:
        raise WebSearchError(f"{url} sent a reply over {MAX_REPLY_BYTES:,} bytes")
    try:
        return json.loads(body)
    except ValueError:
        raise WebSearchError(f"{url} sent a reply that is not JSON") from None


def results_from(reply: Any, snippet_key: str, limit: int, where: str) -> list[WebResult]:
    """The `results` of a provider's reply: http(s) pages only, each address once, at most `limit`.

    Raises:
        WebSearchError: the reply has no result list.
    """
    items = reply.get("results") if isinstance(reply, dict) else None
    if not isinstance(items, list):
        raise WebSearchError(f"{where} sent a reply without a results list")
    results: dict[str, WebResult] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        url = item.get("url")
        if not isinstance(url, str) or len(url) > MAX_URL_CHARS or url in results:
            continue
        if not url.lower().startswith(("http://", "https://")):
            continue
        results[url] = WebResult(url, _text(item.get("title")), _text(item.get(snippet_key)))
        if len(results) == limit:
            break
    return list(results.values())


def _text(value: Any) -> str:
    return value[:2000] if isinstance(value, str) else ""
