"""Word documents (python-docx): paragraphs and tables in document order, one unit per section, with the
section's heading path ("Results > Costs") as its context and `{"section": ...}` metadata."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.readers.base import Document, Unit
from sleuth.retrieval.readers.package import check_package
from sleuth.retrieval.readers.rows import cell_text, table_lines

_HEADING = re.compile(r"^heading (\d)$", re.IGNORECASE)


def read_docx(data: bytes, path: Path, config: ChunkingConfig) -> Document:
    import docx
    from docx.text.paragraph import Paragraph

    check_package(data, "docx", config)
    word = docx.Document(io.BytesIO(data))
    title = (word.core_properties.title or "").strip()
    units: list[Unit] = []
    headings: list[str] = []  # the current section's path, outermost first
    body: list[str] = []

    def close_section() -> None:
        if body:
            path_text = " > ".join(headings)
            units.append(Unit("\n\n".join(body), {"section": path_text} if path_text else {}, path_text))
            body.clear()

    for block in word.iter_inner_content():
        if not isinstance(block, Paragraph):  # a table
            body.append("\n".join(table_lines([_row_cells(row) for row in block.rows])))
            continue
        text = block.text.strip()
        if not text:
            continue
        style = (block.style.name if block.style is not None else None) or ""
        if style.lower() == "title" and not title:
            title = text
            continue
        level = _HEADING.match(style)
        if level is None:
            body.append(text)
            continue
        close_section()  # a heading with nothing under it is only context for the sections it opens
        depth = int(level.group(1))
        headings[:] = [*headings[: depth - 1], cell_text(text)]
    close_section()
    return Document(title or path.stem, [unit for unit in units if unit.text.strip()])


def _row_cells(row: Any) -> list[str]:
    """A table row's cells as text, a merged cell once (python-docx repeats it for each grid column)."""
    cells: list[str] = []
    previous = None
    for cell in row.cells:
        if cell._tc is not previous:
            cells.append(cell_text(cell.text))
        previous = cell._tc
    return cells
