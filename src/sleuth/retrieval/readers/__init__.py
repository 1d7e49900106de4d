"""Readers: one module per document type, each turning a file's bytes into a `Document` of text units.

Adding a type is adding a module with a `Reader` function and naming its suffixes here. jsonl corpora are
not documents (their records carry their own ids) and are read by `retrieval.ingest`.
"""

from __future__ import annotations

from pathlib import Path

from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.readers.base import Document, Reader, ReaderError, Unit, decode_text
from sleuth.retrieval.readers.code import LANGUAGES, read_code
from sleuth.retrieval.readers.csv import read_csv
from sleuth.retrieval.readers.docx import read_docx
from sleuth.retrieval.readers.html import read_html
from sleuth.retrieval.readers.pdf import read_pdf
from sleuth.retrieval.readers.pptx import read_pptx
from sleuth.retrieval.readers.text import read_markdown, read_text
from sleuth.retrieval.readers.xlsx import read_xlsx

__all__ = ["READERS", "SUFFIXES", "Document", "Reader", "ReaderError", "Unit", "decode_text", "read_document"]

READERS: dict[str, Reader] = {
    "text": read_text,
    "markdown": read_markdown,
    "html": read_html,
    "pdf": read_pdf,
    "docx": read_docx,
    "pptx": read_pptx,
    "xlsx": read_xlsx,
    "csv": read_csv,
    "code": read_code,
}
"""Document type -> its reader."""

SUFFIXES: dict[str, str] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".csv": "csv",
    ".tsv": "csv",
    **dict.fromkeys(LANGUAGES, "code"),
}
"""File suffix (lower case) -> document type."""


def read_document(kind: str, data: bytes, path: Path, config: ChunkingConfig) -> Document:
    """Read `data` with the reader of `kind`; any failure of the parser becomes this file's `ReaderError`."""
    try:
        return READERS[kind](data, path, config)
    except ReaderError:
        raise
    except Exception as exc:  # parsers of untrusted bytes raise anything (lxml, zipfile, KeyError, ...)
        raise ReaderError(f"cannot read {kind.upper()}: {type(exc).__name__}: {exc}") from None
