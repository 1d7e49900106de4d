"""The writer node: drafts the answer as sentences that each name the evidence numbers they rest on.

Small models (Qwen2.5-0.5B) rarely place `[n]` markers reliably in free text, so the writer returns a
JSON list of sentences with evidence numbers and code renders the Markdown and its citations.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from sleuth.agents.ask.grounding import is_yes_no
from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.nodes.base import NodeRun, chat, render_evidence, render_patches
from sleuth.agents.research.policy import assert_searched
from sleuth.agents.research.state import DraftSentence, ResearchState
from sleuth.llm.base import StructuredOutputError
from sleuth.llm.structured import generate
from sleuth.text import prompt_literal


class WriterSentence(BaseModel):
    text: str = Field(max_length=400, description="One sentence of the answer.")
    evidence: list[int] = Field(max_length=3, description="Numbers of the evidence items this sentence uses.")


class WriterOutput(BaseModel):
    """The writer's draft: the answer sentence by sentence, each with its evidence numbers."""

    sentences: list[WriterSentence] = Field(max_length=8)


def direct_sentences(state: ResearchState) -> list[DraftSentence]:
    """The report's opening: the grounded answer, then each quote that backs it as its own sentence.

    The answer cites the quotes that contain it; a yes/no answer leads into its first quote (a bare "Yes."
    shares no word with any evidence). The quotes are verbatim passage text, so they pass verification.
    """
    direct = state.get("direct") or {"answer": "", "evidence": []}
    evidence = state.get("evidence") or []
    refs = [n for n in direct["evidence"] if 1 <= n <= len(evidence)]
    answer = direct["answer"].strip().rstrip(".")
    if not answer or not refs:
        return []

    def quoted(n: int) -> DraftSentence:
        return {"text": evidence[n - 1]["quote"], "evidence": [n]}

    if is_yes_no(answer):
        opening: DraftSentence = {
            "text": f"{answer.capitalize()}: {evidence[refs[0] - 1]['quote']}",
            "evidence": [refs[0]],
        }
        return [opening, *map(quoted, refs[1:])]
    holding = [n for n in refs if answer.lower() in evidence[n - 1]["quote"].lower()] or refs[:1]
    # A full sentence: verification drops a bare name ("The Exies") as too short to state a fact.
    return [{"text": f"The answer is {answer}.", "evidence": holding}, *map(quoted, refs)]


def writer_prompt(state: ResearchState) -> str:
    # Corrections, then evidence, then the question with the task: with the question first, small models
    # tend to copy it back as their "answer".
    parts = []
    patches = render_patches(state.get("patches") or [])
    if patches:
        parts.append(patches)
    # The aggregator's notes are model text about passages (its schema caps them at 800 characters): quoted
    # like the passages, so none can open a section.
    summaries = [prompt_literal(r["summary"]) for r in state.get("rounds") or [] if r["summary"]]
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
    # The grounded answer opens the report; the writer's sentences follow (all verified the same way).
    draft = [*direct_sentences(state), *draft]
    return run.finish(
        {"draft": draft, "status": "answered", "writer_attempts": attempt, "writer_feedback": ""},
        sentences=len(draft),
    )
