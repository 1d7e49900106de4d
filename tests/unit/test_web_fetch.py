"""The page fetcher's rules (docs/security.md, "Web pages"), against real local servers: private addresses
refused (also after a redirect, and whatever DNS answers), bounded time and size, only HTML, text and PDF."""

from __future__ import annotations

import gzip
import time
from typing import Any

import pytest

from sleuth.config import Settings
from sleuth.retrieval.web.addresses import AddressPolicy, Resolver, system_resolve
from sleuth.retrieval.web.fetch import FetchError, FetchLimits, PageFetcher
from sleuth.testing import FakeWeb, WebPage, html_page, pdf_bytes, redirect

ALLOW_LOCAL = AddressPolicy(allow_private=True)  # the test servers listen on 127.0.0.1
ONLY_127_0_0_1 = AddressPolicy.of(False, ["127.0.0.1/32"])


def fetcher(
    policy: AddressPolicy = ALLOW_LOCAL, *, resolve: Resolver = system_resolve, **limits: Any
) -> PageFetcher:
    return PageFetcher(FetchLimits(policy=policy, **limits), resolve=resolve)


def test_a_loopback_page_is_refused_by_default_before_any_connection() -> None:
    with FakeWeb({"/page": html_page("Page", "Text.")}) as web:
        limits = FetchLimits.from_settings(Settings())
        with pytest.raises(FetchError, match=r"refused: 127\.0\.0\.1, a loopback address.*ALLOW_PRIVATE"):
            PageFetcher(limits).fetch(web.url("/page"))
        with pytest.raises(FetchError, match="refused: localhost resolves to"):
            PageFetcher(limits).fetch(f"http://localhost:{web.port}/page")
        assert web.fetched == []  # refused before connecting: the server never saw a request


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("127.0.0.2", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("fe80::1%eth0", "link-local"),
        ("fd00::1", "private"),
        ("100.64.0.1", "non-public"),
        ("0.0.0.0", "private"),
        ("224.0.0.1", "non-public"),
    ],
)
def test_non_public_addresses_are_refused_public_ones_pass(address: str, kind: str) -> None:
    assert kind in (AddressPolicy().refusal(address) or "")
    assert AddressPolicy(allow_private=True).refusal(address) is None
    assert AddressPolicy().refusal("93.184.216.34") is None and AddressPolicy().refusal("2606:4700::1111") is None


def test_the_allowance_setting_reads_local_pages() -> None:
    with FakeWeb({"/page": html_page("Page", "Text.")}) as web:
        limits = FetchLimits.from_settings(Settings(web_allow_private=True))
        page = PageFetcher(limits).fetch(web.url("/page"))
    assert page.kind == "html" and b"Text." in page.body and page.charset == "utf-8"


def test_a_redirect_to_a_refused_address_is_refused() -> None:
    # 127.0.0.1 (the test server) is allowed by network; the redirect's 127.0.0.2 stands for any private host.
    with FakeWeb(
        {"/jump": redirect("http://127.0.0.2:9/admin"), "/ok": redirect("/page"), "/page": html_page("P", "T.")}
    ) as web:
        with pytest.raises(FetchError, match=r"refused: 127\.0\.0\.2, a loopback address"):
            fetcher(ONLY_127_0_0_1).fetch(web.url("/jump"))
        followed = fetcher(ONLY_127_0_0_1).fetch(web.url("/ok"))
    assert followed.final_url == web.url("/page") and followed.url == web.url("/ok")


def test_every_address_a_host_resolves_to_is_checked() -> None:
    with FakeWeb({"/page": html_page("P", "T.")}) as web:
        mixed = fetcher(ONLY_127_0_0_1, resolve=lambda host, port: ["127.0.0.1", "127.0.0.2"])
        with pytest.raises(FetchError, match=r"refused: wiki\.example resolves to 127\.0\.0\.2"):
            mixed.fetch(f"http://wiki.example:{web.port}/page")
        assert web.fetched == []


def test_dns_rebinding_cannot_reach_a_refused_address() -> None:
    # The host answers an allowed address first, a refused one next: each connection is checked when it is
    # made and goes to the address checked, so the second connection (the redirect's) is refused.
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])
    with FakeWeb({"/page": html_page("P", "T.")}) as target, FakeWeb({"/go": redirect("")}) as first:
        first.pages["/go"] = redirect(f"http://rebind.example:{target.port}/page")
        rebinding = fetcher(ONLY_127_0_0_1, resolve=lambda host, port: next(answers))
        with pytest.raises(FetchError, match=r"rebind\.example resolves to 127\.0\.0\.2"):
            rebinding.fetch(f"http://rebind.example:{first.port}/go")
        assert first.fetched == ["/go"] and target.fetched == []


