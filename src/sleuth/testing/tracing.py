"""Spans kept in memory: what a test reads to see the traces a run made, without setting up the process's
tracer provider (which OpenTelemetry allows once)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sleuth.tracing import tracer_override


@contextmanager
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """Inside the block, sleuth's spans go to the returned exporter (`get_finished_spans()`), each as it ends.

    Example:
        with recorded_spans() as spans:
            await fake_sleuth(settings).research("Who wrote Dune?")
        assert spans.get_finished_spans()[-1].name == "research"
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracer_override.use(provider):
        yield exporter
    provider.shutdown()
