"""Fakes shipped with the library, so tests (the project's and a user's) need no model, no network and no
private names: the seam that puts fakes in place of the configured model, retriever and embedder
(`override`), the switch that blocks real model calls (`block_real_models`; the project's conftest turns it
on), a schema-driven fake model (`SchemaLLM`), a scripted LLM, a hash embedder, a static retriever, a hostile corpus, a fault-injecting
OpenAI-compatible server, a warm worker on the hash embedder, a stand-in web (pages and search APIs), an in-memory span recorder
(`recorded_spans`), and the grounded stand-in model the server demo and browser test run on.

Production code never imports this package (an import-graph test holds it so); it may import anything.
"""

from sleuth.llm.guard import RealModelBlockedError, allow_real_models, block_real_models, real_models_blocked
from sleuth.testing.grounded import PASSAGES, fake_sleuth, grounded_llm, grounded_reply, openai_body_reply
from sleuth.testing.hostile import HUGE_CHARS, INJECTION, hostile_passages, hostile_patch
from sleuth.testing.models import Call, Reply, ScriptedLLM, SlowModel
from sleuth.testing.retrieval import HashEmbedder, StaticRetriever
from sleuth.testing.schema import SchemaError, SchemaLLM, fake_from_schema
from sleuth.testing.seam import override
from sleuth.testing.servers import FakeOpenAIServer, Fault, FaultKind, fake_worker, serve_in_thread
from sleuth.testing.tracing import recorded_spans
from sleuth.testing.web import FakeWeb, WebPage, html_page, pdf_bytes, redirect

__all__ = [
    "HUGE_CHARS",
    "INJECTION",
    "PASSAGES",
    "Call",
    "FakeOpenAIServer",
    "FakeWeb",
    "Fault",
    "FaultKind",
    "HashEmbedder",
    "RealModelBlockedError",
    "Reply",
    "SchemaError",
    "SchemaLLM",
    "ScriptedLLM",
    "SlowModel",
    "StaticRetriever",
    "WebPage",
    "allow_real_models",
    "block_real_models",
    "fake_from_schema",
    "fake_sleuth",
    "fake_worker",
    "grounded_llm",
    "grounded_reply",
    "hostile_passages",
    "hostile_patch",
    "html_page",
    "openai_body_reply",
    "override",
    "pdf_bytes",
    "real_models_blocked",
    "recorded_spans",
    "redirect",
    "serve_in_thread",
]
