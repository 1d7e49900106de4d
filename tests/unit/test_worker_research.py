"""`sleuth research` run by the warm worker (a real `sleuth worker run --fake-embedder` process, the grounded
fake model behind a real OpenAI-compatible HTTP server): the same live lines, report and errors as a run in the
CLI's own process, Ctrl-C cancelling the run on the worker, runs the worker cannot take run in-process, and the
CLI's settings (not the worker's) are the run's."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.config import Settings
from sleuth.retrieval.index import open_collection
from sleuth.retrieval.worker import connect_worker
from sleuth.retrieval.worker.protocol import WorkerStatus
from sleuth.settings_wire import settings_from, settings_values
from sleuth.testing import FakeOpenAIServer, HashEmbedder, fake_worker, openai_body_reply, override

pytestmark = pytest.mark.allow_llm  # the real client code path, against a local fake server

runner = CliRunner()

DOCS = [
    {"id": "paris", "title": "Paris", "text": "Paris is the capital of France, on the river Seine."},
    {"id": "rome", "title": "Rome", "text": "Rome is the capital of Italy, on the river Tiber."},
    {"id": "otter", "title": "Sea otter", "text": "Sea otters use rocks as tools to open shellfish."},
]
QUESTION = "Which capital is on the river Seine?"


@pytest.fixture(autouse=True)
def _hash_embedder() -> Iterator[None]:
    with override(embedder=HashEmbedder()):  # the fake worker's embedder, so the worker serves these settings
        yield


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(openai_body_reply) as server:
        monkeypatch.setenv("SLEUTH_LLM_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def worker(tmp_path: Path, fake_llm: FakeOpenAIServer) -> Iterator[Any]:
    corpus = tmp_path / "cities.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    with open_collection(Settings(), "cities") as cities:
        assert cities.add([corpus]).added == len(DOCS)
    with fake_worker() as proc:
        yield proc


def _status() -> WorkerStatus:
    client = connect_worker(Settings())
    assert client is not None
    try:
        return client.fetch_status()
    finally:
        client.close()


def _research(mode: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("SLEUTH_WORKER", mode)
    return runner.invoke(app, ["research", *args, "-c", "cities"])


def _same_run(output: str) -> str:
    """The output with what differs between any two runs (the run id, times) taken out."""
    output = re.sub(r"\b[0-9a-f]{12}\b", "RUN", output)
    return re.sub(r"\d+\.\d+s", "Ts", output)


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    events = [{k: e[k] for k in ("type", "node")} | {"data": _data(e["data"])} for e in report["events"]]
    kept = {k: v for k, v in report.items() if k not in ("run_id", "wall_s", "usage", "events")}
    return kept | {"events": events, "calls": {node: u["calls"] for node, u in report["usage"].items()}}


def _data(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("run_id", "wall_s", "seconds", "llm_s")}


def test_the_worker_runs_it_and_the_cli_shows_what_an_in_process_run_shows(
    worker: Any, fake_llm: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = _research("off", monkeypatch, QUESTION)
    assert here.exit_code == 0, here.output
    assert _status().runs == 0
    there = _research("reuse", monkeypatch, QUESTION)
    assert there.exit_code == 0, there.output
    status = _status()
    assert (status.runs, status.runs_running) == (1, 0)
    assert status.searches > 0  # its searches, on the worker's loaded collection
    assert "Paris" in there.stdout and "[1]" in there.stdout
    assert _same_run(there.stdout) == _same_run(here.stdout)

    as_json = {mode: _research(mode, monkeypatch, QUESTION, "--json") for mode in ("off", "reuse")}
    assert all(r.exit_code == 0 for r in as_json.values()), [r.output for r in as_json.values()]
    reports = {mode: json.loads(r.stdout) for mode, r in as_json.items()}
    assert reports["reuse"]["citations"] and reports["reuse"]["status"] == "answered"
    assert _comparable(reports["reuse"]) == _comparable(reports["off"])
    assert _status().runs == 2

    # A run started on the worker continues anywhere: its checkpoints are the home's.
    resumed = _research("off", monkeypatch, "--resume", reports["reuse"]["run_id"], "--json")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["answer"] == reports["reuse"]["answer"]


def test_a_plan_approved_at_the_prompt_runs_on_the_worker_too(
    worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["research", QUESTION, "--form", "report", "--approve-plan", "-c", "cities"]
    monkeypatch.setenv("SLEUTH_WORKER", "off")
    here = runner.invoke(app, args, input="y\n")
    monkeypatch.setenv("SLEUTH_WORKER", "reuse")
    there = runner.invoke(app, args, input="y\n")
    assert here.exit_code == there.exit_code == 0, there.output
    assert "Run this plan?" in there.output and "section" in there.output
    assert _same_run(there.output) == _same_run(here.output)
    assert _status().runs == 2  # the run that paused, and the one that ran the approved plan


def test_a_failing_run_fails_the_same_way_on_the_worker(worker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for args in (["--resume", "nosuchrun0000"], ["--follow-up", "nosuchrun0000", QUESTION]):
        here, there = _research("off", monkeypatch, *args), _research("reuse", monkeypatch, *args)
        assert here.exit_code == there.exit_code == 1
        assert there.output == here.output and "nosuchrun0000" in there.output
        assert "Traceback" not in there.output
    assert _status().runs == 2


@pytest.fixture
def python_sigint() -> Iterator[None]:
    """Python's own Ctrl-C handler, as a CLI process starts with: an earlier test in the same pytest process
    may have left another one installed, and then a SIGINT would not interrupt the run."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_cancels_the_run_on_the_worker(
    worker: Any, monkeypatch: pytest.MonkeyPatch, python_sigint: None
) -> None:
    arrived, release = threading.Event(), threading.Event()

    def held(body: dict[str, Any]) -> str:
        arrived.set()
        release.wait(30)
        return openai_body_reply(body)

    with FakeOpenAIServer(held) as slow:
        monkeypatch.setenv("SLEUTH_LLM_BASE_URL", slow.base_url)

        def press_ctrl_c() -> None:  # once the worker is waiting on the model: the CLI is streaming then
            if arrived.wait(30):
                os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        result = _research("reuse", monkeypatch, QUESTION)
        assert arrived.is_set()
        assert result.exit_code == 130 and "interrupted" in result.output
        deadline = time.monotonic() + 10
        while _status().runs_running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (_status().runs, _status().runs_running) == (1, 0)  # it ran there, and was cancelled there
        release.set()
        time.sleep(0.5)
        assert len(slow.requests) == 1  # the cancelled run asked the model nothing more


