"""Pure edge functions of the research graph: state in, next node(s) out; no I/O, no LLM."""

from __future__ import annotations

from typing import Literal

from langgraph.types import Send

from sleuth.agents.research.state import ResearchState, SectionTask


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


def usd_budget_spent(state: ResearchState, more: float = 0.0) -> bool:
    """Whether the run's priced calls (and `more` dollars not yet in the state) reach its dollar budget."""
    budget = state.get("usd_budget")
    return budget is not None and state.get("usd_used", 0.0) + more >= budget


def after_aggregator(state: ResearchState) -> Literal["orchestrator", "writer", "outline"]:
    """Another round unless the round limit or a budget is reached or nothing is unknown any more.

    A report is planned after the first round: its sections do the further searching. A spent dollar
    budget goes straight to writing in either form (a report then has its opening and no sections).
    """
    if not state.get("search_calls"):
        return "orchestrator"
    if usd_budget_spent(state):
        return "writer"
    if state.get("form") == "report":
        return "outline"
    if state.get("round", 0) >= state.get("max_rounds", 1):
        return "writer"
    if state.get("tokens_used", 0) >= state.get("token_budget", 0):
        return "writer"
    return "orchestrator" if state.get("unknown") else "writer"


def after_outline(state: ResearchState) -> Literal["approve", "gather"]:
    """Pause for approval when asked to, else search for the sections."""
    return "approve" if state.get("approve_plan") else "gather"


def to_sections(state: ResearchState) -> list[Send] | Literal["direct"]:
    """Fan out one section writer per planned section (run in parallel); straight on when the plan is empty."""
    tasks = state.get("section_tasks") or []
    return [Send("section", task) for task in tasks] if tasks else "direct"


def after_verify(state: ResearchState) -> Literal["writer", "compose", "__end__"]:
    """Back to the writer when verification asked for a re-draft; a report is then composed; else done."""
    if state.get("writer_feedback"):
        return "writer"
    return "compose" if state.get("form") == "report" else "__end__"


def section_tasks(state: ResearchState) -> list[SectionTask]:
    """One task per planned section, with its share of the report's target length."""
    plan = state.get("outline") or {"title": "", "sections": []}
    sections = plan["sections"]
    words = max(40, state.get("length_words", 600) // max(1, len(sections)))
    return [
        {
            "index": i,
            "heading": s["heading"],
            "questions": list(s["questions"]),
            "question": state["question"],
            "patches": state.get("patches") or [],
            "language": state.get("language", "English"),
            "words": words,
            "round": state.get("round", 1) + 1,
            "passages": [],
            "used": [],
        }
        for i, s in enumerate(sections)
    ]
