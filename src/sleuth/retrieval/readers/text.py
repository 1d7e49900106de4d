"""Plain text and Markdown: the whole file is one unit; a Markdown file's first `# heading` is its title."""

from __future__ import annotations

import re
from pathlib import Path

from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.readers.base import Document, Unit, decode_text

_ATX_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


def read_text(data: bytes, path: Path, config: ChunkingConfig) -> Document:
    return Document(path.stem, [Unit(decode_text(data))])


def read_markdown(data: bytes, path: Path, config: ChunkingConfig) -> Document:
    text = decode_text(data)
    match = _ATX_TITLE.search(text)
    return Document(match.group(1) if match else path.stem, [Unit(text)])
