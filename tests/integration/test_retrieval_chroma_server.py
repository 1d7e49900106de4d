"""Dense vectors in a real Chroma server (`chroma run`), reached with HttpClient via SLEUTH_CHROMA_URL."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sleuth.config import Settings
from sleuth.retrieval.index import open_collection
from sleuth.testing import HashEmbedder

pytestmark = pytest.mark.integration

DOCS = [
    {
        "id": "otter",
        "title": "Sea otter",
        "text": "Sea otters use rocks as tools to open shellfish.",
        "kind": "animal",
    },
    {
        "id": "paris",
        "title": "Paris",
        "text": "Paris is the capital of France, on the river Seine.",
        "kind": "city",
    },
    {"id": "rome", "title": "Rome", "text": "Rome is the capital of Italy, built on seven hills.", "kind": "city"},
]


def _chroma_cli() -> str:
    local = Path(sys.executable).parent / "chroma"
    found = str(local) if local.exists() else shutil.which("chroma")
    if not found:
        pytest.skip("the chroma CLI is not installed")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen(
        [
            _chroma_cli(),
            "run",
            "--path",
            str(tmp_path / "chroma-server"),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("chroma server did not start")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_vectors_live_in_the_chroma_server(chroma_url: str, tmp_path: Path) -> None:
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    settings = Settings(chroma_url=chroma_url)
    collection = open_collection(settings, "served", embedder=HashEmbedder())
    assert collection.add([corpus]).added == 3
    assert not (collection.path / "chroma").exists()  # nothing embedded locally

    import chromadb

    remote = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_url.rsplit(":", 1)[1]))
    assert remote.get_collection("sleuth-served", embedding_function=None).count() == 3

    reopened = open_collection(settings, "served", embedder=HashEmbedder())
    hits = reopened.retriever("dense").search("capital of Italy seven hills", 2, where={"kind": "city"})
    assert hits[0].passage.id == "rome" and {h.passage.id for h in hits} <= {"rome", "paris"}
    assert reopened.delete_source(corpus) == 3
    assert remote.get_collection("sleuth-served", embedding_function=None).count() == 0