def test_only_http_and_https_are_fetched_and_redirect_loops_end() -> None:
    pages = {"/file": redirect("file:///etc/passwd"), "/loop": redirect("/loop"), "/bad": redirect("http://[::1")}
    with FakeWeb(pages) as web:
        with pytest.raises(FetchError, match="only http and https"):
            fetcher().fetch("file:///etc/passwd")
        with pytest.raises(FetchError, match="only http and https"):
            fetcher().fetch(web.url("/file"))
        with pytest.raises(FetchError, match="more than 3 redirects"):
            fetcher(max_redirects=3).fetch(web.url("/loop"))
        assert web.fetched.count("/loop") == 4
        with pytest.raises(FetchError):
            fetcher().fetch(web.url("/bad"))


def test_a_slow_page_times_out_and_a_dripping_one_too() -> None:
    pages = {"/slow": WebPage("<p>late</p>", delay_s=10), "/drip": WebPage("<p>word</p>", repeat=100, drip_s=0.2)}
    with FakeWeb(pages) as web:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):
            fetcher(timeout_s=0.5).fetch(web.url("/slow"))
        assert time.monotonic() - started < 2
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):  # each read is quick, the whole is not
            fetcher(timeout_s=1.0).fetch(web.url("/drip"))
        assert time.monotonic() - started < 2.5
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out"):  # the caller's deadline comes first
            fetcher(timeout_s=30).fetch(web.url("/slow"), deadline=time.monotonic() + 0.5)
        assert time.monotonic() - started < 2


def test_a_huge_page_is_cut_and_a_compressed_bomb_does_not_swell() -> None:
    bomb = gzip.compress(b"<p>" + b"a" * 50_000_000 + b"</p>")  # 50 MB that travels as ~50 kB
    pages = {
        "/huge": WebPage("<p>" + "word " * 20_000 + "</p>\n", repeat=5_000),  # 500 MB, never sent whole
        "/bomb": WebPage(bomb, headers={"Content-Encoding": "gzip"}),
        "/brotli": WebPage(b"\x00", headers={"Content-Encoding": "br"}),
    }
    with FakeWeb(pages) as web:
        started = time.monotonic()
        huge = fetcher(max_bytes=1_000_000).fetch(web.url("/huge"))
        assert huge.truncated and len(huge.body) == 1_000_000 and time.monotonic() - started < 5
        cut = fetcher(max_bytes=1_000_000).fetch(web.url("/bomb"))
        assert cut.truncated and len(cut.body) == 1_000_000
        with pytest.raises(FetchError, match="content encoding 'br'"):
            fetcher().fetch(web.url("/brotli"))


def test_only_html_text_and_pdf_are_read() -> None:
    pdf = pdf_bytes("Pasta records", "Pasta reached Genoa by 1279.")
    pages = {
        "/image": WebPage(b"\x89PNG\r\n", content_type="image/png"),
        "/script": WebPage("alert(1)", content_type="application/javascript"),
        "/untyped": WebPage("<p>x</p>", content_type=""),
        "/notes": WebPage("Plain notes.", content_type="text/plain; charset=latin-1"),
        "/paper": WebPage(pdf, content_type="application/pdf"),
        "/big-paper": WebPage(pdf, content_type="application/pdf", repeat=40),
        "/gone": WebPage("<p>gone</p>", status=404),
    }
    with FakeWeb(pages) as web:
        for path in ("/image", "/script", "/untyped"):
            with pytest.raises(FetchError, match="is not HTML, text or PDF"):
                fetcher().fetch(web.url(path))
        assert fetcher().fetch(web.url("/notes")).kind == "text"
        assert fetcher().fetch(web.url("/paper")).kind == "pdf"
        with pytest.raises(FetchError, match=r"PDF of .* bytes is larger"):
            fetcher(max_bytes=len(pdf) * 2).fetch(web.url("/big-paper"))
        with pytest.raises(FetchError, match="HTTP 404"):
            fetcher().fetch(web.url("/gone"))
        assert "/image" in web.fetched
