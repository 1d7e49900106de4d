"""The reader node: extracts exact quotes from one batch of passages and keeps only those that occur."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.nodes.base import NodeRun, chat, render_numbered_passages, render_patches
from sleuth.agents.research.policy import locate_quote
from sleuth.agents.research.state import EvidenceItem, ReaderBatch
from sleuth.llm.base import StructuredOutputError
from sleuth.llm.structured import generate
from sleuth.text import split_sentences


class ReaderQuote(BaseModel):
    passage: int = Field(description="The PASSAGE number.")
    sentence: int = Field(description="The number (n) of the sentence in that passage that states the fact.")
    claim: str = Field(max_length=200, description="The fact this sentence supports, in a few words.")


class ReaderOutput(BaseModel):
    """A reader's evidence from its batch (empty when nothing in it is relevant)."""

    evidence: list[ReaderQuote] = Field(max_length=6)


def reader_prompt(batch: ReaderBatch, patches_text: str) -> str:
    parts = [
        f"QUESTION: {batch['question']}",
        f"TASK: {batch['task']['query']}\n{batch['task']['instructions']}".strip(),
    ]
    if patches_text:
        parts.append(patches_text)
    parts.append(render_numbered_passages(batch["passages"]))
    return "\n\n".join(parts)


def verified_evidence(batch: ReaderBatch, output: ReaderOutput) -> tuple[list[EvidenceItem], list[str]]:
    """Turn the reader's (passage, sentence) picks into quotes cut from the passage; say why others were
    dropped. Picking numbered sentences instead of copying text keeps small models from misquoting; the
    quote is still checked against the passage text like any other."""
    kept: list[EvidenceItem] = []
    rejected: list[str] = []
    quotes_seen: set[tuple[str, str]] = set()
    for item in output.evidence:
        if not 1 <= item.passage <= len(batch["passages"]):
            rejected.append(f"passage {item.passage} does not exist in this batch")
            continue
        passage = batch["passages"][item.passage - 1]
        sentences = split_sentences(passage["text"])
        if not 1 <= item.sentence <= len(sentences):
            rejected.append(f"passage {passage['id']} has no sentence {item.sentence}")
            continue
        exact = locate_quote(passage["text"], sentences[item.sentence - 1])
        if exact is None:
            rejected.append(f"sentence {item.sentence} of passage {passage['id']} is too short to quote")
            continue
        if (passage["id"], exact) in quotes_seen:
            continue
        quotes_seen.add((passage["id"], exact))
        kept.append(
            {
                "passage_id": passage["id"],
                "title": passage["title"],
                "quote": exact,
                "claim": item.claim.strip() or exact,
                "kind": "passage",
                "round": batch["round"],
            }
        )
    return kept, rejected


async def read_batch(run: NodeRun, batch: ReaderBatch) -> list[EvidenceItem]:
    """The reader's step, shared with the report's section writers: pick evidence sentences from a batch of
    passages and keep those that occur in them (events and warnings go out under `run`'s node)."""
    deps = run.deps
    patches_text = render_patches(batch.get("patches") or [])
    try:
        output = await generate(
            run.llm,
            chat(deps.prompts["reader"], reader_prompt(batch, patches_text)),
            ReaderOutput,
            agent="reader",
            params=run.params,
        )
    except StructuredOutputError as exc:
        run.log.add_error("reader", str(exc), exc.raw_outputs)
        run.warn(f"reader output was not valid JSON; batch {batch['batch_id']} gave no evidence")
        output = ReaderOutput(evidence=[])
    kept, rejected = verified_evidence(batch, output)
    for item in kept:
        deps.events.emit(
            "evidence", run.node, passage_id=item["passage_id"], title=item["title"], quote=item["quote"]
        )
    if rejected:
        run.warn(f"dropped {len(rejected)} evidence item(s) that point at no sentence", reasons=rejected)
    run.rejected += len(rejected)
    return kept


async def reader(batch: ReaderBatch, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Read one batch (run in parallel with the other batches of the round via `Send`)."""
    run = NodeRun(
        runtime.context, "reader", batch=batch["batch_id"], passages=len(batch["passages"]), max_tokens=256
    )
    kept = await read_batch(run, batch)
    return run.finish(
        {"evidence": kept, "rejected_quotes": run.rejected}, evidence=len(kept), rejected=run.rejected
    )
