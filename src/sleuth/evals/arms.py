"""Eval arms: one way of answering a question (an agent variant, the naive floor, the oracle ceiling),
each returning the same `ArmRun` record so every arm is scored the same way."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sleuth.config import Settings
from sleuth.evals.datasets import QAExample
from sleuth.llm.base import ChatModel, GenParams, Message
from sleuth.llm.pricing import PriceTable
from sleuth.llm.usage import MeteredModel
from sleuth.names import VARIANTS, Form
from sleuth.prompts.sets import PromptSet
from sleuth.retrieval.base import Passage, RecordingRetriever, Retriever

if TYPE_CHECKING:
    from sleuth.agents.results import AgentResult

ASK_ARMS: tuple[str, ...] = ("grounded", *VARIANTS)
"""`grounded` is the grounded strategy; `always`, `free` and `closed` the ASP tag loop's variants."""
BASELINE_ARMS = ("naive", "oracle")
ALL_ARMS = (*ASK_ARMS, *BASELINE_ARMS)

# The baselines read with a fixed prompt, not the prompt set's `ask` role: they are yardsticks, and must
# not move when the agent's prompts are optimized.
READ_PROMPT = (
    "Answer the question using only the passages below. Give the shortest possible answer (a name, a date, "
    "a number or a few words), inside <answer></answer>, with no explanation."
)
_MARKS = re.compile(r"(?:\[\d+\])+")
"""The citation markers after one verified sentence."""
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL | re.IGNORECASE)


@dataclass
class ArmRun:
    """What one arm did on one question: the answer and what it cost."""

    answer: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    search_calls: int = 0
    turns: int = 0
    retrieved_ids: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float | None = None
    """Dollars of the arm's calls by the price table; None when a model is not in it."""
    trajectory: Any = None
    """The agent's own record of the run (messages or events), kept for distillation and debugging."""
    details: dict[str, Any] = field(default_factory=dict)
    """What an arm adds about its answer's shape (a research run: form, sections, sentences kept and dropped)."""


class Arm(Protocol):
    """Answers one question; raising is allowed (the runner records the error and scores zero)."""

    @property
    def name(self) -> str: ...

    async def run(self, example: QAExample) -> ArmRun: ...


@dataclass
class ArmContext:
    """What every arm of one eval run shares: the model, the retrievers, the prompts, the corpus."""

    llm: ChatModel
    settings: Settings
    prompts: PromptSet
    retriever: Callable[[str], Retriever]
    """mode ("bm25", "dense", "hybrid") -> retriever over the dataset's collection."""
    lookup: Callable[[str], Passage | None]
    collection: str = "eval"
    agent_mode: str = "hybrid"
    """Retrieval mode the agents search with."""
    prices: PriceTable = field(default_factory=PriceTable)
    """What the arms' calls cost (empty: every cost unknown)."""


def extract_answer(text: str) -> str:
    """The text inside `<answer>` tags, else the whole reply (small models forget the tag)."""
    match = _ANSWER.search(text)
    return (match.group(1) if match else text).strip()


def _agent_run(
    result: AgentResult, meter: MeteredModel, recorder: RecordingRetriever, started: float, prices: PriceTable
) -> ArmRun:
    return ArmRun(
        answer=result.answer,
        citations=[c.model_dump(mode="json") for c in result.citations],
        search_calls=len(result.search_calls),
        turns=result.turns,
        retrieved_ids=list(recorder.hit_ids),
        prompt_tokens=sum(c.prompt_tokens for c in meter.log.calls),
        completion_tokens=sum(c.completion_tokens for c in meter.log.calls),
        latency_s=time.perf_counter() - started,
        cost_usd=prices.cost_of(meter.log.calls),
        trajectory=[step.model_dump(mode="json") for step in result.trajectory] or None,
    )


def _deps(ctx: ArmContext, meter: MeteredModel, recorder: RecordingRetriever) -> Any:
    from sleuth.agents.deps import AgentDeps

    return AgentDeps(
        llm=meter,
        retriever=recorder,
        prompts=ctx.prompts,
        settings=ctx.settings,
        lookup=ctx.lookup,
        collection=ctx.collection,
        prices=ctx.prices,
    )


@dataclass
class AskArm:
    """The `ask` agent: the grounded strategy, or the ASP loop with one prompt variant (always-search,
    free-search or closed-book)."""

    ctx: ArmContext
    name: str
    """`grounded`, or one of the ASP loop's `VARIANTS`."""

    async def run(self, example: QAExample) -> ArmRun:
        from sleuth.agents.ask.short_answer import ask_short

        meter, recorder = MeteredModel(self.ctx.llm), RecordingRetriever(self.ctx.retriever(self.ctx.agent_mode))
        started = time.perf_counter()
        deps = _deps(self.ctx, meter, recorder)
        if self.name == "grounded":
            result = await ask_short(example.question, deps, strategy="grounded")
        else:
            variant = next(v for v in VARIANTS if v == self.name)
            result = await ask_short(example.question, deps, strategy="asp", variant=variant)
        return _agent_run(result, meter, recorder, started, self.ctx.prices)


