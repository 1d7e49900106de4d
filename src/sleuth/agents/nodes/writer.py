"""The writer node: drafts the answer as sentences that each name the evidence numbers they rest on.

Small models (Qwen2.5-0.5B) rarely place `[n]` markers reliably in free text, so the writer returns a
JSON list of sentences with evidence numbers and code renders the Markdown and its citations.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from sleuth.agents.deps import AgentDeps
from sleuth.agents.nodes.base import NodeRun, chat, render_evidence, render_patches
from sleuth.agents.policy import assert_searched
from sleuth.agents.state import DraftSentence, ResearchState
from sleuth.llm.base import StructuredOutputError
from sleuth.llm.structured import generate


class WriterSentence(BaseModel):
    text: str = Field(max_length=400, description="One sentence of the answer.")
    evidence: list[int] = Field(max_length=3, description="Numbers of the evidence items this sentence uses.")


class WriterOutput(BaseModel):
    """The writer's draft: the answer sentence by sentence, each with its evidence numbers."""

    sentences: list[WriterSentence] = Field(max_length=8)


def writer_prompt(state: ResearchState) -> str:
    # Corrections, then evidence, then the question with the task: with the question first, small models
    # tend to copy it back as their "answer".
    parts = []
    patches = render_patches(state.get("patches") or [])
    if patches:
        parts.append(patches)
    summaries = [r["summary"] for r in state.get("rounds") or [] if r["summary"]]
    if summaries:
        parts.append("NOTES:\n" + "\n".join(summaries))
    parts.append("EVIDENCE:\n" + render_evidence(state.get("evidence") or []))
    parts.append(
        f"QUESTION: {state['question']}\n"
        "Answer the question with statements from the evidence (do not repeat the question), "
        "each with its evidence numbers."
    )
    if state.get("writer_feedback"):
        parts.append(f"YOUR PREVIOUS DRAFT WAS REJECTED: {state['writer_feedback']}")
    return "\n\n".join(parts)


async def writer(state: ResearchState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Draft the answer from evidence only; with no evidence at all there is nothing to write."""
    assert_searched(state)
    deps = runtime.context
    attempt = state.get("writer_attempts", 0) + 1
    run = NodeRun(deps, "writer", attempt=attempt)
    evidence = state.get("evidence") or []
    if not evidence:
        return run.finish(
            {"draft": [], "status": "no_evidence", "writer_attempts": attempt, "writer_feedback": ""}
        )
    try:
        output = await generate(
            run.llm,
            chat(deps.prompts["writer"], writer_prompt(state)),
            WriterOutput,
            agent="writer",
            params=run.params,
        )
        draft: list[DraftSentence] = [{"text": s.text, "evidence": list(s.evidence)} for s in output.sentences]
    except StructuredOutputError as exc:
        run.log.add_error("writer", str(exc), exc.raw_outputs)
        run.warn("writer output was not valid JSON")
        draft = []
    return run.finish(
        {"draft": draft, "status": "answered", "writer_attempts": attempt, "writer_feedback": ""},
        sentences=len(draft),
    )
