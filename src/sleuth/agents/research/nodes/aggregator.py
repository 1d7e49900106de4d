"""The aggregator node: merges a round's evidence into a mini-report and lists what is still unknown."""

from __future__ import annotations

from typing import Annotated, Any

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.nodes.base import NodeRun, chat, render_evidence
from sleuth.agents.research.routing import usd_budget_spent
from sleuth.agents.research.state import ResearchState, RoundRecord, add_usd
from sleuth.llm.base import StructuredOutputError
from sleuth.llm.pricing import format_usd
from sleuth.llm.structured import generate


class RoundSummary(BaseModel):
    """The aggregator's output."""

    summary: str = Field(
        max_length=800, description="What the evidence of this round establishes, in 1-4 sentences."
    )
    unknown: list[Annotated[str, Field(max_length=200)]] = Field(
        max_length=3, description="Parts of the question the evidence does not answer yet."
    )


async def aggregator(state: ResearchState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Summarise this round for the orchestrator's next plan.

    No LLM call when the round found no evidence (the whole question stays unknown) or when it is the
    last round (round limit, token budget or dollar budget reached). A spent dollar budget is announced
    (`budget_reached`): the run writes from the evidence it has.
    """
    deps = runtime.context
    round_ = state.get("round", 1)
    run = NodeRun(deps, "aggregator", round=round_, max_tokens=256)
    evidence = [e for e in state.get("evidence") or [] if e["round"] == round_]
    tasks = state.get("tasks") or []
    last_round = (
        round_ >= state.get("max_rounds", 1)
        or state.get("tokens_used", 0) >= state.get("token_budget", 0)
        or usd_budget_spent(state)
    )
    if not evidence:
        summary = RoundSummary(summary="", unknown=[state["question"]])
    elif last_round:
        # No further round can use "what is unknown", and the writer reads the evidence itself: on a
        # slow local model this saves one sequential LLM call per run.
        summary = RoundSummary(summary="", unknown=[])
    else:
        user = (
            f"QUESTION: {state['question']}\n\nSEARCHES: {'; '.join(t['query'] for t in tasks)}"
            f"\n\nEVIDENCE:\n{render_evidence(evidence)}"
        )
        try:
            summary = await generate(
                run.llm,
                chat(deps.prompts["aggregator"], user),
                RoundSummary,
                agent="aggregator",
                params=run.params,
            )
        except StructuredOutputError as exc:
            run.log.add_error("aggregator", str(exc), exc.raw_outputs)
            run.warn("aggregator output was not valid JSON; stopping the search here")
            summary = RoundSummary(summary="", unknown=[])
    unknown = [u.strip() for u in summary.unknown if u.strip()]
    record: RoundRecord = {"round": round_, "tasks": tasks, "summary": summary.summary.strip(), "unknown": unknown}
    if state.get("usd_budget") is not None:
        _check_budget(run, state)
    return run.finish({"rounds": [record], "unknown": unknown}, unknown=unknown)


def _check_budget(run: NodeRun, state: ResearchState) -> None:
    """Say when the dollar budget stops the research here (what `routing.after_aggregator` then does), and
    which models it cannot see (not in the price table, so their calls count nothing)."""
    seen = {m for record in state.get("usage") or [] for m in (record.get("models") or {}).values()}
    unpriced = sorted(m for m in seen | set(run.log.models().values()) if run.deps.prices.price(m) is None)
    if unpriced:
        run.warn(f"the dollar budget does not count calls to {', '.join(unpriced)}: not in the price table")
    if not usd_budget_spent(state, run.cost_so_far()):
        return
    spent = add_usd(state.get("usd_used", 0.0), run.cost_so_far())
    budget = state.get("usd_budget")
    run.deps.events.emit(
        "budget_reached",
        "aggregator",
        round=state.get("round", 1),
        spent_usd=spent,
        budget_usd=budget,
        message=f"the dollar budget is spent ({format_usd(spent)} of {format_usd(budget)}): no further "
        "searching, the answer is written from the evidence found so far",
    )
