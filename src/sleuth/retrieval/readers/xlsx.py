"""Excel workbooks (openpyxl, read-only and streamed): each sheet's rows as "column: value" lines, packed
into units `{"sheet": name, "row": n}`; a sheet stops at `max_sheet_rows` rows, and the document says so."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.readers.base import Document
from sleuth.retrieval.readers.package import check_package
from sleuth.retrieval.readers.rows import cell_text, header_names, pack_rows, row_line


def read_xlsx(data: bytes, path: Path, config: ChunkingConfig) -> Document:
    import openpyxl

    check_package(data, "xlsx", config)
    # data_only: a formula cell reads as the value Excel last computed (None if it never did)
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    try:
        document = Document((book.properties.title or "").strip() or path.stem)
        sheets = book.worksheets
        for sheet in sheets:
            heading = f"Sheet: {sheet.title}" if len(sheets) > 1 else ""
            lines = _sheet_lines(sheet, config.max_sheet_rows, document.warnings)
            document.units += pack_rows(lines, config.chunk_size, {"sheet": sheet.title}, heading)
    finally:
        book.close()
    return document


def _sheet_lines(sheet: Any, max_rows: int, warnings: list[str]) -> list[tuple[int, str]]:
    """(row number, line) for the sheet's non-empty rows, the header row (if any) giving column names."""
    from openpyxl.utils import get_column_letter

    def letter(index: int) -> str:
        return get_column_letter(index + 1)

    # The declared size is only a claim of the file: forget it, so rows are not padded to it.
    sheet.reset_dimensions()
    names: list[str] | None = None
    lines: list[tuple[int, str]] = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        if number > max_rows:
            warnings.append(
                f"sheet {sheet.title!r} has more than {max_rows:,} rows: only the first {max_rows:,} "
                "were indexed (raise SLEUTH_MAX_SHEET_ROWS to read more)"
            )
            break
        cells = [cell_text(value) for value in values]
        if not any(cells):
            continue
        if names is None:
            names = header_names(cells, letter) or []
            if names:
                continue
        if line := row_line(names, cells, letter):
            lines.append((number, line))
    return lines
