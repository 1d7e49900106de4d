"""HTML: the visible text (scripts, styles and templates dropped), titled by <title>, else the first <h1>."""

from __future__ import annotations

import re
from pathlib import Path

from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.readers.base import Document, Unit, decode_text


def read_html(data: bytes, path: Path, config: ChunkingConfig) -> Document:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    heading = soup.find("h1")
    title = (
        (soup.title.get_text(strip=True) if soup.title else "")
        or (heading.get_text(strip=True) if heading else "")
        or path.stem
    )
    if soup.title:
        soup.title.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return Document(title, [Unit(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip())])
