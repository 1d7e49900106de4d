"""The aggregator node: merges a round's evidence into a mini-report and lists what is still unknown."""

from __future__ import annotations

from typing import Annotated, Any

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from sleuth.agents.deps import AgentDeps
from sleuth.agents.nodes.base import NodeRun, chat, render_evidence
from sleuth.agents.state import ResearchState, RoundRecord
from sleuth.llm.base import StructuredOutputError
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
    last round (round limit or token budget reached).
    """
    deps = runtime.context
    round_ = state.get("round", 1)
    run = NodeRun(deps, "aggregator", round=round_, max_tokens=256)
    evidence = [e for e in state.get("evidence") or [] if e["round"] == round_]
    tasks = state.get("tasks") or []
    last_round = round_ >= state.get("max_rounds", 1) or state.get("tokens_used", 0) >= state.get(
        "token_budget", 0
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
    return run.finish({"rounds": [record], "unknown": unknown}, unknown=unknown)
