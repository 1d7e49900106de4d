"""What agent nodes are given: the LLM, the retriever, the feedback patches, the prompts, the settings, the
price table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sleuth.agents.events import EventLog
from sleuth.config import Settings
from sleuth.feedback.base import NoPatches, PatchSource
from sleuth.llm.base import ChatModel
from sleuth.llm.pricing import PriceTable
from sleuth.prompts.sets import PromptSet
from sleuth.retrieval.base import Hit, Passage, Retriever
from sleuth.tracing import record_hits, search_span


@dataclass
class AgentDeps:
    """Dependencies of one run (LangGraph's `context`); state lives in the graph, not here.

    Args:
        llm: the chat model (wrap it in `MeteredModel` per run to collect usage); `llm.connect` gives a
            `RoleRouter`, which sends each call to its role's model.
        retriever: searches the collection.
        prompts: role -> prompt text.
        settings: limits and defaults (rounds, batch sizes, k).
        patches: user corrections relevant to a query (PatchRAG); empty by default.
        lookup: passage id -> passage, for citation verification of passages not in this run's hits.
        events: where the run reports progress.
        collection: the collection searched (scopes the patches).
        tenant: the tenant whose patches apply.
        prices: what calls cost per model (`llm.pricing`); empty by default, so every cost is unknown.
    """

    llm: ChatModel
    retriever: Retriever
    prompts: PromptSet
    settings: Settings
    patches: PatchSource = field(default_factory=NoPatches)
    lookup: Callable[[str], Passage | None] | None = None
    events: EventLog = field(default_factory=EventLog)
    collection: str = "demo"
    tenant: str | None = None
    prices: PriceTable = field(default_factory=PriceTable)

    async def search(self, query: str, k: int) -> list[Hit]:
        """`retriever.search(query, k)` inside a search span, on a worker thread: retrievers are synchronous
        (BM25, embeddings, Chroma), and the event loop stays free for the other readers."""
        with search_span(query, k) as span:
            hits = await asyncio.to_thread(self.retriever.search, query, k)
            record_hits(span, len(hits))
        return hits
