"""The sectioned research report (`--form report`): title, an opening that answers the question, sections,
and a sources list, every sentence carrying the numbers of the verified citations it rests on."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from sleuth.agents.records import Citation
from sleuth.names import Form

NO_SECTION_EVIDENCE = "No retrieved passage gave evidence for this section."
"""What a section says instead of padding when its searches found nothing it could cite."""


class ReportOptions(BaseModel):
    """How a research run writes: the short `answer` or a sectioned `report`, and the report's controls."""

    form: Form = "answer"
    approve_plan: bool = False
    """Report form only: pause after the outline until the plan is approved (or edited)."""
    language: str = Field(default="English", min_length=2, max_length=40, pattern=r"^[^\n\r\t\"<>{}]+$")
    """The language sections are written in (a name such as "German"; shown to the model as data)."""
    length_words: int = Field(default=600, ge=100, le=5000)
    """Report form: the target length of the sections together, in words."""

    @model_validator(mode="after")
    def _approval_needs_plan(self) -> ReportOptions:
        if self.approve_plan and self.form != "report":
            raise ValueError("approving the plan needs the report form: only a report has a plan to approve")
        return self


class ReportSentence(BaseModel):
    """One verified sentence (plain text, no markers) and the citation numbers that support it."""

    text: str
    cites: list[int] = Field(min_length=1)


class ReportSection(BaseModel):
    heading: str
    questions: list[str] = Field(default_factory=list)
    """The sub-questions this section searched for."""
    sentences: list[ReportSentence] = Field(default_factory=list)
    note: str = ""
    """Set (to `NO_SECTION_EVIDENCE`) when no sentence of the section survived verification."""


class ReportSource(BaseModel):
    """One cited passage of the sources list, with the citation numbers that quote it."""

    passage_id: str
    title: str = ""
    kind: Literal["passage", "patch"] = "passage"
    page: int | None = None
    url: str | None = None
    citations: list[int]


class Report(BaseModel):
    """A finished report. `citations` are numbered 1..n in order of first use; `sources` group them by passage."""

    title: str
    question: str
    opening: list[ReportSentence] = Field(default_factory=list)
    sections: list[ReportSection] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    language: str = "English"

    @property
    def sources(self) -> list[ReportSource]:
        """Every cited passage once, in order of its first citation."""
        by_id: dict[str, ReportSource] = {}
        for c in self.citations:
            source = by_id.get(c.passage_id)
            if source is None:
                by_id[c.passage_id] = ReportSource(
                    passage_id=c.passage_id, title=c.title, kind=c.kind, page=c.page, url=c.url, citations=[c.n]
                )
            else:
                source.citations.append(c.n)
        return list(by_id.values())

    @property
    def words(self) -> int:
        sentences = [*self.opening, *(s for section in self.sections for s in section.sentences)]
        return sum(len(s.text.split()) for s in sentences)

    def markdown(self) -> str:
        """The report as Markdown: `# title`, the opening, `## section`s, `## Sources` (one line per citation)."""
        parts = [f"# {_line(self.title)}"]
        if self.opening:
            parts.append(_paragraph(self.opening))
        for section in self.sections:
            parts.append(f"## {_line(section.heading)}")
            parts.append(_paragraph(section.sentences) if section.sentences else f"_{section.note}_")
        if self.citations:
            parts.append("## Sources")
            parts.append("\n".join(f"{c.n}. {source_line(c)}" for c in self.citations))
        return "\n\n".join(parts) + "\n"


def source_line(c: Citation) -> str:
    """`Title (id, p. 3, url): “quote”`: how every format names a citation in its sources list."""
    where = ", ".join(x for x in (c.passage_id, f"p. {c.page}" if c.page else "", c.url or "") if x)
    return f"{_line(c.title or c.passage_id)} ({where}): “{_line(c.quote)}”"


def marks(cites: list[int]) -> str:
    return "".join(f"[{n}]" for n in cites)


def _paragraph(sentences: list[ReportSentence]) -> str:
    return " ".join(f"{_line(s.text)} {marks(s.cites)}" for s in sentences)


def _line(text: str) -> str:
    # Passage text and model text are data: no line of theirs may start a heading or a list in the Markdown.
    return " ".join(text.split())
