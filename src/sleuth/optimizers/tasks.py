"""Tasks the optimizers run: the `ask` and `research` agents with a candidate prompt set, fully recorded.

Each rollout wraps the shared model and retriever in recorders, so the optimizer sees every call each
role made (its input and output) and every search, whatever the agent's own result records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from sleuth.agents.records import Citation
from sleuth.config import Settings
from sleuth.evals.datasets import QAExample
from sleuth.feedback.base import NoPatches, PatchSource
from sleuth.llm.base import ChatModel, ChatRequest, Completion, ModelWrapper
from sleuth.optimizers.base import RoleCall, Rollout, Search
from sleuth.prompts.sets import PromptSet
from sleuth.retrieval.base import RecordingRetriever, Retriever

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


@dataclass
class _AgentTask(ABC):
    """Runs one agent on one example with the shared model and retriever wrapped in recorders.

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

    async def run(self, example: QAExample, prompts: PromptSet) -> Rollout:
        llm, retriever = RecordingModel(self.llm), RecordingRetriever(self.retriever)
        answer, citations = await self._answer(example.question, prompts, llm, retriever)
        searches = [
            Search(query, {h.passage.id: h.passage.text for h in hits}) for query, hits in retriever.searches
        ]
        return Rollout(
            example,
            answer=answer,
            calls=llm.calls,
            searches=searches,
            citations=[c.model_dump() for c in citations],
        )

    @abstractmethod
    async def _answer(
        self, question: str, prompts: PromptSet, llm: ChatModel, retriever: Retriever
    ) -> tuple[str, list[Citation]]:
        """The agent's answer and citations (each agent's task says how it runs)."""


@dataclass
class AskTask(_AgentTask):
    """Runs `sleuth.agents.ask.loop.run_ask` (always-search variant) on one example."""

    roles: tuple[str, ...] = ASK_ROLES

    async def _answer(
        self, question: str, prompts: PromptSet, llm: ChatModel, retriever: Retriever
    ) -> tuple[str, list[Citation]]:
        from sleuth.agents.ask.loop import run_ask
        from sleuth.agents.deps import AgentDeps

        deps = AgentDeps(
            llm=llm,
            retriever=retriever,
            prompts=prompts,
            settings=self.settings,
            patches=self.patches,
            collection=self.collection,
        )
        result = await run_ask(question, deps, variant="always")
        return result.answer, list(result.citations)


@dataclass
class ResearchTask(_AgentTask):
    """Runs the research graph through `sleuth.api.Sleuth(...).research` on one example."""

    roles: tuple[str, ...] = RESEARCH_ROLES

    async def _answer(
        self, question: str, prompts: PromptSet, llm: ChatModel, retriever: Retriever
    ) -> tuple[str, list[Citation]]:
        from sleuth.api import Sleuth  # imported late: it pulls in langgraph

        app = Sleuth(
            self.settings,
            llm=llm,
            retriever=retriever,
            patches=self.patches,
            collection=self.collection,
            checkpoints="memory",
        )
        report = await app.research(question, prompts=prompts)
        return report.answer, list(report.citations)
