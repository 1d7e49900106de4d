"""Ingestion: read jsonl, txt, md, html and pdf files (and directories of them) into passages.

Each file is read on its own: a bad file (empty, binary, too large, bad UTF-8, unreadable PDF, a name
that is not UTF-8, a symlink loop) gives an error for that file and the others are still read; a
malformed jsonl line (bad JSON, no text, a metadata key the vector store rejects, a lone surrogate, an id
an earlier line of the file has) gives an error for that line and the file's other lines are kept.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sleuth.retrieval.base import Passage
from sleuth.retrieval.chunking import chunk_text, passage_id
from sleuth.text import LONE_SURROGATE, has_lone_surrogate

SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
"""File suffix -> reader; other files in a directory are ignored, other files named explicitly are errors."""

_ID_KEYS = ("id", "_id")  # `_id` is BEIR's spelling
_RESERVED = {"id", "_id", "title", "text"}
_MAX_LINE_ERRORS = 20


@dataclass(frozen=True)
class ChunkingConfig:
    """How files become passages."""

    chunk_size: int = 1200
    chunk_overlap: int = 200
    max_file_bytes: int = 50_000_000
    max_record_chars: int = 10_000
    """A jsonl record with an id and a longer text is chunked (see `_read_jsonl`)."""


@dataclass
class LoadedFile:
    """What one file gave: its passages, or the error that stopped it, and any per-line problems."""

    source: str
    digest: str = ""
    passages: list[Passage] = field(default_factory=list)
    error: str | None = None
    line_errors: list[str] = field(default_factory=list)
    chunked: list[str] = field(default_factory=list)
    """jsonl records with an id too long to be one passage, and what they were split into."""


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Expand directories (recursively, hidden entries skipped) into files, in a stable order.

    Returns:
        (files to read, files ignored because their type is not supported). A file named explicitly is
        always returned for reading, so an unsupported type gives a clear error rather than silence.
    """
    files: list[Path] = []
    ignored: list[Path] = []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if any(part.startswith(".") for part in child.relative_to(path).parts) or not child.is_file():
                    continue
                (files if child.suffix.lower() in SUFFIXES else ignored).append(child)
        else:
            files.append(path)
    return files, ignored


