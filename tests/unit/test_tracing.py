"""Tracing: one trace per run with node, search and LLM spans (GenAI attributes, exact token counts), parallel
readers under the run, nothing recorded when off, content only when asked, and a collector that is down
costing the run nothing."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from sleuth.agents.research.report import ReportOptions
from sleuth.config import Settings
from sleuth.testing import ScriptedLLM, SlowModel, fake_sleuth, grounded_llm, recorded_spans
from sleuth.tracing import CONTENT_CHARS, build_provider, otlp_traces_url, setup_tracing, tracer_override

QUESTION = "What is Lilu?"


def llm(prompt_tokens: int = 7, completion_tokens: int = 3) -> ScriptedLLM:
    """The grounded fake with fixed token counts, so every LLM span's numbers are known."""
    inner = grounded_llm()
    return ScriptedLLM(fn=inner._fn, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)  # type: ignore[arg-type]


def parent_of(span: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> ReadableSpan | None:
    assert span.parent is not None
    return next((s for s in spans if s.context.span_id == span.parent.span_id), None)


def node_of(span: ReadableSpan, spans: tuple[ReadableSpan, ...]) -> str:
    """The graph node a span ran under (its nearest `node ...` ancestor)."""
    current: ReadableSpan | None = span
    while current is not None and not current.name.startswith("node "):
        current = parent_of(current, spans) if current.parent else None
    assert current is not None, f"{span.name} is under no node span"
    return current.name.removeprefix("node ")


async def test_a_research_run_is_one_trace_of_nodes_searches_and_llm_calls() -> None:
    model = llm()
    with recorded_spans() as recorder:
        report = await fake_sleuth(Settings(max_rounds=1), llm=model).research(QUESTION)
    spans = recorder.get_finished_spans()
    assert len({s.context.trace_id for s in spans}) == 1
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == "research"
    assert root.attributes is not None
    assert root.attributes["sleuth.run.id"] == report.run_id
    assert root.attributes["sleuth.question.length"] == len(QUESTION)
    assert root.attributes["sleuth.form"] == "answer"
    assert root.attributes["sleuth.collection"] == "demo"
    assert root.attributes["sleuth.run.status"] == report.status
    nodes = [s for s in spans if s.name.startswith("node ")]
    assert all(parent_of(s, spans) is root for s in nodes)
    assert {"node orchestrator", "node search", "node reader", "node aggregator", "node writer"} <= {
        s.name for s in nodes
    }
    searches = [s for s in spans if s.name == "search"]
    assert searches and all(parent_of(s, spans) in nodes for s in searches)
    first = next(s for s in searches if node_of(s, spans) == "search")
    assert first.attributes == {
        "sleuth.search.query.length": len(QUESTION),
        "sleuth.search.k": 8,
        "sleuth.search.hits": 3,
    }
    calls = [s for s in spans if s.attributes and s.attributes.get("gen_ai.operation.name") == "chat"]
    # One span per call the model answered: a wrapper in a wrapper (direct's grounded reading) is one call.
    assert len(calls) == len(model.calls)
    assert Counter(s.attributes["sleuth.agent.role"] for s in calls if s.attributes) == Counter(
        c.agent for c in model.calls
    )
    for span in calls:
        assert span.name == "chat scripted"
        assert span.attributes is not None
        assert span.attributes["gen_ai.request.model"] == span.attributes["gen_ai.response.model"] == "scripted"
        assert span.attributes["gen_ai.usage.input_tokens"] == 7
        assert span.attributes["gen_ai.usage.output_tokens"] == 3
        assert span.attributes["gen_ai.request.temperature"] == 0.0
        assert isinstance(span.attributes["gen_ai.request.max_tokens"], int)
        assert node_of(span, spans) != ""
    writer_call = next(s for s in calls if s.attributes and s.attributes["sleuth.agent.role"] == "writer")
    assert node_of(writer_call, spans) == "writer"
    assert writer_call.attributes and writer_call.attributes["gen_ai.request.max_tokens"] == 512
    # The spans say what the run's usage says.
    assert sum(s.attributes["gen_ai.usage.input_tokens"] for s in calls if s.attributes) == (
        report.usage["total"].prompt_tokens
    )


async def test_parallel_readers_each_get_a_span_under_the_run() -> None:
    # Batches of one passage: the three hits are read by three readers at once (LangGraph `Send`); a slow
    # model keeps their calls in flight together, so a span opened in the wrong reader's context would show.
    model = SlowModel(llm(), 0.05)
    with recorded_spans() as recorder:
        await fake_sleuth(Settings(max_rounds=1, reader_batch_size=1), llm=model).research(QUESTION)
    spans = recorder.get_finished_spans()
    (root,) = [s for s in spans if s.parent is None]
    readers = [s for s in spans if s.name == "node reader"]
    assert len(readers) == 3
    assert all(parent_of(s, spans) is root for s in readers)
    # They overlapped, and each reader's LLM call is a child of its own reader span.
    assert max(s.start_time for s in readers) < min(s.end_time for s in readers)  # type: ignore[operator]
    reads = [s for s in spans if s.attributes and s.attributes.get("sleuth.agent.role") == "reader"]
    assert sorted(parent_of(s, spans).context.span_id for s in reads) == sorted(  # type: ignore[union-attr]
        s.context.span_id for s in readers
    )


async def test_a_report_paused_for_approval_is_not_a_failed_span() -> None:
    sleuth = fake_sleuth(Settings(max_rounds=1))
    with recorded_spans() as recorder:
        paused = await sleuth.research(QUESTION, options=ReportOptions(form="report", approve_plan=True))
    assert paused.status == "awaiting_approval"
    spans = recorder.get_finished_spans()
    approve = next(s for s in spans if s.name == "node approve")
    assert approve.status.status_code != trace.StatusCode.ERROR
    root = next(s for s in spans if s.name == "research")
    assert root.attributes and root.attributes["sleuth.form"] == "report"


async def test_an_ask_run_is_one_trace_of_searches_and_llm_calls() -> None:
    model = llm()
    with recorded_spans() as recorder:
        result = await fake_sleuth(Settings(), llm=model).ask(QUESTION)
    spans = recorder.get_finished_spans()
    (root,) = [s for s in spans if s.parent is None]
    assert root.name == "ask"
    assert root.attributes is not None
    assert root.attributes["sleuth.ask.strategy"] == "grounded"
    assert root.attributes["sleuth.ask.finish"] == result.finish
    assert root.attributes["sleuth.question.length"] == len(QUESTION)
    children = [s for s in spans if s is not root]
    assert all(parent_of(s, spans) is root for s in children)
    calls = [s for s in children if s.name.startswith("chat")]
    assert len(calls) == len(model.calls) > 0
    assert {s.attributes["sleuth.agent.role"] for s in calls if s.attributes} == {"ask"}
    assert len([s for s in children if s.name == "search"]) == len(result.search_calls)


async def test_the_facade_search_is_a_span() -> None:
    with recorded_spans() as recorder:
        hits = fake_sleuth(Settings()).search("Lilu", k=2)
    (span,) = recorder.get_finished_spans()
    assert span.name == "search"
    assert span.attributes == {
        "sleuth.search.query.length": 4,
        "sleuth.search.k": 2,
        "sleuth.search.hits": len(hits),
    }


async def test_text_is_kept_out_of_spans_unless_content_is_asked_for() -> None:
    secret = "What is Lilu, asks the secret question?"
    with recorded_spans() as recorder:
        await fake_sleuth(Settings(max_rounds=1)).research(secret)
    dumped = "".join(s.to_json() for s in recorder.get_finished_spans())
    assert "secret question" not in dumped and "Lilu" not in dumped
    assert all(not s.events for s in recorder.get_finished_spans())

    with recorded_spans() as recorder:
        await fake_sleuth(Settings(max_rounds=1, trace_content=True)).research(secret)
    spans = recorder.get_finished_spans()
    root = next(s for s in spans if s.name == "research")
    assert [e.name for e in root.events] == ["sleuth.question", "sleuth.answer"]
    assert root.events[0].attributes == {"sleuth.question": secret}
    chat = next(s for s in spans if s.name.startswith("chat"))
    names = [e.name for e in chat.events]
    assert names == ["gen_ai.content.prompt", "gen_ai.content.completion"]
    prompt = chat.events[0].attributes
    assert prompt is not None and "secret question" in str(prompt["gen_ai.prompt"])
    assert all(len(str(v)) <= CONTENT_CHARS for e in chat.events for v in (e.attributes or {}).values())


async def test_tracing_off_sets_nothing_up_and_records_nothing() -> None:
    assert setup_tracing(Settings()) is False
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert build_provider(Settings()) is None
    seen: list[bool] = []
    inner = grounded_llm()

    def fn(call: Any) -> Any:
        seen.append(trace.get_current_span().is_recording())
        return inner._fn(call)  # type: ignore[misc]

    await fake_sleuth(Settings(max_rounds=1), llm=ScriptedLLM(fn=fn)).research(QUESTION)
    assert seen and not any(seen)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_collector_that_is_down_drops_the_spans_with_a_log_line_and_the_run_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    endpoint = f"http://127.0.0.1:{free_port()}"
    provider = build_provider(Settings(tracing="otlp", otlp_endpoint=endpoint))
    assert provider is not None
    with caplog.at_level(logging.WARNING, logger="opentelemetry"), tracer_override.use(provider):
        report = await fake_sleuth(Settings(max_rounds=1)).research(QUESTION)
        assert report.answer
        provider.force_flush(5000)
    provider.shutdown()
    assert any("Failed to export" in r.getMessage() for r in caplog.records), [
        r.getMessage() for r in caplog.records
    ]


def test_the_otlp_endpoint_is_a_collector_base_url_or_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert otlp_traces_url("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert otlp_traces_url("http://collector:4318/v1/traces") == "http://collector:4318/v1/traces"
    provider = build_provider(Settings(tracing="otlp", otlp_endpoint="http://collector:4318"))
    assert provider is not None
    exporter = provider._active_span_processor._span_processors[0]._batch_processor._exporter  # type: ignore[attr-defined]
    assert exporter._endpoint == "http://collector:4318/v1/traces"
    provider.shutdown()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://from-env:4318")
    provider = build_provider(Settings(tracing="otlp"))
    assert provider is not None
    exporter = provider._active_span_processor._span_processors[0]._batch_processor._exporter  # type: ignore[attr-defined]
    assert exporter._endpoint == "http://from-env:4318/v1/traces"
    assert provider.resource.attributes["service.name"] == "sleuth"
    provider.shutdown()


def test_sleuth_tracing_console_prints_the_run_s_spans_from_the_cli(tmp_path: Path) -> None:
    # A process of its own: the global tracer provider can be set once per process.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLEUTH_", "OTEL_"))}
    env |= {"SLEUTH_HOME": str(tmp_path), "SLEUTH_TRACING": "console", "PYTHONPATH": os.pathsep.join(sys.path)}
    code = (
        "from typer.testing import CliRunner\n"
        "from sleuth.cli import app\n"
        "from sleuth.testing import PASSAGES, StaticRetriever, grounded_llm, override\n"
        "with override(llm=grounded_llm(), retriever=StaticRetriever(PASSAGES)):\n"
        "    result = CliRunner().invoke(app, ['ask', 'What is Lilu?', '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = [json.loads(block) for block in split_json_objects(done.stdout)]
    names = {span["name"] for span in printed}
    assert {"ask", "search"} <= names and any(name.startswith("chat") for name in names)


def split_json_objects(text: str) -> list[str]:
    """The top-level JSON objects the console exporter printed (one indented object per span)."""
    objects, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "{":
            if depth == 0:
                start = i
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                objects.append(text[start : i + 1])
    return objects
