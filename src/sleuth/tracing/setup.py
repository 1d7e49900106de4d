"""Setting up tracing once per process from settings: no provider (off), the console, or OTLP over HTTP.

Off is the default and sets nothing up: the OpenTelemetry API then hands out non-recording spans and the
SDK is not even imported. An application that embeds sleuth and set up its own provider keeps it: sleuth's
spans go there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from opentelemetry import trace

from sleuth.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"


def otlp_traces_url(endpoint: str) -> str:
    """The traces URL of a collector given by its base URL (`http://host:4318`), as
    `OTEL_EXPORTER_OTLP_ENDPOINT` is; a URL already ending in `/v1/traces` is kept."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def build_provider(settings: Settings) -> TracerProvider | None:
    """A tracer provider exporting as `settings.tracing` says, or None when tracing is off.

    Spans leave through a batch processor on its own thread, so a slow or unreachable collector never holds
    up a run: a batch that cannot be sent is dropped with a log line from the exporter. `otlp` sends
    OTLP/HTTP protobuf to `SLEUTH_OTLP_ENDPOINT`, else to what the standard `OTEL_EXPORTER_OTLP_*`
    variables say (endpoint, headers, timeout, certificates, compression), else `http://localhost:4318`.
    The service is named `sleuth` unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` say otherwise.
    """
    if settings.tracing == "off":
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if settings.tracing == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_traces_url(settings.otlp_endpoint) if settings.otlp_endpoint else None
        exporter = OTLPSpanExporter(endpoint=endpoint)
    # Resource.create reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES over the defaults given here.
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "sleuth"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def setup_tracing(settings: Settings) -> bool:
    """Set up the process's tracer provider from `settings`, once (`Sleuth.open`, the CLI and the server call
    it). Returns whether this call set one up.

    A provider already in place (an earlier call's, the embedding application's, `opentelemetry-instrument`'s)
    is left as it is: sleuth's spans go to it.
    """
    if settings.tracing == "off" or not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False
    provider = build_provider(settings)
    if provider is None:
        return False
    trace.set_tracer_provider(provider)  # the SDK provider flushes and shuts down at exit
    log.debug("tracing: spans exported to %s", settings.tracing)
    return True