@dataclass
class ResearchArm:
    """The deep-research graph (`run_research`, what `Sleuth.research` runs), scored on its long answer: the
    short form as arm `research`, the sectioned report as arm `report`."""

    ctx: ArmContext
    form: Form = "answer"

    @property
    def name(self) -> str:
        return "report" if self.form == "report" else "research"

    async def run(self, example: QAExample) -> ArmRun:
        from sleuth.agents.research.report import ReportOptions
        from sleuth.agents.research.run import run_research

        meter, recorder = MeteredModel(self.ctx.llm), RecordingRetriever(self.ctx.retriever(self.ctx.agent_mode))
        started = time.perf_counter()
        options = ReportOptions(form=self.form)
        result = await run_research(example.question, _deps(self.ctx, meter, recorder), options=options)
        run = _agent_run(result, meter, recorder, started, self.ctx.prices)
        kept = len(_MARKS.findall(result.answer.split("\n## Sources", 1)[0]))
        run.details = {
            "form": self.form,
            "sections": len(result.report.sections) if result.report else 0,
            "kept_sentences": kept,
            "dropped_sentences": len(result.dropped_sentences),
        }
        return run


async def read_passages(
    llm: ChatModel, question: str, passages: list[Passage], max_tokens: int = 64
) -> tuple[str, MeteredModel]:
    """Answer from the given passages in one call; returns the short answer and the metered model."""
    meter = MeteredModel(llm)
    context = "\n\n".join(f"[{i}] {p.title}\n{p.text}" for i, p in enumerate(passages, 1))
    messages: list[Message] = [
        {"role": "system", "content": READ_PROMPT},
        {"role": "user", "content": f"Passages:\n{context or '(none)'}\n\nQuestion: {question}"},
    ]
    completion = await meter.complete(
        messages, params=GenParams(temperature=0.0, max_tokens=max_tokens), agent="reader"
    )
    return extract_answer(completion.text), meter


def _baseline_run(
    ctx: ArmContext, answer: str, meter: MeteredModel, passages: list[Passage], started: float, searches: int
) -> ArmRun:
    return ArmRun(
        answer=answer,
        search_calls=searches,
        turns=1,
        retrieved_ids=[p.id for p in passages],
        prompt_tokens=sum(c.prompt_tokens for c in meter.log.calls),
        completion_tokens=sum(c.completion_tokens for c in meter.log.calls),
        latency_s=time.perf_counter() - started,
        cost_usd=ctx.prices.cost_of(meter.log.calls),
    )


@dataclass
class NaiveArm:
    """One BM25 top-k retrieval on the question, then one answer: the floor an agent must beat."""

    ctx: ArmContext
    k: int = 5
    name: str = "naive"

    async def run(self, example: QAExample) -> ArmRun:
        started = time.perf_counter()
        passages = [h.passage for h in self.ctx.retriever("bm25").search(example.question, self.k)]
        answer, meter = await read_passages(self.ctx.llm, example.question, passages)
        return _baseline_run(self.ctx, answer, meter, passages, started, searches=1)


@dataclass
class OracleArm:
    """The gold passages given directly: the reading ceiling of the model."""

    ctx: ArmContext
    name: str = "oracle"

    async def run(self, example: QAExample) -> ArmRun:
        if not example.gold_passage_ids:
            raise ValueError(f"question {example.id} has no gold_passage_ids: the oracle arm needs them")
        started = time.perf_counter()
        passages = [p for p in map(self.ctx.lookup, example.gold_passage_ids) if p is not None]
        if not passages:
            raise ValueError(f"question {example.id}: none of its gold passages is in the corpus")
        answer, meter = await read_passages(self.ctx.llm, example.question, passages)
        return _baseline_run(self.ctx, answer, meter, passages, started, searches=0)


def build_arms(names: list[str], ctx: ArmContext, agent: str = "ask") -> list[Arm]:
    """Arms by name. With `agent="research"` the agent arm is `research` (it has no prompt variants).

    Raises:
        ValueError: an unknown arm name, or an ask variant asked of the research agent.
    """
    arms: list[Arm] = []
    for name in names:
        if name == "naive":
            arms.append(NaiveArm(ctx))
        elif name == "oracle":
            arms.append(OracleArm(ctx))
        elif agent == "research" and name in ("research", "always"):
            arms.append(ResearchArm(ctx))
        elif agent == "ask" and name in ASK_ARMS:
            arms.append(AskArm(ctx, name))  # type: ignore[arg-type]  # narrowed by the test above
        else:
            valid = ("research", *BASELINE_ARMS) if agent == "research" else ALL_ARMS
            raise ValueError(f"unknown arm {name!r} for agent {agent!r}; choose from {', '.join(valid)}")
    return arms
