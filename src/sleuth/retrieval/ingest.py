"""Ingestion: read files (and directories of them) into passages: jsonl corpora here, documents through
their readers (`retrieval.readers`: txt, md, html, pdf, docx, pptx, xlsx, csv/tsv and source code).

Each file is read on its own: a bad file (empty, binary, too large, bad UTF-8, unreadable or encrypted,
damaged, a zip bomb, a suffix that lies about its content, a name that is not UTF-8, a symlink loop) gives
an error for that file and the others are still read; a malformed jsonl line (bad JSON, no text, a metadata
key the vector store rejects, a lone surrogate, an id an earlier line of the file has) gives an error for
that line and the file's other lines are kept. What a file holds is stored as data, never interpreted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sleuth.retrieval.base import Passage
from sleuth.retrieval.chunking import ChunkingConfig, chunk_text, passage_id
from sleuth.retrieval.readers import SUFFIXES as DOCUMENT_SUFFIXES
from sleuth.retrieval.readers import Document, ReaderError, Unit, decode_text, read_document
from sleuth.text import LONE_SURROGATE, has_lone_surrogate

__all__ = ["SUFFIXES", "ChunkingConfig", "LoadedFile", "collect_files", "display_path", "load_file"]

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", **DOCUMENT_SUFFIXES}
"""File suffix -> reader; other files in a directory are ignored, other files named explicitly are errors."""

_ID_KEYS = ("id", "_id")  # `_id` is BEIR's spelling
_RESERVED = {"id", "_id", "title", "text"}
_MAX_LINE_ERRORS = 20


@dataclass
class LoadedFile:
    """What one file gave: its passages, or the error that stopped it, and any problems with its parts."""

    source: str
    digest: str = ""
    passages: list[Passage] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    """Malformed jsonl lines, parts left out (a sheet past the row cap): the rest of the file was read."""
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
            result.error = f"unsupported file type {path.suffix or '(none)'!r} (supported: {_supported()})"
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
    try:
        if kind == "jsonl":
            _read_jsonl(decode_text(data), config, result)
        else:
            document = read_document(kind, data, path, config)
            result.passages = document_passages(document, source, config)
            result.warnings += document.warnings
    except ReaderError as exc:
        result.error, result.passages = str(exc), []
        return result
    if result.error is None and any(LONE_SURROGATE.search(p.text + p.title) for p in result.passages):
        result.error, result.passages = "text that is not valid Unicode (a lone surrogate)", []
    if result.error is None and not result.passages:
        result.error = "no valid records" if kind == "jsonl" and result.warnings else "no text found"
    return result


def document_passages(document: Document, source: str, config: ChunkingConfig) -> list[Passage]:
    """The passages of a document: each unit chunked (unless it fits), its heading atop each chunk."""
    return [passage for unit in document.units for passage in _unit_passages(document.title, unit, source, config)]


def _supported() -> str:
    documents = sorted(suffix for suffix, kind in SUFFIXES.items() if kind != "code")
    code = sorted(suffix for suffix, kind in SUFFIXES.items() if kind == "code")
    return f"{', '.join(documents)}, and source code: {' '.join(code)}"


def _is_symlink_loop(path: Path) -> bool:
    try:
        path.stat()
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _unit_passages(title: str, unit: Unit, source: str, config: ChunkingConfig) -> list[Passage]:
    # The heading takes at most half a chunk, so a hostile heading cannot crowd out the text.
    heading = unit.heading[: config.chunk_size // 2 - 2].strip()
    room = config.chunk_size - (len(heading) + 2 if heading else 0)
    overlap = config.chunk_overlap if config.chunk_overlap < room else room // 2
    if unit.exact and len(unit.text) <= room:
        pieces = [unit.text] if unit.text.strip() else []
    else:
        pieces = chunk_text(unit.text, room, overlap)
    out = []
    for number, piece in enumerate(pieces):
        text = f"{heading}\n\n{piece}" if heading else piece
        metadata = dict(unit.metadata)
        if len(pieces) > 1:
            metadata["chunk"] = number
        out.append(Passage(id=passage_id(title, text), text=text, title=title, source=source, metadata=metadata))
    return out


def _chunks(title: str, text: str, source: str, config: ChunkingConfig, metadata: dict[str, Any]) -> list[Passage]:
    return _unit_passages(title, Unit(text, metadata), source, config)


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
    if len(result.warnings) < _MAX_LINE_ERRORS:
        result.warnings.append(message)
    elif len(result.warnings) == _MAX_LINE_ERRORS:
        result.warnings.append("... more bad lines not listed")


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


def iter_batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
