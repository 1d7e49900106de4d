"""Tables as text: a header row found or not, each row one line of "column: value" pairs, and rows packed
into units of at most a chunk, so a passage holds whole rows that each say what their values are."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sleuth.retrieval.chunking import pack
from sleuth.retrieval.readers.base import Unit

_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"^(?=.*\d)[-+]?[$€£¥]?(\d[\d,_]*)?(\.\d+)?([eE][-+]?\d+)?%?$")
_MAX_HEADER_CELL = 100  # a longer cell is text, not a column name


def cell_text(value: Any) -> str:
    """A cell as one line of text: whitespace collapsed, whole floats without ".0", dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return _SPACE.sub(" ", str(value)).strip()


def header_names(cells: Sequence[str], fallback: Callable[[int], str]) -> list[str] | None:
    """`cells` as the column names, or None when the row looks like data.

    A header's cells are short text, none a number, none repeated, at least one filled; an empty one is
    named `fallback(column index)`.
    """
    filled = [c for c in cells if c]
    if (
        not filled
        or len(set(filled)) < len(filled)
        or any(len(c) > _MAX_HEADER_CELL or _NUMBER.match(c.replace(" ", "")) for c in filled)
    ):
        return None
    return [c or fallback(i) for i, c in enumerate(cells)]


def column_number(index: int) -> str:
    """`column 1`, `column 2`, ...: the name of a column with no header (0-based index)."""
    return f"column {index + 1}"


def row_line(names: Sequence[str], cells: Sequence[str], fallback: Callable[[int], str]) -> str:
    """One row as "name: value; name: value", empty cells left out ("" for an empty row)."""
    return "; ".join(
        f"{names[i] if i < len(names) else fallback(i)}: {value}" for i, value in enumerate(cells) if value
    )


def table_lines(rows: Sequence[Sequence[str]]) -> list[str]:
    """A small table (in a document or on a slide) as lines: "name: value" pairs under a header row, else
    the cells joined by " | "."""
    rows = [row for row in rows if any(row)]
    if not rows:
        return []
    names = header_names(rows[0], column_number) if len(rows) > 1 else None
    if names is None:
        return [" | ".join(cell for cell in row if cell) for row in rows]
    return [row_line(names, row, column_number) for row in rows[1:]]


def pack_rows(
    lines: Iterable[tuple[int, str]], size: int, metadata: dict[str, Any], heading: str = ""
) -> list[Unit]:
    """Pack (row number, line) pairs into units that fit a chunk of `size` characters with the heading.

    Each unit's metadata is `metadata` plus `row`, the number of its first row.
    """
    room = max(size - (len(heading) + 2 if heading else 0), 1)
    return [Unit(text, {**metadata, "row": first}, heading) for first, text in pack(lines, room)]
