"""The spans sleuth opens: one per run, per graph node, per search and per LLM call (GenAI conventions).

Library code only uses the OpenTelemetry API: with no tracer provider set up (the default,
`SLEUTH_TRACING=off`) every span is the API's non-recording one and nothing is kept. The provider is the
process's global one (`setup.setup_tracing`, or the embedding application's own), or the stand-in in
`tracer_override` (a test's in-memory exporter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from sleuth.override import Override

TRACER_NAME = "sleuth"

tracer_override: Override[trace.TracerProvider] = Override("tracer_provider")
"""The provider spans go to instead of the global one (`sleuth.testing.recorded_spans`)."""

CONTENT_CHARS = 4000
"""Characters of a prompt, reply, question or answer kept in a span event when content is recorded."""

# GenAI semantic conventions (gen_ai.*) and sleuth's own attributes (sleuth.*).
OPERATION = "gen_ai.operation.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TEMPERATURE = "gen_ai.request.temperature"
MAX_TOKENS = "gen_ai.request.max_tokens"
ROLE = "sleuth.agent.role"
RUN_ID = "sleuth.run.id"
QUESTION_LENGTH = "sleuth.question.length"
QUERY_LENGTH = "sleuth.search.query.length"
SEARCH_K = "sleuth.search.k"
SEARCH_HITS = "sleuth.search.hits"
NODE = "sleuth.node"
FORM = "sleuth.form"
COLLECTION = "sleuth.collection"
RESUMED = "sleuth.resumed"
STRATEGY = "sleuth.ask.strategy"
VARIANT = "sleuth.ask.variant"
STATUS = "sleuth.run.status"
FINISH = "sleuth.ask.finish"

_content_chars: ContextVar[int] = ContextVar("sleuth.tracing.content_chars", default=0)
"""How much text the spans of the current run keep as events (0: none); set by `run_span`."""
_in_llm_call: ContextVar[bool] = ContextVar("sleuth.tracing.in_llm_call", default=False)
"""True inside an LLM span: a wrapper nested in another (a metered model inside a metered model) opens none."""


def tracer() -> Tracer:
    """sleuth's tracer on the provider in force (looked up per span, so a stand-in or a late setup holds)."""
    provider = tracer_override.get() or trace.get_tracer_provider()
    return provider.get_tracer(TRACER_NAME)


def record_text(span: Span, name: str, key: str, text: str) -> None:
    """Add `text` (cut to the run's limit) as the event `name` when the run records content, else nothing."""
    limit = _content_chars.get()
    if limit and span.is_recording():
        span.add_event(name, {key: text[:limit]})


@contextmanager
def _span(
    name: str, attributes: dict[str, Any], *, expected: tuple[type[BaseException], ...] = ()
) -> Iterator[Span]:
    """A current span; an exception marks it failed, except `expected` ones (a run paused for approval)."""
    with tracer().start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except expected:
            raise
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:300]))
            span.set_attribute("error.type", type(exc).__qualname__)
            raise


@contextmanager
def run_span(
    name: str,
    question: str,
    attributes: Mapping[str, Any],
    *,
    content: bool,
    expected: tuple[type[BaseException], ...] = (),
) -> Iterator[Span]:
    """The root span of one research or ask run: the question's length (its text only when `content`) and
    `attributes` (run id, form, collection, ...; None values left out). Spans opened inside it record
    prompts and replies as events when `content` is set."""
    attrs = {QUESTION_LENGTH: len(question), **{k: v for k, v in attributes.items() if v is not None}}
    token = _content_chars.set(CONTENT_CHARS if content else 0)
    try:
        with _span(name, attrs, expected=expected) as span:
            record_text(span, "sleuth.question", "sleuth.question", question)
            yield span
    finally:
        _content_chars.reset(token)


@contextmanager
def node_span(node: str, *, expected: tuple[type[BaseException], ...] = ()) -> Iterator[Span]:
    """The span of one execution of a graph node (or one step of an ask strategy)."""
    with _span(f"node {node}", {NODE: node}, expected=expected) as span:
        yield span


@contextmanager
def search_span(query: str, k: int) -> Iterator[Span]:
    """The span of one search: the query's length (its text only when content is recorded) and k; the caller
    adds the hits with `record_hits`."""
    with _span("search", {QUERY_LENGTH: len(query), SEARCH_K: k}) as span:
        record_text(span, "sleuth.search.query", "sleuth.search.query", query)
        yield span


def record_hits(span: Span, hits: int) -> None:
    """Set how many hits a search returned on its span."""
    span.set_attribute(SEARCH_HITS, hits)


@contextmanager
def llm_span(
    role: str, model: str, *, temperature: float, max_tokens: int, prompt: Callable[[], str]
) -> Iterator[Span | None]:
    """The span of one LLM call (GenAI `chat` operation), or None inside another LLM span (a wrapper around
    a wrapper: the call is one call). `prompt` is only called when content is recorded."""
    if _in_llm_call.get():
        yield None
        return
    attributes: dict[str, Any] = {
        OPERATION: "chat",
        TEMPERATURE: temperature,
        MAX_TOKENS: max_tokens,
        ROLE: role or "other",
    }
    if model:
        attributes[REQUEST_MODEL] = model
    token = _in_llm_call.set(True)
    try:
        with _span(f"chat {model}".strip(), attributes) as span:
            if _content_chars.get() and span.is_recording():
                record_text(span, "gen_ai.content.prompt", "gen_ai.prompt", prompt())
            yield span
    finally:
        _in_llm_call.reset(token)


def record_reply(span: Span | None, *, model: str, input_tokens: int, output_tokens: int, text: str) -> None:
    """Set what an LLM call returned on its span (nothing for None: a nested call)."""
    if span is None or not span.is_recording():
        return
    span.set_attributes({INPUT_TOKENS: input_tokens, OUTPUT_TOKENS: output_tokens})
    if model:
        span.set_attribute(RESPONSE_MODEL, model)
    record_text(span, "gen_ai.content.completion", "gen_ai.completion", text)
