"""Chunking: split long text into overlapping passages that break at paragraph, sentence or word ends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkingConfig:
    """How files become passages, and the limits that keep one hostile file from costing too much."""

    chunk_size: int = 1200
    chunk_overlap: int = 200
    max_file_bytes: int = 50_000_000
    max_record_chars: int = 10_000
    """A jsonl record with an id and a longer text is chunked (see `ingest._read_jsonl`)."""
    max_sheet_rows: int = 100_000
    """Rows read from one spreadsheet sheet or CSV file; the rest are left out and the report says so."""
    max_unpacked_bytes: int = 500_000_000
    """What the parts of one docx/pptx/xlsx package may unpack to, in all (a zip bomb is refused)."""


# Preferred break points, best first: a chunk should end at a paragraph, else a sentence, else a word.
_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


def passage_id(title: str, text: str) -> str:
    """The stable content-hash id of a passage: first 16 hex of sha1(title + "\\n" + text).

    The same convention as the shared evaluation corpora, so re-ingesting a file gives the same ids.
    """
    return hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()[:16]


def chunk_text(text: str, size: int, overlap: int) -> list[str]:
    """Split `text` into chunks of at most `size` characters, consecutive chunks sharing about `overlap`.

    Args:
        text: the document text.
        size: the largest chunk, in characters (> 0).
        overlap: characters repeated at the start of the next chunk (0 <= overlap < size), so a fact
            that straddles a boundary is whole in at least one chunk.

    Returns:
        The non-empty, stripped chunks in document order; `[text.strip()]` when it already fits.
    """
    if size <= 0:
        raise ValueError("chunk size must be positive")
    if not 0 <= overlap < size:
        raise ValueError("chunk overlap must be at least 0 and smaller than the chunk size")
    text = text.strip()
    if len(text) <= size:
        return [text] if text else []
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            end = _break_before(text, start, end)
        chunk = text[start:end].strip()
        if chunk:
            chunks.append(chunk)
        if end >= len(text):
            break
        # Step back by the overlap, then forward to a word start so no chunk begins mid-word.
        next_start = max(end - overlap, start + 1)
        if next_start < end:
            space = text.find(" ", next_start, end)
            next_start = space + 1 if space != -1 else next_start
        start = next_start
    return chunks


def _break_before(text: str, start: int, end: int) -> int:
    """The best break point in the second half of text[start:end] (so chunks stay reasonably full)."""
    floor = start + (end - start) // 2
    for mark in _BREAKS:
        at = text.rfind(mark, floor, end)
        if at != -1:
            return at + len(mark)
    return end


def pack(pieces: Iterable[tuple[int, str]], size: int, separator: str = "\n") -> list[tuple[int, str]]:
    """Join consecutive pieces (rows, code blocks) into chunks of at most `size` characters, in order.

    Args:
        pieces: (position, text) pairs, such as (row number, row line) or (line number, code block).
        separator: what goes between two pieces in a chunk.

    Returns:
        (position of the chunk's first piece, chunk text) pairs. A piece longer than `size` is a chunk of
        its own; a piece is never cut.
    """
    chunks: list[tuple[int, str]] = []
    block: list[str] = []
    first = used = 0
    for position, piece in pieces:
        if block and used + len(separator) + len(piece) > size:
            chunks.append((first, separator.join(block)))
            block = []
        if block:
            used += len(separator) + len(piece)
        else:
            first, used = position, len(piece)
        block.append(piece)
    if block:
        chunks.append((first, separator.join(block)))
    return chunks
