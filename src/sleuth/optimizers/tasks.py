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
from sleuth.names import Strategy
from sleuth.optimizers.base import RoleCall, Rollout, Search
from sleuth.prompts.sets import PromptSet
from sleuth.retrieval.base import RecordingRetriever, Retriever

GROUNDED_ROLES = ("ask_read", "ask_read_next", "ask_read_final")
"""The grounded ask strategy's prompts (the default strategy): the readings' system prompt and the
instruction said last in a reading that may ask for a search, and in the final one."""
ASP_ROLES = ("ask", "ask_reminder", "ask_followup", "summarizer")
"""The ASP tag loop's prompts: its system prompt, the cues said around the first search and each result,
and the summariser of search results."""
RESEARCH_ROLES = ("orchestrator", "reader", "aggregator", "writer")


def agent_roles(agent: str, strategy: Strategy = "grounded") -> tuple[str, ...]:
    """The prompt roles an optimization job on `agent` (and, for `ask`, its strategy) can tune."""
    if agent == "research":
        return RESEARCH_ROLES
    return GROUNDED_ROLES if strategy == "grounded" else ASP_ROLES


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
    """Runs the short-answer agent (`sleuth.agents.ask.short_answer.ask_short`) with `strategy` on one example:
    the grounded readings (default) or the ASP tag loop's always-search variant."""

    strategy: Strategy = "grounded"

    @property
    def roles(self) -> tuple[str, ...]:
        return agent_roles("ask", self.strategy)

    async def _answer(
        self, question: str, prompts: PromptSet, llm: ChatModel, retriever: Retriever
    ) -> tuple[str, list[Citation]]:
        from sleuth.agents.ask.short_answer import ask_short
        from sleuth.agents.deps import AgentDeps

        deps = AgentDeps(
            llm=llm,
            retriever=retriever,
            prompts=prompts,
            settings=self.settings,
            patches=self.patches,
            collection=self.collection,
        )
        result = await ask_short(question, deps, strategy=self.strategy)
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
