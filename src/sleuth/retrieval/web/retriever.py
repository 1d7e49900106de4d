"""The web as a `Retriever`: search the web, read the result pages into the run's pages, rank those for the query.

Each search asks the provider for a few result pages, fetches the ones this run has not tried yet in parallel
until the search's deadline, extracts and chunks them into the run's pages (`pages.RunPages`), and returns the
best passages among all the pages the run has read (BM25), so the agents read, quote and verify web text
exactly as they do a collection's. A page that fails, a provider that is down, a deadline that passes: each is
a warning and never an error, so the run goes on with what was read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from sleuth.config import Settings
from sleuth.retrieval.base import Filter, Hit, Passage
from sleuth.retrieval.web.base import SearchProvider, WebResult, WebSearchError
from sleuth.retrieval.web.extract import page_text
from sleuth.retrieval.web.fetch import FetchLimits, PageFetcher
from sleuth.retrieval.web.pages import RunPages, page_passages

Warn = Callable[..., None]
"""`warn(message, **data)`: how the retriever reports a page or search it had to skip."""


@dataclass(frozen=True)
class WebConfig:
    """How many pages a search reads, how long it may take, and how pages become passages."""

    results: int = 5
    deadline_s: float = 30.0
    concurrency: int = 4
    chunk_size: int = 1200
    chunk_overlap: int = 200
    fetch: FetchLimits = field(default_factory=FetchLimits)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebConfig:
        return cls(
            results=settings.web_results,
            deadline_s=settings.web_deadline_s,
            concurrency=settings.web_concurrency,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            fetch=FetchLimits.from_settings(settings),
        )


@dataclass(frozen=True)
class _Read:
    """One page read in a worker: its passages and digest, and whether its body was cut."""

    digest: str
    passages: list[Passage]
    truncated: bool


class WebRetriever:
    """Searches the web through `provider` and answers from the pages the run has read.

    Args:
        provider: the web search API.
        pages: the run's pages (read and written).
        config: results per search, deadline, concurrency, chunking, fetch limits.
        warn: called with a message (and `url`/`query`) for each page or search skipped.
    """

    def __init__(
        self,
        provider: SearchProvider,
        pages: RunPages,
        config: WebConfig,
        *,
        warn: Warn | None = None,
    ) -> None:
        self.provider = provider
        self.pages = pages
        self.config = config
        self._warn = warn or (lambda message, **data: None)
        self._tried: set[str] = set()
        self._lock = threading.Lock()  # the research graph's sections search at the same time

    def get(self, passage_id: str) -> Passage | None:
        """A passage of a page the run read (the lookup citations of web passages are verified with)."""
        return self.pages.get(passage_id)

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        deadline = time.monotonic() + self.config.deadline_s
        self._read(self._results(query, deadline), deadline)
        return self.pages.search(query, k, where)

    def _results(self, query: str, deadline: float) -> list[WebResult]:
        """The provider's results this run has not tried yet (each page is read once a run)."""
        timeout = min(self.config.fetch.timeout_s, max(0.1, deadline - time.monotonic()))
        try:
            results = self.provider.search(query, self.config.results, timeout_s=timeout)
        except WebSearchError as exc:
            self._warn(f"web search failed: {exc}", query=query)
            return []
        with self._lock:
            fresh = [r for r in results if r.url not in self._tried and not self.pages.has(r.url)]
            self._tried.update(r.url for r in fresh)
        return fresh

    def _read(self, results: list[WebResult], deadline: float) -> None:
        """Fetch and extract pages in parallel until the deadline; keep what was read, warn about the rest."""
        if not results:
            return
        fetcher = PageFetcher(self.config.fetch)
        pool = ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(results)), thread_name_prefix="web")
        futures: dict[Future[_Read], WebResult] = {
            pool.submit(self._page, fetcher, r, deadline): r for r in results
        }
        done, _ = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        # Pages still loading are left behind: closing the client ends their requests (they would end by the
        # deadline anyway), and their results are never looked at.
        pool.shutdown(wait=False, cancel_futures=True)
        fetcher.close()
        for future, result in futures.items():
            if future not in done:
                self._warn(f"skipped {result.url}: not read within SLEUTH_WEB_DEADLINE_S", url=result.url)
                continue
            try:
                read = future.result()
            except Exception as exc:  # a fetch error, or any parser's failure on hostile bytes: skip the page
                self._warn(f"skipped {result.url}: {exc or type(exc).__name__}", url=result.url)
                continue
            self.pages.add(result.url, read.digest, read.passages)
            if read.truncated:
                self._warn(
                    f"read only the first {self.config.fetch.max_bytes:,} bytes of {result.url} "
                    "(SLEUTH_WEB_MAX_BYTES)",
                    url=result.url,
                )

    def _page(self, fetcher: PageFetcher, result: WebResult, deadline: float) -> _Read:
        page = fetcher.fetch(result.url, deadline=deadline)
        text = page_text(page, result.title)
        digest, passages = page_passages(
            text,
            source=result.url,
            url=page.final_url,
            chunk_size=self.config.chunk_size,
            chunk_overlap=self.config.chunk_overlap,
        )
        return _Read(digest, passages, page.truncated)
