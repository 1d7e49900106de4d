"""Web sources built from settings: the search provider, a run's pages, and a run's retriever (the web alone,
or the collection and the web fused by reciprocal-rank fusion).

The parts that fetch and index pages are imported where they are used: every research and ask command asks
`web_mode` before it runs, most of them of a run that never reads the web.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sleuth.config import Settings
from sleuth.names import WEB_MODES, WebMode
from sleuth.retrieval.base import Lookup, Passage, Retriever
from sleuth.retrieval.web.base import SearchProvider, WebSetupError

if TYPE_CHECKING:
    from sleuth.retrieval.web.pages import RunPages
    from sleuth.retrieval.web.retriever import Warn

NO_PROVIDER = (
    "web sources need a search provider: set SLEUTH_WEB_SEARCH=searxng (with SLEUTH_SEARXNG_URL) or "
    "SLEUTH_WEB_SEARCH=tavily (with SLEUTH_TAVILY_API_KEY)"
)


def web_mode(settings: Settings, asked: str | None = None) -> WebMode:
    """The web mode of a new run: `asked`, else the settings' (`SLEUTH_WEB_MODE` once `SLEUTH_WEB_SEARCH`
    names a provider, else off).

    Raises:
        WebSetupError: an unknown mode, or the web asked for with no provider configured.
    """
    if asked is None:
        return "off" if settings.web_search == "off" else settings.web_mode
    if asked not in WEB_MODES:
        raise WebSetupError(f"unknown web mode {asked!r}: use one of {', '.join(WEB_MODES)}")
    if asked != "off":
        search_provider(settings)  # fail before the run, not at its first search
    return asked  # type: ignore[return-value]  # checked against WEB_MODES


def search_provider(settings: Settings) -> SearchProvider:
    """The configured web search API.

    Raises:
        WebSetupError: none is configured, or its URL or key is missing.
    """
    from sleuth.retrieval.web.searxng import SearxngSearch
    from sleuth.retrieval.web.tavily import TavilySearch

    if settings.web_search == "searxng":
        if not settings.searxng_url:
            raise WebSetupError(
                "SLEUTH_WEB_SEARCH=searxng needs SLEUTH_SEARXNG_URL (the instance's http://host:port)"
            )
        return SearxngSearch(settings.searxng_url)
    if settings.web_search == "tavily":
        if not settings.tavily_api_key:
            raise WebSetupError("SLEUTH_WEB_SEARCH=tavily needs SLEUTH_TAVILY_API_KEY")
        return TavilySearch(settings.tavily_url, settings.tavily_api_key)
    raise WebSetupError(NO_PROVIDER)


def pages_path(settings: Settings, run_id: str) -> Path:
    """Where research run `run_id` keeps the pages it read (named by a hash: a run id is not a file name)."""
    return settings.web_pages_dir / f"{hashlib.sha256(run_id.encode()).hexdigest()[:32]}.sqlite"


@contextmanager
def run_pages(settings: Settings, run_id: str | None, mode: WebMode | None) -> Iterator[RunPages | None]:
    """The pages a run reads from the web, open for the block; None when the run does not use the web.

    Args:
        run_id: a research run's id: its pages are kept, so a resumed run finds them. None (a short answer):
            pages in a temporary folder, deleted after the block.
        mode: the run's web mode; None: the mode run `run_id` was started with (off when it read no pages).
    """
    if mode is None:
        mode = _recorded_mode(settings, run_id)
    if mode == "off":
        yield None
        return
    from sleuth.retrieval.web.pages import RunPages

    with ExitStack() as stack:
        if run_id is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="sleuth-web-"))
            path = Path(folder) / "pages.sqlite"
        else:
            path = pages_path(settings, run_id)
        pages = RunPages(path, mode)
        stack.callback(pages.close)
        yield pages


def web_sources(
    settings: Settings, pages: RunPages, local: tuple[Retriever, Lookup | None] | None, warn: Warn
) -> tuple[Retriever, Lookup]:
    """A run's retriever and passage lookup: the web alone, or with `local` (the collection's) fused.

    Args:
        local: the collection's retriever and lookup, in mixed mode; None for the web alone.
        warn: where skipped pages and failed searches are reported (the run's warning events).
    """
    from sleuth.retrieval.hybrid import HybridRetriever
    from sleuth.retrieval.web.retriever import WebConfig, WebRetriever

    web = WebRetriever(search_provider(settings), pages, WebConfig.from_settings(settings), warn=warn)
    if local is None:
        return web, web.get
    retriever, lookup = local

    def either(passage_id: str) -> Passage | None:
        return (lookup(passage_id) if lookup is not None else None) or web.get(passage_id)

    return HybridRetriever([retriever, web]), either


def _recorded_mode(settings: Settings, run_id: str | None) -> WebMode:
    if run_id is None or not pages_path(settings, run_id).exists():
        return "off"
    from sleuth.retrieval.web.pages import RunPages

    pages = RunPages(pages_path(settings, run_id))
    try:
        return "mixed" if pages.mode == "mixed" else "web"
    finally:
        pages.close()
