"""What every research node shares: a span per execution, a per-node metered LLM, events, and rendering of
prompt inputs as data."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.state import EvidenceItem, PassageRecord, PatchRecord
from sleuth.feedback.base import PatchView
from sleuth.feedback.render import EVIDENCE_CHARS, patch_citation_id
from sleuth.feedback.render import render_patches as render_store_patches
from sleuth.llm.base import GenParams, Message
from sleuth.llm.usage import MeteredModel, UsageLog
from sleuth.text import prompt_literal, split_sentences
from sleuth.tracing import node_span

S = TypeVar("S")
Node = Callable[[S, Runtime[AgentDeps]], Awaitable[dict[str, Any]]]


def traced_node(name: str, node: Node[S]) -> Node[S]:
    """`node` run inside a span of its own (`node <name>`), a child of the run's span: its searches and LLM
    calls are the span's children. A pause for plan approval (LangGraph's interrupt) is not a failure.

    The wrapper keeps the node's signature and annotations (`functools.wraps`), which LangGraph reads for the
    node's input (a `Send`-fed reader takes its batch) and for passing `runtime`.
    """

    @functools.wraps(node)
    async def run(state: S, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
        with node_span(name, expected=(GraphBubbleUp,)):
            return await node(state, runtime)

    return run


class NodeRun:
    """One execution of a node: emits started/finished events and records its LLM usage.

    The node calls the LLM through `self.llm`; `finish(update)` adds the node's usage record (tokens, the model
    of each role, dollars) and its tokens and dollars to the state update, so usage survives checkpoints and
    the token and dollar budgets see parallel readers exactly.
    """

    def __init__(self, deps: AgentDeps, node: str, *, max_tokens: int | None = None, **data: Any) -> None:
        self.deps = deps
        self.node = node
        self.log = UsageLog()
        self.llm = MeteredModel(deps.llm, self.log)
        # Short JSON outputs get a tighter cap, so a small model that loops cannot hold an LLM slot for long.
        limit = min(max_tokens, deps.settings.llm_max_tokens) if max_tokens else deps.settings.llm_max_tokens
        self.params = GenParams(temperature=deps.settings.llm_temperature, max_tokens=limit)
        self.rejected = 0
        """Evidence picks dropped because they point at no sentence (see `reader.read_batch`)."""
        self._started = time.perf_counter()
        deps.events.emit("node_started", node, **data)

    def warn(self, message: str, **data: Any) -> None:
        self.deps.events.emit("warning", self.node, message=message, **data)

    def finish(self, update: dict[str, Any], **data: Any) -> dict[str, Any]:
        wall = time.perf_counter() - self._started
        prompt = sum(c.prompt_tokens for c in self.log.calls)
        completion = sum(c.completion_tokens for c in self.log.calls)
        cost = self.deps.prices.cost_of(self.log.calls)
        usage = {
            "node": self.node,
            "calls": len(self.log.calls),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "llm_s": sum(c.latency_s for c in self.log.calls),
            "wall_s": wall,
            "models": self.log.models(),
            "cost_usd": cost,
        }
        if self.log.errors:
            self.log.write_errors(self.deps.settings.run_log_path, node=self.node, question=update.get("question"))
            self.warn(f"raw model output of failed calls kept in {self.deps.settings.run_log_path}")
        self.deps.events.emit(
            "node_finished", self.node, wall_s=round(wall, 3), tokens=prompt + completion, **data
        )
        # The dollar budget counts what is priced; an unpriced model's calls are "n/a" in the usage instead.
        return {**update, "usage": [usage], "tokens_used": prompt + completion, "usd_used": cost or 0.0}

    def cost_so_far(self) -> float:
        """USD of this execution's priced calls so far (what `finish` adds to the run's `usd_used`)."""
        return self.deps.prices.cost_of(self.log.calls) or 0.0


def chat(system: str, user: str) -> list[Message]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def patch_records(views: Sequence[PatchView]) -> list[PatchRecord]:
    return [
        {
            "id": v.id,
            "query": v.query,
            "answer": v.answer,
            "evidence": v.evidence,
            "score": v.score,
            "flags": list(v.flags),
        }
        for v in views
    ]


def render_patches(patches: Sequence[PatchRecord]) -> str:
    """Patches as the feedback package renders them: a marked block of quoted, untrusted user text."""
    views = [
        PatchView(p["id"], p["query"], p["answer"], p["evidence"], p["score"], flags=tuple(p["flags"]))
        for p in patches
    ]
    return render_store_patches(views)


TITLE_CHARS = 200
CLAIM_CHARS = 200
SENTENCE_CHARS = EVIDENCE_CHARS
"""Characters of one passage sentence or quote a prompt shows: a huge record cannot crowd out the others."""


def render_numbered_passages(passages: Sequence[PassageRecord]) -> str:
    """Passages with numbered sentences, so a reader can point at evidence instead of retyping it.

    Titles and sentences are quoted data (`text.prompt_literal`): a passage cannot start a line of its own,
    so a title holding "\nQUESTION: ..." or a text holding "END USER CORRECTIONS" stays inside its passage.
    """
    blocks = []
    for i, p in enumerate(passages, start=1):
        sentences = " ".join(
            f"({n}) {prompt_literal(s, SENTENCE_CHARS)}" for n, s in enumerate(split_sentences(p["text"]), start=1)
        )
        blocks.append(f"PASSAGE {i}: {prompt_literal(p['title'], TITLE_CHARS)}\n{sentences}")
    return "\n\n".join(blocks)


def render_evidence(evidence: Sequence[EvidenceItem]) -> str:
    """One line per evidence item: `[n] (source) "quote" -> "claim"`, every piece of text quoted data.

    Only the run's own corrections are marked `(user correction)`; a passage shows as `(passage "title")`,
    so a passage titled "User correction" cannot pass for one.
    """
    lines = []
    for i, item in enumerate(evidence, start=1):
        source = (
            "user correction"
            if item["kind"] == "patch"
            else f"passage {prompt_literal(item['title'], TITLE_CHARS)}"
        )
        quote, claim = prompt_literal(item["quote"], SENTENCE_CHARS), prompt_literal(item["claim"], CLAIM_CHARS)
        lines.append(f"[{i}] ({source}) {quote} -> {claim}")
    return "\n".join(lines)


def _citable(patch: PatchRecord) -> bool:
    return bool(patch["evidence"].strip() and patch["answer"].strip()) and not {
        "no-evidence",
        "blank-answer",
    } & set(patch["flags"])


def patch_evidence(patches: Sequence[PatchRecord], round_: int) -> list[EvidenceItem]:
    """Corrections that carry evidence become citable items; a blank or evidence-free one does not.

    The quote is the evidence cut (at a word) to what the prompts show of it, so a long correction cannot
    crowd out the passages and the cited quote is what the writer saw; it still occurs in the evidence.
    """
    items: list[EvidenceItem] = []
    for p in patches:
        if not _citable(p):
            continue
        quote = p["evidence"].strip()
        if len(quote) > EVIDENCE_CHARS:
            quote = quote[:EVIDENCE_CHARS].rsplit(maxsplit=1)[0]
        items.append(
            {
                "passage_id": patch_citation_id(p["id"]),
                "title": "User correction",
                "quote": quote,
                "claim": p["answer"].strip(),
                "kind": "patch",
                "round": round_,
            }
        )
    return items


def patch_texts(patches: Sequence[PatchRecord]) -> dict[str, str]:
    """Citation id -> evidence of each correction the run may cite: where a cited patch quote must occur."""
    return {patch_citation_id(p["id"]): p["evidence"] for p in patches if _citable(p)}
