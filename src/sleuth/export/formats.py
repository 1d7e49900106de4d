"""The export formats by name and suffix, and `export(report, fmt)`: a report as the bytes of one file."""

from __future__ import annotations

from os import PathLike
from pathlib import PurePath

from sleuth.agents.research.report import Report
from sleuth.export.base import ExportFormat, Format, UnknownFormatError
from sleuth.export.safe_text import clean_report


def _markdown(report: Report) -> bytes:
    return report.markdown().encode("utf-8")


# The PDF and Word libraries load only when their format is asked for.
def _html(report: Report) -> bytes:
    from sleuth.export.html_page import render

    return render(report)


def _pdf(report: Report) -> bytes:
    from sleuth.export.pdf_doc import render

    return render(report)


def _docx(report: Report) -> bytes:
    from sleuth.export.docx_doc import render

    return render(report)


FORMATS: dict[Format, ExportFormat] = {
    "md": ExportFormat("md", (".md", ".markdown"), "text/markdown; charset=utf-8", _markdown),
    "html": ExportFormat("html", (".html", ".htm"), "text/html; charset=utf-8", _html),
    "pdf": ExportFormat("pdf", (".pdf",), "application/pdf", _pdf),
    "docx": ExportFormat(
        "docx", (".docx",), "application/vnd.openxmlformats-officedocument.wordprocessingml.document", _docx
    ),
}


def known_suffixes() -> str:
    return ", ".join(suffix for spec in FORMATS.values() for suffix in spec.suffixes)


def format_for(path: str | PathLike[str]) -> Format:
    """The export format a file name asks for, from its suffix (`report.pdf` -> "pdf"), in any case.

    Raises:
        UnknownFormatError: the name has no suffix, or one no format has (the message lists the known ones).
    """
    suffix = PurePath(path).suffix.lower()
    for name, spec in FORMATS.items():
        if suffix in spec.suffixes:
            return name
    what = f"its suffix {suffix!r}" if suffix else "it has no suffix"
    raise UnknownFormatError(
        f"cannot tell which format to write {str(path)!r} in: {what} is not one of {known_suffixes()}"
    )


def export(report: Report, fmt: Format) -> bytes:
    """`report` as one self-contained file in format `fmt`: the title, the opening, the sections and the
    sources, every sentence followed by its `[n]` citation markers.

    Every text is cleaned first (`safe_text.clean_report`): control characters, bidi overrides and lone
    surrogates are dropped, whitespace runs collapsed. No text is ever read as markup.

    Raises:
        UnknownFormatError: `fmt` is not one of `FORMATS`.
    """
    spec = FORMATS.get(fmt)
    if spec is None:
        raise UnknownFormatError(f"no export format {fmt!r}: the formats are {', '.join(FORMATS)}")
    return spec.render(clean_report(report))
