"""A stand-in for the web on 127.0.0.1: pages that are slow, huge, redirected, or of any type, and the search APIs
that list them (SearXNG's `GET /search?format=json`, Tavily's `POST /search`), for tests and demos of the web
sources without a network."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class WebPage:
    """What `FakeWeb` serves at one path.

    Args:
        body: the body (text is sent as UTF-8).
        content_type: the Content-Type header.
        title: the title the search APIs give its result.
        status: the HTTP status.
        delay_s: seconds before the answer starts (a slow page).
        repeat: the body is sent this many times (a huge page, never held in memory whole).
        drip_s: seconds between two repeats of the body (a page that trickles in).
        location: a redirect (302) to this address or path.
        headers: further headers (a Content-Encoding, say).
    """

    body: bytes | str = b""
    content_type: str = "text/html; charset=utf-8"
    title: str = ""
    status: int = 200
    delay_s: float = 0.0
    repeat: int = 1
    drip_s: float = 0.0
    location: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def data(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body


def html_page(title: str, *paragraphs: str) -> WebPage:
    """An article page: a menu, a title, `paragraphs` as the article, a footer (what extraction keeps)."""
    article = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    body = (
        f"<!doctype html><html><head><title>{title}</title><script>document.title = 'scripted';</script></head>"
        f"<body><nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
        f"<article><h1>{title}</h1>\n{article}</article><footer>Copyright the site</footer></body></html>"
    )
    return WebPage(body, title=title)


def pdf_bytes(title: str, *lines: str) -> bytes:
    """A one-page PDF with `title` in its metadata and `lines` as its text."""
    from fpdf import FPDF

    doc = FPDF()
    doc.set_title(title)
    doc.add_page()
    doc.set_font("helvetica", size=12)
    for line in lines:
        doc.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def redirect(to: str, status: int = 302) -> WebPage:
    """A redirect to `to` (an address, or a path of the same server)."""
    return WebPage(b"", status=status, location=to)


class FakeWeb:
    """Pages and the search APIs that list them, served on 127.0.0.1 (threaded, stdlib only).

    A search lists `results` when given (paths of this server, or addresses as they are), else every page whose
    body shares a word of four letters or more with the query, in path order.

    Args:
        pages: path -> page.
        results: what every search lists, in order.
        api_key: the key the Tavily-shaped API asks for (401 without it).
    """

    def __init__(
        self,
        pages: Mapping[str, WebPage],
        *,
        results: Iterable[str] | None = None,
        api_key: str = "tvly-test-key",
    ) -> None:
        import http.server

        self.pages = dict(pages)
        self.results = None if results is None else list(results)
        self.api_key = api_key
        self.searches: list[dict[str, Any]] = []
        """Each search asked: {"api": "searxng" | "tavily", "query", "body"}."""
        self.fetched: list[str] = []
        """Paths of the pages asked for, in order."""
        self._closing = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/search":
                    query = parse_qs(url.query)
                    if query.get("format") != ["json"]:
                        return self._json(403, {"error": "format not allowed"})
                    q = query.get("q", [""])[0]
                    outer.searches.append({"api": "searxng", "query": q, "body": None})
                    return self._json(200, {"query": q, "results": outer._listed(q, "content")})
                outer.fetched.append(url.path)
                page = outer.pages.get(url.path)
                if page is None:
                    return self._json(404, {"error": "no such page"})
                self._page(page)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if urlsplit(self.path).path != "/search":
                    return self._json(404, {"error": "no such API"})
                outer.searches.append({"api": "tavily", "query": body.get("query", ""), "body": body})
                if body.get("api_key") != outer.api_key:
                    return self._json(401, {"detail": {"error": "Unauthorized: missing or invalid API key."}})
                return self._json(
                    200, {"query": body.get("query"), "results": outer._listed(body["query"], "content")}
                )

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _page(self, page: WebPage) -> None:
                if page.delay_s and outer._closing.wait(page.delay_s):
                    return
                self.send_response(page.status)
                if page.location is not None:
                    self.send_header("Location", page.location)
                self.send_header("Content-Type", page.content_type)
                for name, value in page.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(page.data) * page.repeat))
                self.end_headers()
                try:
                    for _ in range(page.repeat):
                        self.wfile.write(page.data)
                        if page.drip_s and outer._closing.wait(page.drip_s):
                            return
                except OSError:  # the client hung up (a page cut at the size cap): that is the point
                    self.close_connection = True

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up is not a server error

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_port)

    def url(self, path: str) -> str:
        """The address of `path` on this server."""
        return f"{self.base_url}{path}"

    def _listed(self, query: str, snippet_key: str) -> list[dict[str, str]]:
        if self.results is not None:
            chosen = self.results
        else:
            words = {w for w in re.findall(r"\w{4,}", query.lower())}
            chosen = [
                path
                for path, page in sorted(self.pages.items())
                if page.location is None
                and words & set(re.findall(r"\w{4,}", page.data[:100_000].decode("utf-8", "replace").lower()))
            ]
        listed = []
        for target in chosen:
            page = self.pages.get(target)
            address = self.url(target) if target.startswith("/") else target
            title = page.title if page is not None else ""
            listed.append({"url": address, "title": title, snippet_key: f"A result for {query}."})
        return listed

    def __enter__(self) -> FakeWeb:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
