"""The direct-answer node: the grounded ask reading run inside research, so the report opens with the answer.

A research answer written from many evidence quotes by a small model tends to list facts and never say
what was asked ("which band came first?"). This node runs the same grounded strategy as `sleuth ask`
(search the question, read whole passages, search what is missing, check the answer against the text)
and turns its answer and quotes into evidence items; the writer puts them first, so the report's first
sentence answers the question and cites the passages that back it (each side of a comparison included).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from langgraph.runtime import Runtime

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.nodes.base import NodeRun, patch_texts
from sleuth.agents.research.state import DirectAnswer, EvidenceItem, PassageRecord, ResearchState, SearchRecord
from sleuth.retrieval.base import Filter, Hit, Retriever


class _Keeping:
    """A retriever that keeps every passage it returns, so the node can add them to the run's passages."""

    def __init__(self, inner: Retriever) -> None:
        self.inner = inner
        self.passages: dict[str, PassageRecord] = {}

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        hits = self.inner.search(query, k, where=where)
        for hit in hits:
            p = hit.passage
            self.passages.setdefault(p.id, {"id": p.id, "title": p.title, "text": p.text})
        return hits


async def direct(state: ResearchState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Answer the question with the grounded strategy and hand the writer a cited first sentence."""
    from sleuth.agents.ask.grounded import run_grounded

    deps = runtime.context
    if not deps.settings.research_direct_answer:
        return {}
    round_ = state.get("round", 1)
    run = NodeRun(deps, "direct", round=round_)
    keeping = _Keeping(deps.retriever)
    result = await run_grounded(state["question"], dataclasses.replace(deps, llm=run.llm, retriever=keeping))
    calls: list[SearchRecord] = [
        {"query": s.query, "k": s.k, "hit_ids": list(s.hit_ids), "round": round_} for s in result.search_calls
    ]
    update: dict[str, Any] = {"search_calls": calls, "passages": keeping.passages}
    if result.finish != "answer":
        run.warn("no grounded answer: the report has no direct first sentence")
        return run.finish({**update, "direct": {"answer": "", "evidence": []}}, answer="")
    first = len(state.get("evidence") or []) + 1
    # A source is a user correction only when it is one of the run's: a retrieved passage may carry any id.
    corrections = patch_texts(state.get("patches") or [])
    items: list[EvidenceItem] = [
        {
            "passage_id": c.passage_id,
            "title": c.title,
            "quote": c.quote,
            "claim": result.answer,
            "kind": "patch" if c.passage_id in corrections else "passage",
            "round": round_,
        }
        for c in result.citations
    ]
    answer: DirectAnswer = {"answer": result.answer, "evidence": list(range(first, first + len(items)))}
    return run.finish({**update, "evidence": items, "direct": answer}, answer=result.answer)