def display_path(path: Path | str) -> str:
    """`path` as printable text: the bytes of a name that is not UTF-8 shown as `\\xe9` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def load_file(path: Path, config: ChunkingConfig) -> LoadedFile:
    """Read one file into passages. Never raises for bad content: the problem goes into `error`."""
    if _is_symlink_loop(path):  # checked first: Python 3.11's resolve() raises RuntimeError on one
        return LoadedFile(source=display_path(path.absolute()), error="symlink loop")
    source = str(path.resolve())
    if LONE_SURROGATE.search(source):
        return LoadedFile(source=display_path(source), error="the file name is not valid UTF-8: rename the file")
    result = LoadedFile(source=source)
    kind = SUFFIXES.get(path.suffix.lower())
    try:
        if not path.exists():
            result.error = "no such file"
            return result
        if not path.is_file():
            result.error = "not a regular file"
            return result
        if kind is None:
            supported = ", ".join(sorted(SUFFIXES))
            result.error = f"unsupported file type {path.suffix or '(none)'!r} (supported: {supported})"
            return result
        size = path.stat().st_size
        if size == 0:
            result.error = "empty file"
            return result
        if size > config.max_file_bytes:
            result.error = (
                f"file too large: {size:,} bytes > max_file_bytes {config.max_file_bytes:,} "
                "(raise SLEUTH_MAX_FILE_BYTES to index it)"
            )
            return result
        data = path.read_bytes()
    except OSError as exc:
        result.error = f"cannot read: {exc.strerror or exc}"
        return result
    result.digest = hashlib.sha256(data).hexdigest()
    if kind == "pdf":
        _read_pdf(data, path, config, result)
    else:
        text = _decode(data, result)
        if text is None:
            return result
        if kind == "jsonl":
            _read_jsonl(text, config, result)
        elif kind == "html":
            title, body = _html_text(text, path.stem)
            result.passages = _chunks(title, body, source, config, {})
        elif kind == "markdown":
            result.passages = _chunks(_markdown_title(text, path.stem), text, source, config, {})
        else:
            result.passages = _chunks(path.stem, text, source, config, {})
    if result.error is None and any(LONE_SURROGATE.search(p.text + p.title) for p in result.passages):
        result.error, result.passages = "text that is not valid Unicode (a lone surrogate)", []
    if result.error is None and not result.passages:
        result.error = "no text found" if not result.line_errors else "no valid records"
    return result


def _is_symlink_loop(path: Path) -> bool:
    try:
        path.stat()
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _decode(data: bytes, result: LoadedFile) -> str | None:
    if b"\x00" in data[:8192]:
        result.error = "binary file (contains NUL bytes), not text"
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        result.error = f"not valid UTF-8 (bad byte at offset {exc.start}); convert the file to UTF-8"
        return None


def _chunks(
    title: str,
    text: str,
    source: str,
    config: ChunkingConfig,
    metadata: dict[str, Any],
) -> list[Passage]:
    pieces = chunk_text(text, config.chunk_size, config.chunk_overlap)
    out = []
    for number, piece in enumerate(pieces):
        meta = dict(metadata)
        if len(pieces) > 1:
            meta["chunk"] = number
        out.append(Passage(id=passage_id(title, piece), text=piece, title=title, source=source, metadata=meta))
    return out


def _read_jsonl(text: str, config: ChunkingConfig, result: LoadedFile) -> None:
    """One record a line: `id` (or `_id`), `title`, `text`; other keys become metadata.

    A record with an id is taken as an already-cut passage and kept whole under that id (evaluation
    corpora refer to passages by those ids), unless its text is longer than `max_record_chars`: then it is
    chunked like any text, the first chunk keeping the id and the next ones `<id>#2`, `<id>#3`, ... (so no
    prompt is ever handed one huge passage, and the gold ids of normal records stay as they are). A record
    without an id is chunked and given content-hash ids. A repeated id is a line error (the first record
    keeps it). A record's own `source` key is kept as metadata `record_source`: `source` names the file.
    """
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        problem, record = _parse_record(line)
        given = (
            None
            if record is None
            else next((str(record[key]) for key in _ID_KEYS if record.get(key) not in (None, "")), None)
        )
        if problem is None and given is not None and given in first_line:
            problem = f"duplicate id {given!r} (first on line {first_line[given]}): skipped"
        if problem:
            _line_error(result, f"line {number}: {problem}")
            continue
        assert record is not None
        title = str(record.get("title") or "")
        body = record["text"].strip()
        metadata = {
            ("record_source" if key == "source" else key): value
            for key, value in record.items()
            if key not in _RESERVED
        }
        if given is None:
            result.passages.extend(_chunks(title, body, result.source, config, metadata))
            continue
        first_line[given] = number
        if len(body) <= config.max_record_chars:
            result.passages.append(
                Passage(id=given, text=body, title=title, source=result.source, metadata=metadata)
            )
            continue
        chunks = _chunks(title, body, result.source, config, metadata)
        result.passages.extend(
            replace(chunk, id=given if position == 1 else f"{given}#{position}")
            for position, chunk in enumerate(chunks, start=1)
        )
        result.chunked.append(
            f"line {number}: record {given!r} ({len(body):,} characters) split into {len(chunks)} passages"
        )


def _line_error(result: LoadedFile, message: str) -> None:
    if len(result.line_errors) < _MAX_LINE_ERRORS:
        result.line_errors.append(message)
    elif len(result.line_errors) == _MAX_LINE_ERRORS:
        result.line_errors.append("... more bad lines not listed")


def _parse_record(line: str) -> tuple[str | None, dict[str, Any] | None]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return f"invalid JSON ({exc.msg} at column {exc.colno})", None
    if not isinstance(record, dict):
        return "expected a JSON object with a 'text' field", None
    body = record.get("text")
    if not isinstance(body, str) or not body.strip():
        return "missing or empty 'text' field", None
    if has_lone_surrogate(record):
        return "text that is not valid Unicode (a lone surrogate such as \\ud800)", None
    for key in record:
        if problem := _metadata_key_problem(key):
            return problem, None
    return None, record


def _metadata_key_problem(key: str) -> str | None:
    """Why Chroma would refuse `key` (and with it the whole batch of passages), if it would."""
    if not key:
        return "metadata key '' is empty"
    if key[0] in "$#":
        return f"metadata key {key!r} starts with {key[0]!r}, which the vector store reserves"
    if key == "chroma:document":
        return f"metadata key {key!r} is reserved by the vector store"
    return None


def _markdown_title(text: str, fallback: str) -> str:
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    return match.group(1) if match else fallback


def _html_text(html: str, fallback: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    heading = soup.find("h1")
    title = (
        (soup.title.get_text(strip=True) if soup.title else "")
        or (heading.get_text(strip=True) if heading else "")
        or fallback
    )
    if soup.title:
        soup.title.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return title, body


def _read_pdf(data: bytes, path: Path, config: ChunkingConfig, result: LoadedFile) -> None:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        title = ((reader.metadata.title if reader.metadata else None) or path.stem).strip() or path.stem
        pages = [(number, page.extract_text() or "") for number, page in enumerate(reader.pages, start=1)]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        result.error = f"cannot read PDF: {exc}"
        return
    for number, text in pages:
        result.passages.extend(_chunks(title, text, result.source, config, {"page": number}))


def iter_batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
