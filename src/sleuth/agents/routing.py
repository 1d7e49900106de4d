"""Pure edge functions of the research graph: state in, next node(s) out; no I/O, no LLM."""

from __future__ import annotations

from typing import Literal

from langgraph.types import Send

from sleuth.agents.state import ResearchState


def after_orchestrator(state: ResearchState) -> Literal["search", "writer"]:
    """Search the planned tasks; go to the writer only once a search has run and nothing is left to plan.

    This is the always-search guarantee: with no search call yet, the only way on is `search`.
    """
    if not state.get("search_calls"):
        return "search"
    return "search" if state.get("tasks") else "writer"


def to_readers(state: ResearchState) -> list[Send] | Literal["aggregator"]:
    """Fan out one reader per batch of hits (run in parallel); straight to the aggregator when none."""
    batches = state.get("batches") or []
    if not batches:
        return "aggregator"
    return [Send("reader", batch) for batch in batches]


def after_aggregator(state: ResearchState) -> Literal["orchestrator", "writer"]:
    """Another round unless the round limit or token budget is reached or nothing is unknown any more."""
    if not state.get("search_calls"):
        return "orchestrator"
    if state.get("round", 0) >= state.get("max_rounds", 1):
        return "writer"
    if state.get("tokens_used", 0) >= state.get("token_budget", 0):
        return "writer"
    return "orchestrator" if state.get("unknown") else "writer"


def after_verify(state: ResearchState) -> Literal["writer", "__end__"]:
    """Back to the writer when verification asked for a re-draft, else the run is done."""
    return "writer" if state.get("writer_feedback") else "__end__"
