"""The web search interface: a provider turns a query into result pages (address, title, snippet)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class WebSearchError(RuntimeError):
    """The search API could not answer (down, refused, or sent something that is not a result list)."""


class WebSetupError(ValueError):
    """Web sources were asked for but are not configured (no provider, no URL, no key)."""


@dataclass(frozen=True)
class WebResult:
    """One result of a web search: a page to read. Title and snippet are the provider's, untrusted text."""

    url: str
    title: str = ""
    snippet: str = ""


@runtime_checkable
class SearchProvider(Protocol):
    """A web search API."""

    def search(self, query: str, limit: int, *, timeout_s: float) -> list[WebResult]:
        """At most `limit` results for `query`, best first, within `timeout_s` seconds.

        Raises:
            WebSearchError: the API failed; nothing was found.
        """
        ...
