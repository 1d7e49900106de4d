"""Tracing: OpenTelemetry spans for every run, graph node, search and LLM call, exported over OTLP (or to the
console) when `SLEUTH_TRACING` asks for it, and nothing at all by default.

`spans` opens the spans (API only); `setup` builds the exporting provider from settings, once per process.
"""

from sleuth.tracing.setup import build_provider, otlp_traces_url, setup_tracing
from sleuth.tracing.spans import (
    CONTENT_CHARS,
    TRACER_NAME,
    llm_span,
    node_span,
    record_hits,
    record_reply,
    record_text,
    run_span,
    search_span,
    tracer,
    tracer_override,
)

__all__ = [
    "CONTENT_CHARS",
    "TRACER_NAME",
    "build_provider",
    "llm_span",
    "node_span",
    "otlp_traces_url",
    "record_hits",
    "record_reply",
    "record_text",
    "run_span",
    "search_span",
    "setup_tracing",
    "tracer",
    "tracer_override",
]
