"""PDF (pypdf): each page's extracted text is a unit, `{"page": n}`; titled by the document's metadata."""

from __future__ import annotations

import io
from pathlib import Path

from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.readers.base import Document, ReaderError, Unit


def read_pdf(data: bytes, path: Path, config: ChunkingConfig) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        # An encrypted PDF with an empty user password opens for anyone (common for "no copying" files).
        if reader.is_encrypted and not reader.decrypt(""):
            raise ReaderError("encrypted PDF (it needs a password): save an unprotected copy to index it")
        title = ((reader.metadata.title if reader.metadata else None) or path.stem).strip() or path.stem
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise ReaderError(f"cannot read PDF: {exc}") from None
    return Document(title, [Unit(text, {"page": number}) for number, text in enumerate(pages, start=1)])
