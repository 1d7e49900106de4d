"""`sleuth index add https://...`: a web page fetched and extracted as a web search's pages are, then indexed
under its address (on a local server; the private-address allowance switched on and off)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.testing import FakeWeb, HashEmbedder, WebPage, html_page, override

PASTA = html_page(
    "History of pasta",
    "Pasta was known in Sicily by the twelfth century.",
    "Dried pasta was traded from Palermo to Genoa.",
)
runner = CliRunner()


def test_index_add_a_web_page(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Genoa kept pasta records.", encoding="utf-8")
    with (
        FakeWeb({"/pasta": PASTA, "/image": WebPage(b"\x89PNG", content_type="image/png")}) as web,
        override(embedder=HashEmbedder()),
    ):
        refused = runner.invoke(app, ["index", "add", web.url("/pasta"), "-c", "webdocs"])
        monkeypatch.setenv("SLEUTH_WEB_ALLOW_PRIVATE", "true")
        added = runner.invoke(
            app, ["index", "add", web.url("/pasta"), str(notes), web.url("/image"), "-c", "webdocs", "--json"]
        )
        again = runner.invoke(app, ["index", "add", web.url("/pasta"), "-c", "webdocs", "--json"])
        found = runner.invoke(app, ["search", "pasta in Sicily", "-c", "webdocs", "-m", "bm25", "--json"])
    assert refused.exit_code == 1 and "refused: 127.0.0.1, a loopback address" in refused.output
    report = json.loads(added.stdout)
    by_source = {f["source"]: f for f in report["files"]}
    assert by_source[web.url("/pasta")]["added"] >= 1 and by_source[str(notes.resolve())]["added"] == 1
    assert "image/png" in by_source[web.url("/image")]["error"]
    assert json.loads(again.stdout)["files"][0]["skipped"] >= 1  # an unchanged page is not indexed twice
    top = json.loads(found.stdout)[0]
    assert top["source"] == web.url("/pasta") and top["metadata"]["url"] == web.url("/pasta")
    assert "twelfth century" in top["text"] and "fetched_at" in top["metadata"]
