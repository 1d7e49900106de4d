"""The search node: runs each task's query against the retriever and splits new hits into reader batches."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.nodes.base import NodeRun
from sleuth.agents.research.state import PassageRecord, ReaderBatch, ResearchState, SearchRecord


async def search(state: ResearchState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Search every task of the round; passages already read in this run are not read again."""
    deps = runtime.context
    round_ = state.get("round", 1)
    run = NodeRun(deps, "search", round=round_)
    size = max(1, deps.settings.reader_batch_size)
    k = deps.settings.search_k
    seen = set(state.get("passages") or {})
    calls: list[SearchRecord] = []
    passages: dict[str, PassageRecord] = {}
    batches: list[ReaderBatch] = []
    for task in state.get("tasks") or []:
        hits = await deps.search(task["query"], k)
        calls.append({"query": task["query"], "k": k, "hit_ids": [h.passage.id for h in hits], "round": round_})
        deps.events.emit(
            "search",
            "search",
            query=task["query"],
            k=k,
            hits=len(hits),
            titles=[h.passage.title for h in hits][:5],
        )
        fresh: list[PassageRecord] = []
        for hit in hits:
            if hit.passage.id in seen:
                continue
            seen.add(hit.passage.id)
            record: PassageRecord = {"id": hit.passage.id, "title": hit.passage.title, "text": hit.passage.text}
            passages[hit.passage.id] = record
            fresh.append(record)
        for start in range(0, len(fresh), size):
            batches.append(
                {
                    "batch_id": f"r{round_}-{len(batches) + 1}",
                    "round": round_,
                    "task": task,
                    "passages": fresh[start : start + size],
                    "question": state["question"],
                    "patches": state.get("patches") or [],
                }
            )
    return run.finish({"search_calls": calls, "passages": passages, "batches": batches}, batches=len(batches))