def test_a_run_the_worker_cannot_run_as_this_process_would_runs_here(
    worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "intranet.example")  # the worker's environment has none
    result = _research("reuse", monkeypatch, QUESTION, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["citations"]
    assert _status().runs == 0


def test_the_settings_of_a_run_sent_to_the_worker_are_the_clis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLEUTH_LLM_MODEL", "the-clis-model")
    monkeypatch.setenv("SLEUTH_ROLE_MODELS", '{"writer": {"model": "writer-model", "base_url": "http://w/v1"}}')
    monkeypatch.setenv("SLEUTH_PRICES_PATH", "prices.yaml")
    sent = settings_values(Settings())
    monkeypatch.setenv("SLEUTH_LLM_MODEL", "the-workers-model")  # the worker's own environment
    monkeypatch.setenv("SLEUTH_ROLE_MODELS__READER__MODEL", "reader-model")
    monkeypatch.chdir("/")
    there = settings_from(sent)
    assert there.llm_model == "the-clis-model"
    assert set(there.role_models) == {"writer"}  # nothing merged in from the worker's environment
    assert there.prices_path == tmp_path / "prices.yaml"
    assert settings_values(there) == sent


def test_the_worker_freezes_what_it_loaded_for_runs_out_of_garbage_collection() -> None:
    import gc

    from sleuth.agents.research.graph import research_graph
    from sleuth.server.worker_research import _load_run_modules

    gc.unfreeze()
    try:
        _load_run_modules()
        # gc.get_objects() lists what collections scan; frozen objects are not among them.
        scanned = any(o is research_graph for o in gc.get_objects())
    finally:
        gc.unfreeze()  # the rest of the test session collects as before
    assert not scanned
