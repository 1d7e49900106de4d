"""The research graph's state: plain JSON-able records, merged across parallel readers by reducers.

Everything here is a TypedDict of strings, numbers and lists so the SQLite checkpointer can store a run
and a later process can resume it.
"""

from __future__ import annotations

import operator
from decimal import Decimal
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from sleuth.names import Form


class Task(TypedDict):
    """One step of the orchestrator's plan: what to search and what to look for in the hits."""

    query: str
    instructions: str


class PassageRecord(TypedDict):
    """A retrieved passage as the run keeps it (for readers and citation checks)."""

    id: str
    title: str
    text: str


class SearchRecord(TypedDict):
    """One retrieval call: the query, how many hits were asked for, which passages came back."""

    query: str
    k: int
    hit_ids: list[str]
    round: int


class PatchRecord(TypedDict):
    id: str
    query: str
    answer: str
    evidence: str
    score: float
    flags: list[str]


class ReaderBatch(TypedDict):
    """The input a `Send` gives one reader: a task and a batch of its hits."""

    batch_id: str
    round: int
    task: Task
    passages: list[PassageRecord]
    question: str
    patches: list[PatchRecord]
    """The run's corrections, shown to the reader before the passages."""


class EvidenceItem(TypedDict):
    """A verified quote: it occurs in `passage_id`'s text (or is a user correction's evidence)."""

    passage_id: str
    title: str
    quote: str
    claim: str
    kind: Literal["passage", "patch"]
    round: int


class RoundRecord(TypedDict):
    """What one round planned and concluded (the `plan`/rounds of the report)."""

    round: int
    tasks: list[Task]
    summary: str
    unknown: list[str]


class UsageRecord(TypedDict):
    """Cost of one node execution: LLM calls, tokens, time inside the LLM and wall time, the model that served
    each role it called, and dollars (None: a model the price table does not price)."""

    node: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    llm_s: float
    wall_s: float
    models: NotRequired[dict[str, str]]
    """Role -> model; absent in runs checkpointed before models were recorded."""
    cost_usd: NotRequired[float | None]


class DraftSentence(TypedDict):
    """One sentence of the writer's draft with the evidence numbers (1-based) it cites."""

    text: str
    evidence: list[int]


class DirectAnswer(TypedDict):
    """The grounded short answer the report opens with, and the (1-based) evidence items backing it."""

    answer: str
    evidence: list[int]


class DroppedSentence(TypedDict):
    text: str
    reason: str


class VerifiedSentence(TypedDict):
    """A sentence that passed verification and the (1-based) numbers of the citations that support it."""

    text: str
    cites: list[int]


class OutlineSection(TypedDict):
    """One section of a report's plan: its heading and the sub-questions it searches for."""

    heading: str
    questions: list[str]


class Outline(TypedDict):
    title: str
    sections: list[OutlineSection]


class SectionTask(TypedDict):
    """The input a `Send` gives one section writer."""

    index: int
    heading: str
    questions: list[str]
    question: str
    patches: list[PatchRecord]
    language: str
    words: int
    round: int
    passages: list[PassageRecord]
    """The passages `gather` gave this section (each passage goes to one section only)."""
    used: list[str]
    """Quotes the report's opening already draws on: a section does not repeat them."""


class SectionRecord(TypedDict):
    """A researched, written and verified section; citation numbers are the section's own (1-based)."""

    index: int
    heading: str
    questions: list[str]
    sentences: list[VerifiedSentence]
    citations: list[CitationRecord]
    dropped: list[DroppedSentence]


class CitationRecord(TypedDict):
    n: int
    passage_id: str
    title: str
    quote: str
    kind: str


def add_usd(left: float, right: float) -> float:
    """Dollars add up exactly (as decimals), so a budget is reached at the sum the price table gives."""
    return float(Decimal(str(left)) + Decimal(str(right)))


def merge_passages(left: dict[str, PassageRecord], right: dict[str, PassageRecord]) -> dict[str, PassageRecord]:
    return {**left, **right}


class ResearchState(TypedDict, total=False):
    """State of one research run; list fields marked `operator.add` accumulate over rounds."""

    question: str
    collection: str
    max_rounds: int
    token_budget: int
    """Limits fixed at the start of a run (kept in state so a resumed run keeps them)."""
    round: int
    """Rounds planned so far (the orchestrator increments it)."""
    tasks: list[Task]
    """The current round's tasks."""
    patches: list[PatchRecord]
    rounds: Annotated[list[RoundRecord], operator.add]
    search_calls: Annotated[list[SearchRecord], operator.add]
    passages: Annotated[dict[str, PassageRecord], merge_passages]
    batches: list[ReaderBatch]
    """The current round's reader inputs (one `Send` each)."""
    evidence: Annotated[list[EvidenceItem], operator.add]
    rejected_quotes: Annotated[int, operator.add]
    unknown: list[str]
    tokens_used: Annotated[int, operator.add]
    usd_budget: float | None
    """Dollars the run may spend on research rounds (`SLEUTH_MAX_COST_USD`), fixed at its start; None: no limit."""
    usd_used: Annotated[float, add_usd]
    """Dollars of the run's priced calls so far."""
    usage: Annotated[list[UsageRecord], operator.add]
    direct: DirectAnswer
    """The direct node's grounded answer ("" when it found none): the writer's first sentence."""
    draft: list[DraftSentence]
    writer_attempts: int
    writer_feedback: str
    answer: str
    status: Literal["answered", "no_evidence"]
    citations: list[CitationRecord]
    dropped_sentences: list[DroppedSentence]
    writer_fallback: bool
    verified: list[VerifiedSentence]
    """The answer's sentences as verification kept them (the report's opening)."""
    form: Form
    approve_plan: bool
    """Report form: pause after the outline until a person approves (or edits) it."""
    language: str
    length_words: int
    """Report form: the target length of the sections together, in words."""
    outline: Outline
    section_tasks: list[SectionTask]
    """The sections' inputs, with the passages `gather` shared out (one `Send` each)."""
    sections: Annotated[list[SectionRecord], operator.add]
    report: dict[str, Any]
    """Report form: the finished `agents.report.Report`, as JSON."""
    follow_up_of: str
    """The earlier run whose passages and evidence this run started with."""
