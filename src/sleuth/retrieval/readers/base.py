"""What a reader gives: a document's title and its text units (a section, a slide, a block of rows) with
their metadata, plus warnings about parts left out; and the error that stops one file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleuth.retrieval.chunking import ChunkingConfig


class ReaderError(Exception):
    """Why a file cannot be read: its message is shown to the user as the file's error."""


@dataclass
class Unit:
    """A piece of a document that passages never straddle (one slide, one section, a block of rows).

    A unit longer than the chunk size is chunked; one a reader already cut to size stays whole.
    """

    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    """Where in the document it is: `{"page": 3}`, `{"slide": 2}`, `{"sheet": "Q3", "row": 41}`, ..."""
    heading: str = ""
    """Context put at the top of each of its chunks (a section's heading path, a slide's title)."""
    exact: bool = False
    """Kept exactly as it is when it fits a chunk (code keeps its first line's indentation), not stripped."""


@dataclass
class Document:
    """What one file holds, as text."""

    title: str
    units: list[Unit] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Parts of the file left out (a sheet past the row cap); the rest is indexed."""


Reader = Callable[[bytes, Path, ChunkingConfig], Document]
"""Reads one file's bytes (the path only names it: its stem is the fallback title). Raises `ReaderError`."""


def decode_text(data: bytes) -> str:
    """`data` as UTF-8 text (a byte-order mark dropped), or a `ReaderError` saying why it is not text."""
    if b"\x00" in data[:8192]:
        raise ReaderError("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReaderError(f"not valid UTF-8 (bad byte at offset {exc.start}); convert the file to UTF-8") from None
