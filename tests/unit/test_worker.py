"""The warm worker (a real `sleuth worker run --fake-embedder` process, hash embedder): the same hits and
vectors as in-process, used by the CLI when it answers for this home and these settings, a clean in-process
fallback when it is gone or not ours, index changes seen, and `auto` starting one only when a model is needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.config import Settings
from sleuth.retrieval.base import Hit, Passage, embedder_override
from sleuth.retrieval.filters import FilterError
from sleuth.retrieval.index import CollectionError, open_collection
from sleuth.retrieval.worker import WorkerClient, WorkerLink, WorkerUnavailable, connect_worker, probe_worker
from sleuth.retrieval.worker.protocol import read_record, write_record
from sleuth.testing import HashEmbedder, fake_worker, grounded_llm, override

runner = CliRunner()

DOCS = [
    {"id": "otter", "title": "Sea otter", "text": "Sea otters use rocks as tools to open shellfish.", "kind": "a"},
    {"id": "heron", "title": "Grey heron", "text": "The grey heron hunts fish in shallow water.", "kind": "a"},
    {"id": "paris", "title": "Paris", "text": "Paris is the capital of France, on the river Seine.", "kind": "c"},
    {"id": "rome", "title": "Rome", "text": "Rome is the capital of Italy, on the river Tiber.", "kind": "c"},
]
MODES = ("bm25", "dense", "hybrid")
QUERIES = ("which capital is on a river", "a bird that hunts fish", "tools")


@pytest.fixture(autouse=True)
def _hash_embedder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SLEUTH_WORKER", "reuse")  # never start one from a test; use the fixture's
    with override(embedder=HashEmbedder()):
        yield


def _write(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = _write(tmp_path / "zoo.jsonl", DOCS)
    with open_collection(Settings(), "zoo") as zoo:  # in-process, hash vectors
        assert zoo.add([path]).added == 4
    return path


@pytest.fixture
def worker() -> Iterator[subprocess.Popen[bytes]]:
    with fake_worker() as proc:
        yield proc


def _served() -> tuple[int, int]:
    client = connect_worker(Settings())
    assert client is not None
    status = client.fetch_status()
    client.close()
    return status.searches, status.embeds


def _cli_search(query: str, mode: str, *extra: str) -> tuple[int, Any]:
    """`sleuth search --json`: (exit code, hits), or (exit code, its output) when it failed."""
    result = runner.invoke(app, ["search", query, "-m", mode, "-c", "zoo", "-k", "3", "--json", *extra])
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else result.output


def test_the_worker_gives_the_in_process_hits_and_vectors(corpus: Path, worker: Any) -> None:
    client = connect_worker(Settings())
    assert client is not None
    found = 0
    with open_collection(Settings(), "zoo") as zoo:
        for mode in MODES:
            for query in QUERIES:
                for where in (None, {"kind": "c"}):
                    here: list[Hit] = zoo.retriever(mode).search(query, 3, where=where)  # type: ignore[arg-type]
                    assert client.search("zoo", mode, query, 3, where) == here, (mode, query, where)
                    found += len(here)
    assert found > 30
    texts = ["Sea otters", "", "the river Seine " * 50]
    assert np.array_equal(client.embed(texts), HashEmbedder().embed(texts))
    with pytest.raises(FilterError, match="unknown comparison"):
        client.search("zoo", "hybrid", "x", 3, {"kind": {"$near": 1}})
    with pytest.raises(CollectionError, match="no collection 'nothing'"):
        client.search("nothing", "bm25", "x", 3, None)
    client.close()


def test_the_cli_searches_on_the_worker_and_falls_back_when_it_is_killed(
    corpus: Path, worker: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLEUTH_WORKER", "off")
    here = {mode: _cli_search(QUERIES[0], mode) for mode in MODES}
    monkeypatch.setenv("SLEUTH_WORKER", "reuse")
    for mode in MODES:
        assert _cli_search(QUERIES[0], mode) == here[mode]
    assert _served() == (3, 0)
    code, output = _cli_search("x", "hybrid", "--where", '{"kind": {"$near": 1}}')
    assert code != 0 and "unknown comparison" in output and "Traceback" not in output

    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert read_record(Settings().worker_file) is not None  # a killed worker leaves its record behind
    for mode in MODES:
        assert _cli_search(QUERIES[0], mode) == here[mode]


def test_a_worker_of_another_home_or_with_another_token_is_not_used(
    corpus: Path, worker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _cli_search(QUERIES[1], "dense")
    assert _served() == (1, 0)
    record = read_record(Settings().worker_file)
    assert record is not None
    assert Settings().worker_file.stat().st_mode & 0o777 == 0o600

    other = tmp_path / "other-home"
    monkeypatch.setenv("SLEUTH_HOME", str(other))
    with open_collection(Settings(), "zoo") as zoo:
        zoo.add([corpus])
    write_record(Settings().worker_file, record)  # this home's record names the first home's worker
    probe = probe_worker(Settings())
    assert probe.problem is not None and "home" in probe.problem
    assert _cli_search(QUERIES[1], "dense") == expected

    monkeypatch.setenv("SLEUTH_HOME", str(tmp_path / "sleuth-home"))
    write_record(Settings().worker_file, record.model_copy(update={"token": "not-the-token"}))
    assert "401" in (probe_worker(Settings()).problem or "")
    assert _cli_search(QUERIES[1], "dense") == expected
    write_record(Settings().worker_file, record)
    assert _served() == (1, 0)  # neither search reached it


def test_index_changes_made_elsewhere_are_seen_and_adds_embed_on_the_worker(
    corpus: Path, worker: Any, tmp_path: Path
) -> None:
    assert "etna" not in [h["id"] for h in _cli_search("volcano", "dense")[1]]
    lava = _write(tmp_path / "lava.jsonl", [{"id": "etna", "title": "Etna", "text": "Etna is a volcano."}])
    added = runner.invoke(app, ["index", "add", str(lava), "-c", "zoo"])
    assert added.exit_code == 0, added.output
    searched, embedded = _served()
    assert embedded >= 1  # its passage was embedded on the worker
    for mode in MODES:
        assert _cli_search("volcano", mode)[1][0]["id"] == "etna", mode
    assert _served()[0] == searched + 3  # all on the worker, none fell back

    gone = runner.invoke(app, ["index", "delete", "--source", str(lava), "-c", "zoo"])
    assert gone.exit_code == 0, gone.output
    for mode in MODES:
        code, hits = _cli_search("volcano", mode)
        assert code == 0, hits
        assert "etna" not in [h["id"] for h in hits], mode
    assert _served()[0] == searched + 6


def test_research_searches_through_the_worker(corpus: Path, worker: Any) -> None:
    before = _served()[0]
    with override(llm=grounded_llm()):
        result = runner.invoke(app, ["research", "Which capital is on the river Seine?", "-c", "zoo", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert _served()[0] - before == len(report["search_calls"]) > 0


def test_worker_start_status_stop_and_idle_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    started = runner.invoke(app, ["worker", "start", "--fake-embedder"])
    assert started.exit_code == 0, started.output
    record = read_record(Settings().worker_file)
    assert record is not None and record.url.startswith("http://127.0.0.1:")
    status = json.loads(runner.invoke(app, ["worker", "status", "--json"]).stdout)
    assert status["running"] and status["used"] and status["pid"] == record.pid
    again = runner.invoke(app, ["worker", "start", "--fake-embedder"])
    assert again.exit_code == 0 and str(record.pid) in again.output  # the running one, not a second
    stopped = runner.invoke(app, ["worker", "stop"])
    assert stopped.exit_code == 0 and f"worker {record.pid} stopped" in stopped.output
    assert read_record(Settings().worker_file) is None
    assert runner.invoke(app, ["worker", "status"]).exit_code == 1

    monkeypatch.setenv("SLEUTH_WORKER_IDLE_S", "0.5")
    with fake_worker() as idle:
        assert idle.wait(timeout=30) == 0
    assert read_record(Settings().worker_file) is None


class _StubClient:
    """Stands in for a worker client: answers searches with one marked hit."""

    def __init__(self) -> None:
        self.searches: list[str] = []

    def search(self, collection: str, mode: str, query: str, k: int, where: Any) -> list[Hit]:
        self.searches.append(mode)
        return [Hit(Passage("from-worker", "text"), 1.0, mode)]

    def close(self) -> None:
        pass


def test_auto_starts_a_worker_once_and_only_for_a_search_that_needs_the_model(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLEUTH_WORKER", "auto")
    starts: list[Settings] = []
    stub = _StubClient()

    def start(settings: Settings) -> WorkerClient:
        starts.append(settings)
        return stub  # type: ignore[return-value]

    # No stand-in embedder in force (a worker could not serve one), but the collection's own is a hash one.
    with embedder_override.use(None), open_collection(Settings(), "zoo", embedder=HashEmbedder()) as zoo:  # type: ignore[arg-type]
        link = WorkerLink(Settings(), start=start)
        assert link.retriever(zoo, "bm25").search("tools", 2)[0].passage.id == "otter"  # no model: no start
        assert starts == []
        assert link.retriever(zoo, "dense").search("tools", 2)[0].passage.id == "from-worker"
        assert link.retriever(zoo, "hybrid").search("tools", 2)[0].passage.id == "from-worker"
        assert len(starts) == 1 and stub.searches == ["dense", "hybrid"]

        def refuse(settings: Settings) -> WorkerClient:
            raise WorkerUnavailable("it exited with code 1")

        failing = WorkerLink(Settings(), start=refuse)
        assert failing.retriever(zoo, "dense").search("tools", 2)[0].passage.id == "otter"
        assert failing.note is not None and "exited with code 1" in failing.note

        monkeypatch.setenv("SLEUTH_WORKER", "reuse")
        assert (
            WorkerLink(Settings(), start=start).retriever(zoo, "dense").search("tools", 1)[0].passage.id == "otter"
        )
        assert len(starts) == 1
