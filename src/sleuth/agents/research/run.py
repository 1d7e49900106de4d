"""Running the research graph: start or resume a run under a checkpointer and return its report."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from sleuth.agents.deps import AgentDeps
from sleuth.agents.records import with_sources
from sleuth.agents.research.graph import research_graph
from sleuth.agents.research.nodes.outline import parse_plan
from sleuth.agents.research.report import ReportOptions
from sleuth.agents.research.state import EvidenceItem, PassageRecord
from sleuth.agents.results import ResearchReport, report_from_state
from sleuth.config import Settings
from sleuth.private import private_file
from sleuth.tracing import spans


class UnknownRunError(ValueError):
    """`--resume RUN_ID` named a run the checkpoint store does not hold."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


@asynccontextmanager
async def sqlite_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver]:
    """The durable checkpoint store of all runs: `SLEUTH_HOME/runs/checkpoints.sqlite`."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    checkpoints = private_file(settings.runs_dir / "checkpoints.sqlite")
    async with AsyncSqliteSaver.from_conn_string(str(checkpoints)) as saver:
        yield saver


async def stored_run(run_id: str, checkpointer: BaseCheckpointSaver) -> dict[str, Any] | None:
    """The saved state of a run (question, collection, ...), or None when the store has no such run."""
    snapshot = await research_graph(checkpointer).aget_state({"configurable": {"thread_id": run_id}})
    return dict(snapshot.values) if snapshot.values else None


MAX_PRIOR_EVIDENCE = 16
"""Quotes of the earlier run a follow-up starts with, at most."""


def prior_evidence(stored: dict[str, Any]) -> tuple[dict[str, PassageRecord], list[EvidenceItem]]:
    """An earlier run's passages and verified quotes (its sections' included), for a follow-up to start from.

    User corrections are left out: the follow-up's own round 1 looks up the corrections relevant to it.
    """
    passages: dict[str, PassageRecord] = dict(stored.get("passages") or {})
    items: list[EvidenceItem] = []
    seen: set[tuple[str, str]] = set()
    cited = [c for record in stored.get("sections") or [] for c in record["citations"]]
    candidates = [
        *(e for e in stored.get("evidence") or [] if e["kind"] == "passage"),
        *(
            {
                "passage_id": c["passage_id"],
                "title": c["title"],
                "quote": c["quote"],
                "claim": c["quote"],
                "kind": "passage",
                "round": 0,
            }
            for c in cited
            if c["kind"] == "passage"
        ),
    ]
    for item in candidates:
        key = (item["passage_id"], item["quote"])
        if key not in seen and item["passage_id"] in passages:
            seen.add(key)
            items.append({**item, "round": 0})  # type: ignore[typeddict-item]
    # The opening's quotes come first; a long report's tail is cut so the writer's prompt stays readable.
    return passages, items[:MAX_PRIOR_EVIDENCE]


async def run_research(
    question: str | None,
    deps: AgentDeps,
    *,
    run_id: str | None = None,
    checkpointer: BaseCheckpointSaver | None = None,
    max_rounds: int | None = None,
    options: ReportOptions | None = None,
    approve: bool = False,
    plan: dict[str, Any] | None = None,
    follow_up: str | None = None,
) -> ResearchReport:
    """Run the deep-research graph, or resume run `run_id` when `question` is None.

    Every node's output is checkpointed under the run id (the LangGraph thread id), so a run that
    failed half-way resumes from its last finished step: finished nodes are not run again. A report run
    with `approve_plan` returns with status `awaiting_approval` after its outline; resuming it with `approve`
    runs the plan as drafted, or `plan` (an edited plan) when given; resuming without `approve` pauses again. `follow_up` names an earlier
    run whose passages and verified quotes this new run starts with (it still searches its own question).

    Raises:
        UnknownRunError: resuming a run id (or following up on one) the checkpointer does not hold.
        PlanError: `plan` is not a valid plan.
        PolicyViolationError: the graph reached the writer without searching (a bug, never expected).
    """
    checkpointer = checkpointer if checkpointer is not None else InMemorySaver()
    run_id = run_id or new_run_id()
    graph = research_graph(checkpointer)
    settings = deps.settings
    rounds = max_rounds or settings.max_rounds
    config: dict[str, Any] = {"configurable": {"thread_id": run_id}, "recursion_limit": 12 * rounds + 30}
    started = time.perf_counter()
    inputs: Any
    options = options or ReportOptions()
    resuming = question is None
    form = options.form
    if question is None:
        snapshot = await graph.aget_state(config)
        if not snapshot.values:
            raise UnknownRunError(f"no run {run_id!r} in the checkpoint store")
        question, form = snapshot.values["question"], snapshot.values.get("form", form)
        # Finished runs are returned as they are; unfinished ones continue from their last checkpoint; a run
        # paused for approval continues with the approved plan (checked here, before anything runs).
        waiting = any(task.interrupts for task in snapshot.tasks)
        inputs = None
        if waiting and approve:
            inputs = Command(resume=True if plan is None else parse_plan(plan))
        config["recursion_limit"] = 12 * snapshot.values.get("max_rounds", rounds) + 30
    else:
        inputs = {
            "question": question,
            "collection": deps.collection,
            "max_rounds": rounds,
            "token_budget": settings.token_budget,
            "usd_budget": settings.max_cost_usd,
            "round": 0,
            "writer_attempts": 0,
            "form": options.form,
            "approve_plan": options.approve_plan,
            "language": options.language,
            "length_words": options.length_words,
        }
        if follow_up:
            stored = await stored_run(follow_up, checkpointer)
            if stored is None:
                raise UnknownRunError(f"no run {follow_up!r} in the checkpoint store to follow up on")
            inputs["passages"], inputs["evidence"] = prior_evidence(stored)
            inputs["follow_up_of"] = follow_up
    attributes = {
        spans.RUN_ID: run_id,
        spans.FORM: form,
        spans.COLLECTION: deps.collection,
        spans.RESUMED: resuming,
    }
    with spans.run_span("research", question, attributes, content=settings.trace_content) as span:
        deps.events.emit(
            "run_started", run_id=run_id, question=question, resumed=resuming, prompt_set_hash=deps.prompts.hash
        )
        try:
            final = await graph.ainvoke(inputs, config, context=deps)
        except Exception as exc:
            deps.events.emit("error", error=f"{type(exc).__name__}: {exc}", run_id=run_id)
            raise
        wall = time.perf_counter() - started
        awaiting = bool(final.get("__interrupt__"))
        report = report_from_state(
            final,
            run_id=run_id,
            prompt_set=deps.prompts.name,
            prompt_set_hash=deps.prompts.hash,
            events=[],
            wall_s=wall,
            awaiting=awaiting,
        )
        # An answer's sources name their web address or PDF page, as a report's do (compose adds them there).
        report.citations = with_sources(report.citations, deps.lookup)
        if awaiting:
            deps.events.emit("awaiting_approval", run_id=run_id, outline=report.outline)
        deps.events.emit("run_finished", run_id=run_id, status=report.status, wall_s=round(wall, 3))
        report.events = list(deps.events.events)
        if span.is_recording():
            span.set_attribute(spans.STATUS, report.status)
            spans.record_text(span, "sleuth.answer", "sleuth.answer", report.answer)
        return report
