"""A fetched page's main text: trafilatura for HTML (menus, footers and scripts left out), pypdf for PDF pages,
plain text as it is. Parsers read the bytes as data; nothing of the page is run."""

from __future__ import annotations

import contextlib
import html as html_lib
import io
import re
from dataclasses import dataclass, field
from typing import Any

from sleuth.retrieval.web.fetch import FetchedPage

_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ExtractError(Exception):
    """The page holds no readable text."""


@dataclass
class PageText:
    """What a page says: its title and its text, in parts (a PDF's pages) with where each part is."""

    title: str
    parts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(text, metadata) pairs: `{"page": 3}` for a PDF page, `{}` for a web page's one text."""


def page_text(page: FetchedPage, fallback_title: str = "") -> PageText:
    """The text of a fetched page; its title, else `fallback_title` (the search result's), else its address.

    Raises:
        ExtractError: nothing readable (an empty page, a broken PDF).
    """
    if page.kind == "pdf":
        text = _pdf(page.body)
    elif page.kind == "html":
        text = _html(page)
    else:
        text = PageText("", [(_decode(page.body, page.charset), {})])
    parts = [(cleaned, where) for body, where in text.parts if (cleaned := _clean(body))]
    if not parts:
        raise ExtractError("no readable text on the page")
    title = _clean(text.title) or _clean(fallback_title) or page.final_url
    return PageText(" ".join(title.split())[:300], parts)


def _html(page: FetchedPage) -> PageText:
    import trafilatura

    # Decoded here when the server named the charset; otherwise trafilatura detects it from the bytes.
    markup: str | bytes = page.body
    if page.charset:
        with contextlib.suppress(LookupError):  # a charset Python does not know
            markup = page.body.decode(page.charset, "replace")
    head = markup[:65536] if isinstance(markup, str) else markup[:65536].decode("utf-8", "replace")
    found = _TITLE.search(head)
    title = html_lib.unescape(found.group(1)) if found else ""
    text = trafilatura.extract(
        markup, url=page.final_url, include_comments=False, include_tables=True, include_images=False
    )
    if not text:  # trafilatura found no main text (a bare or odd page): every visible line instead
        text = _visible_text(markup)
    first, _, rest = text.strip().partition("\n")
    if rest and " ".join(first.split()) == " ".join(title.split()):
        text = rest  # the heading that repeats the title: the passages carry it as their title
    return PageText(title, [(text, {})])


def _visible_text(markup: str | bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "title"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _pdf(data: bytes) -> PageText:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        title = str((reader.metadata.title if reader.metadata else None) or "")
        pages = [(page.extract_text() or "", {"page": n}) for n, page in enumerate(reader.pages, start=1)]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExtractError(f"cannot read the PDF: {exc}") from None
    return PageText(title, pages)


def _decode(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _clean(text: str) -> str:
    """Text without control characters (NUL included) or invalid Unicode, trimmed."""
    return _CONTROL.sub("", text).encode("utf-8", "replace").decode("utf-8").strip()
