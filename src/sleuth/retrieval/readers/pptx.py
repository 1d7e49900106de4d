"""PowerPoint decks (python-pptx): one unit per slide, `{"slide": n}`, its title as context, then the text
of its shapes (groups opened, tables as rows) and its speaker notes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.readers.base import Document, Unit
from sleuth.retrieval.readers.package import check_package
from sleuth.retrieval.readers.rows import cell_text, table_lines


def read_pptx(data: bytes, path: Path, config: ChunkingConfig) -> Document:
    from pptx import Presentation

    check_package(data, "pptx", config)
    deck = Presentation(io.BytesIO(data))
    document = Document((deck.core_properties.title or "").strip() or path.stem)
    for number, slide in enumerate(deck.slides, start=1):
        title_shape = slide.shapes.title
        title = _text(title_shape.text_frame.text) if title_shape is not None else ""
        lines = []
        for shape in _shapes(slide.shapes):
            if title_shape is not None and shape.shape_id == title_shape.shape_id:
                continue
            if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                lines.append(_text(shape.text_frame.text))
            elif getattr(shape, "has_table", False) and shape.has_table:
                rows = [[cell_text(cell.text) for cell in row.cells] for row in shape.table.rows]
                lines.extend(table_lines(rows))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = _text(slide.notes_slide.notes_text_frame.text)
            if notes:
                lines.append(f"Notes: {notes}")
        body = "\n".join(line for line in lines if line)
        if body:
            document.units.append(Unit(body, {"slide": number}, title))
        elif title:
            document.units.append(Unit(title, {"slide": number}))
    return document


def _shapes(shapes: Any) -> Iterator[Any]:
    """Every shape, the shapes inside groups included, in slide order."""
    for shape in shapes:
        if hasattr(shape, "shapes"):  # a group shape
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _text(text: str) -> str:
    """A text frame's text: its soft line breaks (vertical tabs) as new lines, outer space stripped."""
    return text.replace("\v", "\n").strip()
