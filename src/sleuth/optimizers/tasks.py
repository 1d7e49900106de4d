"""Tasks the optimizers run: the `ask` and `research` agents with a candidate prompt set, fully recorded.

Each rollout wraps the shared model and retriever in recorders, so the optimizer sees every call each
role made (its input and output) and every search, whatever the agent's own result records.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sleuth.config import Settings
from sleuth.evals.datasets import QAExample
from sleuth.feedback.base import NoPatches, PatchSource
from sleuth.llm.base import ChatModel, ChatRequest, Completion, ModelWrapper
from sleuth.optimizers.base import RoleCall, Rollout, Search
from sleuth.prompts.sets import PromptSet
from sleuth.retrieval.base import Filter, Hit, Retriever

ASK_ROLES = ("ask", "ask_reminder", "ask_followup", "summarizer")
RESEARCH_ROLES = ("orchestrator", "reader", "aggregator", "writer")


class RecordingModel(ModelWrapper):
    """A `ChatModel` that passes calls through and keeps (role, messages, output) of each."""

    def __init__(self, inner: ChatModel) -> None:
        super().__init__(inner)
        self.calls: list[RoleCall] = []

    async def respond(self, request: ChatRequest) -> Completion:
        completion = await self.forward(request)
        self.calls.append(RoleCall(request.agent, list(request.messages), completion.text))
        return completion


class RecordingRetriever:
    """A `Retriever` that passes searches through and keeps each query with the passages it returned."""

    def __init__(self, inner: Retriever) -> None:
        self.inner = inner
        self.searches: list[Search] = []
        self._lock = threading.Lock()  # agents search from worker threads

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        hits = self.inner.search(query, k, where=where)
        with self._lock:
            self.searches.append(Search(query, {h.passage.id: h.passage.text for h in hits}))
        return hits


def _dump(value: Any) -> dict[str, Any]:
    return value.model_dump() if hasattr(value, "model_dump") else dict(value)


@dataclass
class AskTask:
    """Runs `sleuth.agents.ask.run_ask` (always-search variant) on one example.

    Args:
        llm: the task model, shared by all rollouts.
        retriever: searches the collection the dataset's questions are answered from.
        settings: agent limits (turns, k).
        patches: user corrections shown to the agent (the never-regress examples need them).
    """

    llm: ChatModel
    retriever: Retriever
    settings: Settings
    patches: PatchSource = field(default_factory=NoPatches)
    collection: str = "demo"
    roles: tuple[str, ...] = ASK_ROLES

    async def run(self, example: QAExample, prompts: PromptSet) -> Rollout:
        from sleuth.agents.ask import run_ask
        from sleuth.agents.deps import AgentDeps

        llm, retriever = RecordingModel(self.llm), RecordingRetriever(self.retriever)
        rollout = Rollout(example, calls=llm.calls, searches=retriever.searches)
        deps = AgentDeps(
            llm=llm,
            retriever=retriever,
            prompts=prompts,
            settings=self.settings,
            patches=self.patches,
            collection=self.collection,
        )
        result = await run_ask(example.question, deps, variant="always")
        rollout.answer = result.answer
        rollout.citations = [_dump(c) for c in result.citations]
        return rollout


@dataclass
class ResearchTask:
    """Runs the research graph through `sleuth.api.Sleuth(...).research` on one example."""

    llm: ChatModel
    retriever: Retriever
    settings: Settings
    patches: PatchSource = field(default_factory=NoPatches)
    collection: str = "demo"
    roles: tuple[str, ...] = RESEARCH_ROLES

    async def run(self, example: QAExample, prompts: PromptSet) -> Rollout:
        from sleuth.api import Sleuth  # imported late: it pulls in langgraph

        llm, retriever = RecordingModel(self.llm), RecordingRetriever(self.retriever)
        rollout = Rollout(example, calls=llm.calls, searches=retriever.searches)
        app = Sleuth(
            self.settings,
            llm=llm,
            retriever=retriever,
            patches=self.patches,
            collection=self.collection,
            checkpoints="memory",
        )
        report = await app.research(example.question, prompts=prompts)
        rollout.answer = report.answer
        rollout.citations = [_dump(c) for c in report.citations]
        return rollout
