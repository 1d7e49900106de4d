"""A report as a Word document (python-docx): Heading 1 and 2 styles, paragraphs whose `[n]` markers link to
the sources list, the sources with their web addresses as links."""

from __future__ import annotations

import io

from docx import Document
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph

from sleuth.agents.research.report import Report, ReportSentence
from sleuth.export.safe_text import source_parts

_LINK_COLOR = "1A56A8"


def render(report: Report) -> bytes:
    """The document: the title (Heading 1), the opening, each section (Heading 2), then the Sources
    (Heading 2), one paragraph per citation that starts with its `[n]` and is the target of the markers."""
    doc = Document()
    doc.core_properties.title = report.title
    doc.core_properties.subject = report.question
    doc.core_properties.author = "sleuth"
    known = {c.n for c in report.citations}
    doc.add_heading(report.title, level=1)
    if report.opening:
        _paragraph(doc.add_paragraph(), report.opening, known)
    for section in report.sections:
        doc.add_heading(section.heading, level=2)
        if section.sentences:
            _paragraph(doc.add_paragraph(), section.sentences, known)
        else:
            doc.add_paragraph().add_run(section.note).italic = True
    if report.citations:
        doc.add_heading("Sources", level=2)
        for c in report.citations:
            paragraph = doc.add_paragraph()
            _bookmark(paragraph, f"source-{c.n}", c.n)
            paragraph.add_run(f"[{c.n}] ")
            for text, url in source_parts(c):
                if url:
                    _link(paragraph, text, url=url)
                else:
                    paragraph.add_run(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _paragraph(paragraph: Paragraph, sentences: list[ReportSentence], known: set[int]) -> None:
    for i, s in enumerate(sentences):
        paragraph.add_run(("" if i == 0 else " ") + s.text + " ")
        for n in s.cites:
            if n in known:
                _link(paragraph, f"[{n}]", anchor=f"source-{n}")
            else:
                paragraph.add_run(f"[{n}]")


def _bookmark(paragraph: Paragraph, name: str, number: int) -> None:
    """A named bookmark at the paragraph's start (an empty one: it marks a place, not a span)."""
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), str(number))
    start.set(qn("w:name"), name)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), str(number))
    paragraph._p.append(start)
    paragraph._p.append(end)


def _link(paragraph: Paragraph, text: str, *, anchor: str = "", url: str = "") -> None:
    """A run of `text` linking to a bookmark of the document (`anchor`) or to a web address (`url`)."""
    link = OxmlElement("w:hyperlink")
    if url:
        link.set(qn("r:id"), paragraph.part.relate_to(url, RELATIONSHIP_TYPE.HYPERLINK, is_external=True))
    else:
        link.set(qn("w:anchor"), anchor)
    run = OxmlElement("w:r")
    props = OxmlElement("w:rPr")  # python-docx's template has no Hyperlink style: colour it directly
    color = OxmlElement("w:color")
    color.set(qn("w:val"), _LINK_COLOR)
    props.append(color)
    if url:
        underline = OxmlElement("w:u")
        underline.set(qn("w:val"), "single")
        props.append(underline)
    run.append(props)
    body = OxmlElement("w:t")
    body.text = text
    body.set(qn("xml:space"), "preserve")
    run.append(body)
    link.append(run)
    paragraph._p.append(link)
