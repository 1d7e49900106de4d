"""Wiring of the deep-research graph (the only place edges are declared)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research import routing
from sleuth.agents.research.nodes.aggregator import aggregator
from sleuth.agents.research.nodes.base import traced_node
from sleuth.agents.research.nodes.compose import compose
from sleuth.agents.research.nodes.direct import direct
from sleuth.agents.research.nodes.orchestrator import orchestrator
from sleuth.agents.research.nodes.outline import approve, outline
from sleuth.agents.research.nodes.reader import reader
from sleuth.agents.research.nodes.search import search
from sleuth.agents.research.nodes.section import gather, section
from sleuth.agents.research.nodes.verify import verify
from sleuth.agents.research.nodes.writer import writer
from sleuth.agents.research.state import ResearchState


def on_loop(route: Callable[[ResearchState], Any]) -> Callable[[ResearchState], Awaitable[Any]]:
    """`route` as a coroutine function. LangGraph runs a plain edge function on a worker thread: a thread
    hop, and a wait for the GIL behind whatever the event loop is running, on every edge; a pure function of
    the state needs neither, and before the readers' fan-out it delayed every reader's request."""

    async def run(state: ResearchState) -> Any:
        return route(state)

    run.__name__ = run.__qualname__ = route.__name__
    return run


def build_graph() -> StateGraph[ResearchState, AgentDeps, ResearchState, ResearchState]:
    """The uncompiled graph: orchestrator → search → readers (Send) → aggregator → … → direct → writer → verify.

    The routing functions say when to write; writing starts with `direct`, the grounded short answer the
    answer opens with. The report form plans after the first round: outline → (approve) → gather → sections
    (Send) → direct → writer → verify (the opening) → compose.
    """
    graph = StateGraph(state_schema=ResearchState, context_schema=AgentDeps)
    # Reader and section are Send-fed: their input is the `ReaderBatch` / `SectionTask` the Send carries.
    nodes: dict[str, Any] = {
        "orchestrator": orchestrator,
        "search": search,
        "reader": reader,
        "aggregator": aggregator,
        "direct": direct,
        "writer": writer,
        "verify": verify,
        "outline": outline,
        "approve": approve,
        "gather": gather,
        "section": section,
        "compose": compose,
    }
    for name, node in nodes.items():
        graph.add_node(name, traced_node(name, node))  # type: ignore[call-overload]  # Send-fed inputs
    graph.add_edge(START, "orchestrator")
    graph.add_conditional_edges(
        "orchestrator", on_loop(routing.after_orchestrator), {"search": "search", "writer": "direct"}
    )
    graph.add_conditional_edges("search", on_loop(routing.to_readers), ["reader", "aggregator"])
    graph.add_edge("reader", "aggregator")
    graph.add_conditional_edges(
        "aggregator",
        on_loop(routing.after_aggregator),
        {"orchestrator": "orchestrator", "writer": "direct", "outline": "outline"},
    )
    graph.add_conditional_edges("outline", on_loop(routing.after_outline), ["approve", "gather"])
    graph.add_edge("approve", "gather")
    graph.add_conditional_edges("gather", on_loop(routing.to_sections), ["section", "direct"])
    graph.add_edge("section", "direct")
    graph.add_edge("compose", END)
    graph.add_edge("direct", "writer")
    graph.add_edge("writer", "verify")
    graph.add_conditional_edges(
        "verify", on_loop(routing.after_verify), {"writer": "writer", "compose": "compose", "__end__": END}
    )
    return graph


@functools.cache
def _compiled() -> Any:
    # Compiling takes tens of milliseconds; the compiled graph is immutable, so runs share one copy
    # and only swap in their checkpointer.
    return build_graph().compile(name="sleuth-research")


def research_graph(checkpointer: Any = None) -> Any:
    """The compiled graph with `checkpointer` (None: no persistence)."""
    return _compiled().copy(update={"checkpointer": checkpointer})


def langgraph_app() -> Any:
    """Zero-argument factory for LangGraph tooling (`langgraph.json`). Runs need an `AgentDeps` context,
    which only Python callers can build (it holds the model and retriever objects)."""
    return research_graph()
