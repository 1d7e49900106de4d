"""A report as a PDF (fpdf2): headings with bookmarks, paragraphs whose `[n]` markers link to the sources
list, in the DejaVu Sans font embedded, so any Unicode text prints.

The fonts are the DejaVu and Last Resort files matplotlib (a dependency of sleuth) ships. DejaVu Sans covers
Latin, Greek and Cyrillic with their accents, typographic quotes and dashes, and many symbols. A character it
lacks (CJK, most emoji) is drawn with Last Resort's placeholder glyph for its Unicode block; the PDF's text
layer keeps the real character either way, so the report still copies and searches as written.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fpdf import FPDF

from sleuth.agents.research.report import Report, ReportSentence
from sleuth.export.base import ExportError
from sleuth.export.safe_text import source_parts

FONT = "DejaVuSans"
_FACES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
_PLACEHOLDER = "LastResortHE-Regular.ttf"
_LINK_COLOR = (26, 86, 168)


class FontsMissingError(ExportError):
    """The TTF files the PDF export embeds are not where matplotlib installs them."""


def font_dir() -> Path:
    """matplotlib's folder of TTF files (found without importing matplotlib).

    Raises:
        FontsMissingError: matplotlib is not installed, or its DejaVu fonts are missing.
    """
    spec = importlib.util.find_spec("matplotlib")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        fonts = Path(folder) / "mpl-data" / "fonts" / "ttf"
        if all((fonts / name).is_file() for name in [*_FACES.values(), _PLACEHOLDER]):
            return fonts
    raise FontsMissingError(
        "the PDF export embeds the DejaVu fonts that matplotlib ships, and they were not found: "
        "reinstall sleuth's dependencies (pip install -e .), or export .html, .docx or .md instead"
    )


def render(report: Report) -> bytes:
    """The PDF: the title, the opening, each section (a bookmark too), then the sources, one per citation."""
    pdf = _document(report)
    links = {c.n: pdf.add_link() for c in report.citations}
    _heading(pdf, report.title, level=0)
    if report.opening:
        _paragraph(pdf, report.opening, links)
    for section in report.sections:
        _heading(pdf, section.heading, level=1)
        if section.sentences:
            _paragraph(pdf, section.sentences, links)
        else:
            pdf.set_font(FONT, "I", 11)
            _flow(pdf, [(section.note, None)])
    if report.citations:
        _heading(pdf, "Sources", level=1)
        pdf.set_font(FONT, "", 9.5)
        for c in report.citations:
            pdf.set_link(links[c.n], page=pdf.page, y=pdf.get_y())
            _flow(pdf, [(f"[{c.n}] ", None), *source_parts(c)], after=1.5)
    return bytes(pdf.output())


def _document(report: Report) -> FPDF:
    fonts = font_dir()
    pdf = FPDF(format="A4")
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    for style, name in _FACES.items():
        pdf.add_font(FONT, style, str(fonts / name))
    if uncovered(pdf, report):
        # Loading Last Resort takes seconds (it maps every code point), so only a report that needs it does.
        pdf.add_font("LastResort", "", str(fonts / _PLACEHOLDER))
        pdf.set_fallback_fonts(["LastResort"], exact_match=False)
    pdf.set_title(report.title)
    pdf.set_subject(report.question)
    pdf.set_creator("sleuth")
    pdf.add_page()
    return pdf


def uncovered(pdf: FPDF, report: Report) -> set[str]:
    """The characters of the report that some DejaVu face in `pdf` has no glyph for."""
    faces = [getattr(pdf.fonts[f"{FONT.lower()}{style}"], "cmap", {}) for style in _FACES]
    shown = {char for char in report.markdown() if not char.isspace()}
    return {char for char in shown if not all(ord(char) in cmap for cmap in faces)}


def _heading(pdf: FPDF, text: str, *, level: int) -> None:
    pdf.ln(2 if level == 0 else 4)
    pdf.start_section(text or " ", level=level)  # the PDF reader's bookmarks
    pdf.set_font(FONT, "B", 18 if level == 0 else 14)
    _block(pdf, text, 9 if level == 0 else 7.5)
    pdf.ln(1.5)


def _block(pdf: FPDF, text: str, height: float) -> None:
    """One line or more of plain text (`markdown=False`: `**` or `<b>` in it print as written)."""
    pdf.multi_cell(0, height, text, align="L", markdown=False, new_x="LMARGIN", new_y="NEXT")


def _paragraph(pdf: FPDF, sentences: list[ReportSentence], links: dict[int, int]) -> None:
    pieces: list[tuple[str, str | int | None]] = []
    for s in sentences:
        pieces.append((("" if not pieces else " ") + s.text + " ", None))
        pieces += [(f"[{n}]", links.get(n)) for n in s.cites]
    pdf.set_font(FONT, "", 11)
    _flow(pdf, pieces)


def _flow(pdf: FPDF, pieces: list[tuple[str, str | int | None]], after: float = 3) -> None:
    """One paragraph of (text, link) pieces, wrapped as one text (a link: a page address or a place in the
    document, drawn in the link colour); its text is never read as markup."""
    with pdf.text_columns(text_align="LEFT", line_height=1.35) as region, region.paragraph() as paragraph:
        for text, link in pieces:
            if link:
                pdf.set_text_color(*_LINK_COLOR)
            paragraph.write(text, link=link)
            pdf.set_text_color(0, 0, 0)
    pdf.ln(after)
