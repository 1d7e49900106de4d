"""CSV and TSV files (stdlib csv, dialect sniffed): rows as "column: value" lines under the header row,
packed into units `{"row": n}`; a file stops at `max_sheet_rows` rows, and the document says so."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.readers.base import Document, ReaderError, decode_text
from sleuth.retrieval.readers.rows import cell_text, column_number, header_names, pack_rows, row_line

_SAMPLE = 8_192  # characters the dialect is guessed from (whole lines): the sniffer is quadratic on crafted text
_DELIMITERS = ",;\t|"


def read_csv(data: bytes, path: Path, config: ChunkingConfig) -> Document:
    text = decode_text(data)
    document = Document(path.stem)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text, path.suffix.lower()))
    names: list[str] | None = None
    lines: list[tuple[int, str]] = []
    try:
        for number, record in enumerate(reader, start=1):
            if number > config.max_sheet_rows:
                document.warnings.append(
                    f"more than {config.max_sheet_rows:,} rows: only the first {config.max_sheet_rows:,} "
                    "were indexed (raise SLEUTH_MAX_SHEET_ROWS to read more)"
                )
                break
            cells = [cell_text(value) for value in record]
            if not any(cells):
                continue
            if names is None:
                names = header_names(cells, column_number) or []
                if names:
                    continue
            if line := row_line(names, cells, column_number):
                lines.append((number, line))
    except csv.Error as exc:
        raise ReaderError(f"cannot read CSV: {exc} (record {reader.line_num})") from None
    document.units = pack_rows(lines, config.chunk_size, {})
    return document


def _dialect(text: str, suffix: str) -> type[csv.Dialect] | csv.Dialect:
    """The file's dialect: tab-separated for .tsv, else sniffed from its first lines (comma if unsure)."""
    if suffix == ".tsv":
        return csv.excel_tab
    sample = text[:_SAMPLE]
    if len(text) > _SAMPLE and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        return csv.excel
