"""A research run's result as a `Report`: its sectioned report, or its short answer made into one."""

from __future__ import annotations

import re

from sleuth.agents.records import Citation
from sleuth.agents.research.report import Report, ReportSection, ReportSentence
from sleuth.agents.results import ResearchReport

NO_EVIDENCE_HEADING = "No evidence found"
"""The one section of an answer that cites nothing (the refusal that says what was searched)."""

_MARKERS = re.compile(r"((?:\s*\[\d+\])+)")
"""A run of citation markers, `[1]` or `[1][3]`, that ends a sentence of the answer."""


def as_report(result: ResearchReport) -> Report:
    """The run's report: `result.report` when the run wrote one, else the short answer as a report.

    The answer form becomes a report titled with the question whose opening is the answer's sentences, each
    with the citation numbers of its `[n]` markers, and whose citations are the run's. Every sentence of a
    report cites; an answer that cites nothing (status `no_evidence`: it says what was searched and that
    nothing supported an answer) becomes the note of a single section headed `NO_EVIDENCE_HEADING`.
    """
    if result.report is not None:
        return result.report
    citations = [
        Citation(n=c.n, passage_id=c.passage_id, title=c.title, quote=c.quote, kind=c.kind)
        for c in result.citations
    ]
    opening, uncited = _sentences(result.answer, known={c.n for c in citations})
    sections = []
    if not opening and uncited:
        sections.append(ReportSection(heading=NO_EVIDENCE_HEADING, note=" ".join(uncited)))
    # Text after the last marker of a cited answer has no citation; the verifier never leaves any.
    return Report(
        title=result.question, question=result.question, opening=opening, sections=sections, citations=citations
    )


def _sentences(answer: str, *, known: set[int]) -> tuple[list[ReportSentence], list[str]]:
    """The answer's cited sentences (text before each run of markers) and the text that cites nothing.

    A marker whose number is not a citation of the run is dropped (a sentence left with none is uncited).
    """
    pieces = _MARKERS.split(answer)
    sentences: list[ReportSentence] = []
    uncited: list[str] = []
    for i in range(0, len(pieces), 2):
        text = " ".join(pieces[i].split())
        markers = pieces[i + 1] if i + 1 < len(pieces) else ""
        cites = list(dict.fromkeys(n for n in map(int, re.findall(r"\d+", markers)) if n in known))
        if cites and text:
            sentences.append(ReportSentence(text=text, cites=cites))
        elif cites and sentences:  # markers with no text of their own belong to the sentence before
            sentences[-1].cites.extend(n for n in cites if n not in sentences[-1].cites)
        elif text:
            uncited.append(text)
    return sentences, uncited
