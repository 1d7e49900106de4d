"""Report text made safe for every format: characters no file may hold dropped, links only to web pages.

Passage titles, quotes and model text are hostile data. A control character is invalid in a Word file's XML,
a lone surrogate cannot be encoded as UTF-8 at all, and a bidi override would make a quote or a citation
number read in another order than it is stored; none of them is text a reader needs.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sleuth.agents.records import Citation
from sleuth.agents.research.report import Report, source_line

_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
"""C0 and C1 controls (tab and line breaks are whitespace), bidi embeddings, overrides and isolates, and
the two noncharacters XML refuses."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def safe_line(text: str) -> str:
    """`text` on one line, whitespace runs collapsed, unsafe characters dropped (a lone surrogate: U+FFFD)."""
    return " ".join(_SURROGATE.sub("\ufffd", _UNSAFE.sub("", text)).split())


def clean_report(report: Report) -> Report:
    """A copy of `report` with every text made a safe line (`safe_line`); numbers and structure unchanged."""
    return Report.model_validate(_clean(report.model_dump()))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return safe_line(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def web_url(url: str | None) -> str | None:
    """`url` when it is an absolute http(s) address that is safe to link, else None (`javascript:`,
    `data:`, relative or malformed addresses are shown as text, never linked)."""
    if not url or url != safe_line(url) or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def source_parts(c: Citation) -> list[tuple[str, str | None]]:
    """`source_line(c)` as (text, link) pieces: the url piece links to it when it is a web address.

    Joined, the pieces' texts are exactly `source_line(c)`, so every format names a source the same way.
    """
    line = source_line(c)
    url = web_url(c.url)
    if url is None:
        return [(line, None)]
    before = ", ".join(x for x in (c.passage_id, f"p. {c.page}" if c.page else "") if x)
    head = f"{' '.join((c.title or c.passage_id).split())} ({before}{', ' if before else ''}"
    tail = f"): “{' '.join(c.quote.split())}”"
    # source_line is the reference: should its layout ever change, the line stays whole (and unlinked).
    return [(head, None), (url, url), (tail, None)] if head + url + tail == line else [(line, None)]
