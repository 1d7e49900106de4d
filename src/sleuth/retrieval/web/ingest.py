"""Web pages into a collection (`sleuth index add https://...`): fetched, extracted and chunked as a web search's
pages are, then indexed under their address like a file under its path."""

from __future__ import annotations

import time

from sleuth.retrieval.index import Collection
from sleuth.retrieval.ingest_report import FileReport
from sleuth.retrieval.web.extract import ExtractError, page_text
from sleuth.retrieval.web.fetch import FetchError, FetchLimits, PageFetcher
from sleuth.retrieval.web.pages import page_passages


def is_web_address(text: str) -> bool:
    """Whether a command-line argument names a web page rather than a file."""
    return text.lower().startswith(("http://", "https://"))


def add_urls(collection: Collection, urls: list[str]) -> list[FileReport]:
    """Index each page at `urls` into `collection`, each within `SLEUTH_WEB_DEADLINE_S`.

    A page is filed under the address given (so adding it again replaces it, and `index delete --source URL`
    removes it); its passages carry `metadata={"url": <the address read, after redirects>, "fetched_at"}`.
    A page that cannot be read is that address's error, the others are still added.
    """
    settings = collection.settings
    fetcher = PageFetcher(FetchLimits.from_settings(settings))
    reports = []
    try:
        for url in urls:
            try:
                page = fetcher.fetch(url, deadline=time.monotonic() + settings.web_deadline_s)
                digest, passages = page_passages(
                    page_text(page),
                    source=url,
                    url=page.final_url,
                    chunk_size=settings.chunk_size,
                    chunk_overlap=settings.chunk_overlap,
                )
            except (FetchError, ExtractError) as exc:
                reports.append(FileReport(url, error=str(exc)))
                continue
            except Exception as exc:  # a parser failing on hostile bytes: this page's error, not the command's
                reports.append(FileReport(url, error=f"cannot read the page: {type(exc).__name__}: {exc}"))
                continue
            report = collection.add_document(url, digest, passages)
            if page.truncated:
                report.warnings.append(
                    f"only the first {settings.web_max_bytes:,} bytes were read (SLEUTH_WEB_MAX_BYTES)"
                )
            reports.append(report)
    finally:
        fetcher.close()
    return reports
