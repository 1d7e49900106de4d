"""The export formats' shared interface: a format's name, a renderer (`Report` -> bytes), its file
suffixes and media type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from sleuth.agents.research.report import Report

Format = Literal["md", "html", "pdf", "docx"]


class Renderer(Protocol):
    def __call__(self, report: Report) -> bytes:
        """The whole file: every text of `report` is data, shown as written and never read as markup."""
        ...


@dataclass(frozen=True)
class ExportFormat:
    """One file format a report can be written in."""

    name: Format
    suffixes: tuple[str, ...]
    """File suffixes that choose it, lower case with the dot; the first is the one given to new files."""
    media_type: str
    render: Renderer


class UnknownFormatError(ValueError):
    """A file suffix or format name that no export format has."""


class ExportError(RuntimeError):
    """A report could not be rendered in the format asked for (e.g. the fonts a PDF embeds are missing)."""
