"""Export of research reports: a `ResearchReport` as a `Report` (`as_report`), and a `Report` as a Markdown,
HTML, PDF or Word file (`export`, the format from a file's suffix with `format_for`)."""

from sleuth.export.base import ExportError, Format, UnknownFormatError
from sleuth.export.convert import as_report
from sleuth.export.formats import FORMATS, export, format_for

__all__ = ["FORMATS", "ExportError", "Format", "UnknownFormatError", "as_report", "export", "format_for"]
