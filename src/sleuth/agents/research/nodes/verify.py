"""The verify node: applies the citation policy to the writer's draft and builds the final answer."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.nodes.base import NodeRun, patch_texts
from sleuth.agents.research.policy import (
    extractive_draft,
    memory_phrase,
    no_evidence_answer,
    render_sentences,
    verify_draft,
)
from sleuth.agents.research.state import ResearchState

MAX_WRITER_ATTEMPTS = 2
"""A draft that leans on memory gets one re-ask; after that the offending sentences are removed."""


async def verify(state: ResearchState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Re-ask the writer once on memory phrases, then keep only sentences with verified citations.

    When no sentence survives, the verified quotes themselves become the answer (extractive fallback);
    when there is no evidence at all, the answer says what was searched and that nothing was found.
    """
    deps = runtime.context
    run = NodeRun(deps, "verify")
    draft = state.get("draft") or []
    evidence = state.get("evidence") or []
    phrases = [p for p in (memory_phrase(s["text"]) for s in draft) if p]
    if phrases and state.get("writer_attempts", 0) < MAX_WRITER_ATTEMPTS:
        feedback = (
            f"it used knowledge from memory ({', '.join(repr(p) for p in phrases)}). Use only the "
            "numbered evidence and cite it; do not write what you remember."
        )
        run.warn("memory phrase in the draft: asking the writer again", phrases=phrases)
        return run.finish({"writer_feedback": feedback})
    if state.get("status") == "no_evidence" or not evidence:
        answer = no_evidence_answer(state["question"], state.get("search_calls") or [])
        deps.events.emit("answer", "verify", status="no_evidence")
        return run.finish(
            {
                "answer": answer,
                "status": "no_evidence",
                "citations": [],
                "verified": [],
                "dropped_sentences": [],
                "writer_fallback": False,
                "writer_feedback": "",
            }
        )
    passages = state.get("passages") or {}
    patches = patch_texts(state.get("patches") or [])
    kept, citations, dropped = verify_draft(
        draft, evidence, passages, deps.lookup, question=state["question"], patches=patches
    )
    fallback = False
    if not citations:
        fallback = True
        run.warn("no sentence of the draft survived verification: answering with the verified quotes")
        kept, citations, _ = verify_draft(
            extractive_draft(evidence), evidence, passages, deps.lookup, patches=patches
        )
    status = "answered" if citations else "no_evidence"
    answer = render_sentences(kept)
    if not citations:
        answer = no_evidence_answer(state["question"], state.get("search_calls") or [])
    deps.events.emit("answer", "verify", status=status, citations=len(citations), dropped=len(dropped))
    return run.finish(
        {
            "answer": answer,
            "status": status,
            "citations": citations,
            "verified": kept,
            "dropped_sentences": dropped,
            "writer_fallback": fallback,
            "writer_feedback": "",
        }
    )
