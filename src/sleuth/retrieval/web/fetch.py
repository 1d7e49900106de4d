"""Fetching web pages under the rules of docs/security.md: checked addresses, bounded time and size.

Each request (the page, then each redirect) has `timeout_s` from its start, and none runs past the caller's
deadline; redirects are followed by hand, each new address checked (`addresses.py`); bodies are streamed and
cut at `max_bytes` after decompression (so a compressed bomb inflates no further); content types other than
HTML, plain text, Markdown and PDF are skipped before their body is read. Nothing in a page is run: the
extractors read its bytes as data.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Literal

import httpx

from sleuth.config import Settings
from sleuth.retrieval.web.addresses import (
    AddressPolicy,
    CheckedTransport,
    RefusedAddressError,
    Resolver,
    system_resolve,
)

PageKind = Literal["html", "text", "pdf"]
KINDS: dict[str, PageKind] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "text/markdown": "text",
    "application/pdf": "pdf",
}
"""Media type -> how the page is read; any other type is skipped."""

USER_AGENT = "sleuth/0.1 (research assistant; reads pages as text, runs no scripts)"


class FetchError(Exception):
    """Why a page was not read; its message goes into the run's warning."""


@dataclass(frozen=True)
class FetchLimits:
    """The rules every page fetch follows (from `SLEUTH_WEB_*`)."""

    timeout_s: float = 10.0
    max_bytes: int = 3_000_000
    max_redirects: int = 5
    policy: AddressPolicy = field(default_factory=AddressPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchLimits:
        return cls(
            timeout_s=settings.web_timeout_s,
            max_bytes=settings.web_max_bytes,
            max_redirects=settings.web_max_redirects,
            policy=AddressPolicy.of(settings.web_allow_private, settings.web_allow_networks),
        )


@dataclass(frozen=True)
class FetchedPage:
    """A page's body as read (perhaps cut), with where it finally came from."""

    url: str
    """The address asked for."""
    final_url: str
    """The address the body came from, after redirects."""
    kind: PageKind
    body: bytes
    charset: str | None = None
    truncated: bool = False
    """The body was longer than `max_bytes` and was cut there."""


class PageFetcher:
    """Fetches pages with one connection pool; safe to use from several threads.

    Args:
        limits: timeouts, size cap, redirects and the address rules.
        resolve: host -> addresses (tests pass their own to play DNS).
    """

    def __init__(self, limits: FetchLimits, *, resolve: Resolver = system_resolve) -> None:
        self.limits = limits
        self._client = httpx.Client(
            transport=CheckedTransport(limits.policy, resolve),
            follow_redirects=False,  # followed by hand, so each hop is checked and counted
            trust_env=False,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.8",
                "Accept-Encoding": "gzip, deflate",
            },
        )

    def close(self) -> None:
        self._client.close()

    def fetch(self, url: str, *, deadline: float | None = None) -> FetchedPage:
        """The page at `url` (http or https), following at most `max_redirects` redirects.

        Args:
            deadline: a `time.monotonic()` time no request may run past (the search's total deadline).

        Raises:
            FetchError: the page was refused, failed, timed out, or is not HTML, text or PDF.
        """
        current = url
        for _ in range(self.limits.max_redirects + 1):
            _check_scheme(current)
            stop = time.monotonic() + self.limits.timeout_s
            if deadline is not None:
                stop = min(stop, deadline)
            left = stop - time.monotonic()
            if left <= 0:
                raise FetchError("timed out: the search's deadline passed before the page was asked for")
            try:
                with self._client.stream("GET", current, timeout=httpx.Timeout(left)) as response:
                    if response.is_redirect:
                        current = str(response.url.join(response.headers["location"]))
                        continue
                    return _read(url, response, self.limits.max_bytes, stop)
            except RefusedAddressError as exc:
                raise FetchError(str(exc)) from None
            except httpx.InvalidURL as exc:  # a redirect to an address httpx cannot parse
                raise FetchError(f"a bad redirect: {exc}") from None
            except httpx.TimeoutException:
                raise FetchError(
                    f"timed out after {self.limits.timeout_s:g} s or at the search's deadline"
                ) from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{type(exc).__name__}: {exc}") from None
        raise FetchError(f"more than {self.limits.max_redirects} redirects")


def _check_scheme(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(f"not a valid address: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError(f"only http and https pages are read, not {url[:200]!r}")


def _read(url: str, response: httpx.Response, max_bytes: int, stop: float) -> FetchedPage:
    if not response.is_success:
        raise FetchError(f"HTTP {response.status_code}")
    media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    kind = KINDS.get(media)
    if kind is None:
        raise FetchError(f"content type {media or '(none)'} is not HTML, text or PDF: skipped")
    length = response.headers.get("content-length", "")
    if kind == "pdf" and length.isdigit() and int(length) > max_bytes:
        raise FetchError(f"a PDF of {int(length):,} bytes is larger than SLEUTH_WEB_MAX_BYTES ({max_bytes:,})")
    body, truncated = read_capped(response, max_bytes, stop)
    if kind == "pdf" and truncated:
        raise FetchError(f"a PDF larger than SLEUTH_WEB_MAX_BYTES ({max_bytes:,}) cannot be read in part")
    return FetchedPage(url, str(response.url), kind, body, response.charset_encoding, truncated)


def read_capped(response: httpx.Response, max_bytes: int, stop: float) -> tuple[bytes, bool]:
    """A streamed response's body, decompressed, cut at `max_bytes`, read before `stop` (monotonic time).

    Decompression is ours (httpx would inflate a whole network read at once): it never makes more than the
    bytes still wanted, so a small compressed body cannot swell in memory.

    Returns:
        (the body, whether it was cut).

    Raises:
        FetchError: too slow, or an encoding other than gzip and deflate.
    """
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # 32: the gzip or zlib header is detected
    elif encoding in ("", "identity"):
        decoder = None
    else:
        raise FetchError(f"content encoding {encoding[:40]!r} is not supported")
    body = bytearray()
    try:
        for raw in response.iter_raw():  # each network read as it comes (a chunk size would wait to fill it)
            if time.monotonic() > stop:
                raise FetchError("timed out while reading the body")
            room = max_bytes + 1 - len(body)
            body += decoder.decompress(raw, room) if decoder is not None else raw[:room]
            if len(body) > max_bytes:
                return bytes(body[:max_bytes]), True
    except zlib.error as exc:
        raise FetchError(f"a broken {encoding} body: {exc}") from None
    return bytes(body), False
