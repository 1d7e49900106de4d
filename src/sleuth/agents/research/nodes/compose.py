"""The compose node: puts the verified opening and sections together as one `Report` with one citation list."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from sleuth.agents.deps import AgentDeps
from sleuth.agents.records import Citation, source_of
from sleuth.agents.research.nodes.base import NodeRun
from sleuth.agents.research.report import NO_SECTION_EVIDENCE, Report, ReportSection, ReportSentence
from sleuth.agents.research.state import CitationRecord, DroppedSentence, ResearchState, VerifiedSentence
from sleuth.retrieval.base import Lookup


class _Numbering:
    """Citations numbered 1..n across the whole report in order of first use; a quote cited twice keeps its n."""

    def __init__(self, lookup: Lookup | None) -> None:
        self.lookup = lookup
        self.citations: list[Citation] = []
        self._number: dict[tuple[str, str], int] = {}
        self._said: set[str] = set()

    def sentences(self, kept: list[VerifiedSentence], local: list[CitationRecord]) -> list[ReportSentence]:
        """The sentences renumbered; one the report already says (a section quoting what the opening quoted)
        is left out, so no passage is read out twice."""
        by_n = {c["n"]: c for c in local}
        fresh = []
        for s in kept:
            key = " ".join(s["text"].casefold().split())
            if key not in self._said:
                self._said.add(key)
                fresh.append(ReportSentence(text=s["text"], cites=[self.number(by_n[n]) for n in s["cites"]]))
        return fresh

    def number(self, c: CitationRecord) -> int:
        key = (c["passage_id"], c["quote"])
        if key not in self._number:
            self._number[key] = len(self.citations) + 1
            cited = self.lookup(c["passage_id"]) if c["kind"] != "patch" and self.lookup is not None else None
            self.citations.append(
                Citation(
                    n=self._number[key],
                    passage_id=c["passage_id"],
                    title=c["title"],
                    quote=c["quote"],
                    kind="patch" if c["kind"] == "patch" else "passage",
                    **source_of(cited),
                )
            )
        return self._number[key]


def compose_report(state: ResearchState, lookup: Lookup | None) -> Report:
    """The report from a finished run's state: the opening is the verified answer, then the sections in plan
    order; a section none of whose sentences survived says so instead of being padded."""
    numbering = _Numbering(lookup)
    opening = numbering.sentences(state.get("verified") or [], state.get("citations") or [])
    sections = []
    for record in sorted(state.get("sections") or [], key=lambda r: r["index"]):
        sentences = numbering.sentences(record["sentences"], record["citations"])
        sections.append(
            ReportSection(
                heading=record["heading"],
                questions=record["questions"],
                sentences=sentences,
                note="" if sentences else NO_SECTION_EVIDENCE,
            )
        )
    plan = state.get("outline") or {"title": "", "sections": []}
    return Report(
        title=plan["title"] or state["question"],
        question=state["question"],
        opening=opening,
        sections=sections,
        citations=numbering.citations,
        language=state.get("language", "English"),
    )


async def compose(state: ResearchState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Build the report; its Markdown becomes the run's answer and its citations the run's citations."""
    deps = runtime.context
    run = NodeRun(deps, "compose")
    report = compose_report(state, deps.lookup)
    citations: list[CitationRecord] = [
        {"n": c.n, "passage_id": c.passage_id, "title": c.title, "quote": c.quote, "kind": c.kind}
        for c in report.citations
    ]
    dropped: list[DroppedSentence] = [
        *(state.get("dropped_sentences") or []),
        *(d for record in state.get("sections") or [] for d in record["dropped"]),
    ]
    deps.events.emit(
        "report", "compose", sections=len(report.sections), citations=len(citations), words=report.words
    )
    return run.finish(
        {
            "report": report.model_dump(mode="json"),
            "answer": report.markdown(),
            "citations": citations,
            "dropped_sentences": dropped,
            "status": "answered" if citations else state.get("status", "no_evidence"),
        },
        sections=len(report.sections),
    )
