"""`sleuth search` on a running `sleuth serve`: the same hits as in-process, no model loaded in the CLI,
and a clear fallback (or error) when the server cannot (or will not) answer."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.config import Settings
from sleuth.server.app import create_app
from sleuth.testing import HashEmbedder, fake_sleuth, serve_in_thread

runner = CliRunner()

DOCS = [
    {"id": "otter", "title": "Sea otter", "text": "Sea otters use rocks as tools to open shellfish.", "kind": "a"},
    {"id": "heron", "title": "Grey heron", "text": "The grey heron hunts fish in shallow water.", "kind": "a"},
    {"id": "paris", "title": "Paris", "text": "Paris is the capital of France, on the river Seine.", "kind": "c"},
    {"id": "rome", "title": "Rome", "text": "Rome is the capital of Italy, on the river Tiber.", "kind": "c"},
]
MODES = ("bm25", "dense", "hybrid")
QUERY = "which capital is on a river"


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every embedding model the CLI process loads (a hash embedder stands in for MiniLM)."""
    import sleuth.retrieval.embedders as embedders

    loaded: list[str] = []

    def load(settings: Settings) -> HashEmbedder:
        loaded.append("model")
        return HashEmbedder()

    monkeypatch.setattr(embedders, "load_embedder", load)
    return loaded


@pytest.fixture
def indexed(tmp_path: Path, loads: list[str]) -> None:
    corpus = tmp_path / "zoo.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    assert runner.invoke(app, ["index", "add", str(corpus), "-c", "zoo"]).exit_code == 0
    loads.clear()


@pytest.fixture
def server() -> Iterator[tuple[str, str]]:
    """A served app whose searches embed with its own hash embedder (never `load_embedder`); (url, token)."""
    settings = Settings()
    served = create_app(settings, sleuth=fake_sleuth(settings), embedder=HashEmbedder())
    _, token = served.state.sleuth.tokens.create("reader", tenant="acme")
    with serve_in_thread(served) as url:
        yield url, token


def _search(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["search", QUERY, "-c", "zoo", "--json", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_server_gives_the_in_process_hits_without_loading_a_model_here(
    indexed: None, loads: list[str], server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    here = {mode: _search("-m", mode) for mode in MODES}
    assert all(code == 0 for code, _, _ in here.values())
    assert loads == ["model", "model"]  # dense and hybrid each loaded it: what the server saves
    assert "hint:" in here["dense"][2] and "SLEUTH_SERVER_URL" in here["dense"][2]
    assert "hint:" not in here["bm25"][2]

    url, token = server
    monkeypatch.setenv("SLEUTH_SERVER_URL", url)
    monkeypatch.setenv("SLEUTH_SERVER_TOKEN", token)
    for mode in MODES:
        code, out, err = _search("-m", mode)
        assert (code, out) == (0, here[mode][1]), mode
        assert "hint:" not in err
        filtered = _search("-m", mode, "--where", '{"kind": "c"}')
        assert filtered[1] == _in_process(monkeypatch, "-m", mode, "--where", '{"kind": "c"}')
        assert {hit["id"] for hit in json.loads(filtered[1])} <= {"paris", "rome"}
    assert loads == ["model", "model", "model", "model"]  # only the in-process runs of the filtered checks


def _in_process(monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    with monkeypatch.context() as local:
        local.delenv("SLEUTH_SERVER_URL")
        return _search(*args)[1]


def test_with_no_server_listening_the_search_runs_here_with_a_hint(
    indexed: None, loads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    monkeypatch.setenv("SLEUTH_SERVER_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SLEUTH_SERVER_TOKEN", "slt_whatever")
    code, out, err = _search("-m", "dense")
    assert code == 0 and json.loads(out)[0]["id"] in ("paris", "rome")
    assert "hint: searching in-process" in err and "cannot reach" in err and len(err.strip().splitlines()) == 1
    code, out, err = _search("-m", "bm25")
    assert code == 0 and out and "hint:" not in err


def test_a_server_that_refuses_is_an_error_not_a_silent_fallback(
    indexed: None, loads: list[str], server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    monkeypatch.setenv("SLEUTH_SERVER_URL", url)
    monkeypatch.setenv("SLEUTH_SERVER_TOKEN", "slt_not-a-token")
    code, out, err = _search("-m", "dense")
    assert code == 1 and out == "" and "401" in err and "invalid or revoked" in err
    assert loads == []


def test_the_search_route_answers_clearly(indexed: None, server: tuple[str, str]) -> None:
    url, token = server
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        ok = client.post("/v1/search", json={"query": QUERY, "collection": "zoo", "k": 2})
        assert ok.status_code == 200 and len(ok.json()["hits"]) == 2
        assert ok.json()["hits"][0]["retriever"] == "hybrid"
        missing = client.post("/v1/search", json={"query": QUERY, "collection": "nowhere"})
        assert missing.status_code == 404 and "no collection 'nowhere'" in missing.json()["detail"]
        bad = client.post("/v1/search", json={"query": QUERY, "collection": "zoo", "where": {"k": {"$near": 1}}})
        assert bad.status_code == 422 and "unknown comparison" in bad.json()["detail"]
        path = client.post("/v1/search", json={"query": QUERY, "collection": "../zoo"})
        assert path.status_code == 422
    assert httpx.post(f"{url}/v1/search", json={"query": QUERY}).status_code == 401
