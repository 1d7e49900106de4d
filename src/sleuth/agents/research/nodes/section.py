"""The report's sections: `gather` searches every section's questions and shares the passages out; each
`section` (run in parallel, `Send`) reads its passages and writes, every sentence through the same citation
verification as the short answer."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.nodes.base import (
    NodeRun,
    chat,
    patch_evidence,
    patch_texts,
    render_evidence,
    render_patches,
)
from sleuth.agents.research.nodes.reader import read_batch
from sleuth.agents.research.nodes.writer import WriterOutput
from sleuth.agents.research.policy import extractive_draft, verify_draft
from sleuth.agents.research.routing import section_tasks
from sleuth.agents.research.state import (
    DraftSentence,
    EvidenceItem,
    PassageRecord,
    ReaderBatch,
    ResearchState,
    SearchRecord,
    SectionTask,
)
from sleuth.llm.base import StructuredOutputError
from sleuth.llm.structured import generate
from sleuth.text import prompt_literal

SECTION_HITS = 6
"""Passages retrieved per sub-question."""
SECTION_PASSAGES = 4
"""Passages a section reads at most (one reader call at the default batch size)."""
MAX_EVIDENCE = 12
"""Evidence items a section writer sees: a small model's context and attention run out past that."""


def section_prompt(task: SectionTask, evidence: list[EvidenceItem]) -> str:
    parts = []
    patches = render_patches(task["patches"])
    if patches:
        parts.append(patches)
    parts.append("EVIDENCE:\n" + render_evidence(evidence))
    parts.append(
        f"QUESTION: {prompt_literal(task['question'])}\nSECTION: {prompt_literal(task['heading'])}\n"
        f"LANGUAGE: {prompt_literal(task['language'], 40)}\n"
        f"Write this section in about {task['words']} words, each sentence with its evidence numbers."
    )
    return "\n\n".join(parts)


async def gather(state: ResearchState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Search every section's questions and share the hits out: each passage goes to the section that ranks it
    highest (ties: the earlier section), at most `SECTION_PASSAGES` each, so sections read different sources
    instead of all quoting the same top passage."""
    deps = runtime.context
    run = NodeRun(deps, "gather")
    tasks = section_tasks(state)
    calls: list[SearchRecord] = []
    best: dict[str, tuple[int, int, PassageRecord]] = {}  # passage id -> (rank, section, record)
    for task in tasks:
        for query in task["questions"]:
            hits = await deps.search(query, SECTION_HITS)
            calls.append(
                {
                    "query": query,
                    "k": SECTION_HITS,
                    "hit_ids": [h.passage.id for h in hits],
                    "round": task["round"],
                }
            )
            deps.events.emit(
                "search", "gather", query=query, k=SECTION_HITS, hits=len(hits), section=task["index"]
            )
            for rank, h in enumerate(hits):
                record: PassageRecord = {"id": h.passage.id, "title": h.passage.title, "text": h.passage.text}
                if h.passage.id not in best or (rank, task["index"]) < best[h.passage.id][:2]:
                    best[h.passage.id] = (rank, task["index"], record)
    used = [e["quote"] for e in state.get("evidence") or []]
    for task in tasks:
        mine = sorted((rank, pid) for pid, (rank, index, _) in best.items() if index == task["index"])
        task["passages"] = [best[pid][2] for _, pid in mine[:SECTION_PASSAGES]]
        task["used"] = used
    shared = {pid: record for pid, (_, _, record) in best.items()}
    return run.finish({"section_tasks": tasks, "search_calls": calls, "passages": shared}, sections=len(tasks))


async def section(task: SectionTask, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Read the section's passages, write the section from that evidence, verify it."""
    deps = runtime.context
    run = NodeRun(deps, "section", section=task["index"], heading=task["heading"])
    passages = {p["id"]: p for p in task["passages"]}
    batches: list[ReaderBatch] = []
    records = list(passages.values())
    size = max(1, deps.settings.reader_batch_size)
    for start in range(0, len(records), size):
        batches.append(
            {
                "batch_id": f"s{task['index'] + 1}-{len(batches) + 1}",
                "round": task["round"],
                "task": {"query": task["heading"], "instructions": " ".join(task["questions"])},
                "passages": records[start : start + size],
                "question": task["question"],
                "patches": task["patches"],
            }
        )
    readings = await asyncio.gather(*(read_batch(run, batch) for batch in batches))
    used = set(task["used"])
    read = [item for kept in readings for item in kept if item["quote"] not in used]
    evidence = [*patch_evidence(task["patches"], task["round"]), *read][:MAX_EVIDENCE]
    draft: list[DraftSentence] = []
    if evidence:
        try:
            output = await generate(
                run.llm,
                chat(deps.prompts["section_writer"], section_prompt(task, evidence)),
                WriterOutput,
                agent="section_writer",
                params=run.params,
            )
            draft = [{"text": s.text, "evidence": list(s.evidence)} for s in output.sentences]
        except StructuredOutputError as exc:
            run.log.add_error("section_writer", str(exc), exc.raw_outputs)
            run.warn(f"section {task['heading']!r}: the writer's output was not valid JSON")
    # No re-ask inside a section: verification drops a sentence that leans on memory, with the reason.
    corrections = patch_texts(task["patches"])
    kept, citations, dropped = verify_draft(
        draft, evidence, passages, deps.lookup, question=task["question"], patches=corrections
    )
    if not kept and evidence:
        # As the answer does: when no drafted sentence holds, the verified quotes themselves are the section.
        run.warn(f"section {task['heading']!r}: no drafted sentence survived verification; quoting the evidence")
        kept, citations, _ = verify_draft(
            extractive_draft(evidence, limit=4), evidence, passages, deps.lookup, patches=corrections
        )
    record = {
        "index": task["index"],
        "heading": task["heading"],
        "questions": task["questions"],
        "sentences": kept,
        "citations": citations,
        "dropped": dropped,
    }
    deps.events.emit("section", "section", index=task["index"], heading=task["heading"], sentences=len(kept))
    return run.finish(
        {"sections": [record], "rejected_quotes": run.rejected},
        sentences=len(kept),
        dropped=len(dropped),
    )
