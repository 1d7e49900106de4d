"""Source code: read as text and cut where top-level definitions start, so a passage holds whole functions
and classes where they fit, `{"language": ..., "line": n}` (its first line); titled by the file name."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from sleuth.retrieval.chunking import ChunkingConfig, pack
from sleuth.retrieval.readers.base import Document, Unit, decode_text

LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".cc": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".cs": "csharp",
    ".swift": "swift",
    ".rb": "ruby",
    ".php": "php",
    ".pl": "perl",
    ".pm": "perl",
    ".lua": "lua",
    ".r": "r",
    ".jl": "julia",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".sql": "sql",
}
"""Suffix (lower case) -> language, the `language` metadata of the file's passages."""

# A line at column 0 that closes or continues a block rather than opening a new one.
_CONTINUES = re.compile(r"^(?:[}\])]|end\b|else\b|elif\b|except\b|finally\b|fi\b|done\b|esac\b|#\s*end)")


def read_code(data: bytes, path: Path, config: ChunkingConfig) -> Document:
    language = LANGUAGES[path.suffix.lower()]
    pieces = _pieces(decode_text(data).splitlines(), config.chunk_size)
    chunks = pack(pieces, config.chunk_size, "\n\n")
    return Document(
        path.name, [Unit(text, {"language": language, "line": line}, exact=True) for line, text in chunks]
    )


def _pieces(lines: list[str], size: int) -> list[tuple[int, str]]:
    """(first line number, text) of the file's top-level blocks; a block longer than `size` split at its
    blank lines, then between lines. A single line longer than `size` stays whole (chunked later)."""
    pieces: list[tuple[int, str]] = []
    for start, block in _blocks(lines, _opens_block):
        if len("\n".join(block)) <= size:
            pieces.append((start, "\n".join(block)))
            continue
        for para_start, paragraph in _blocks(block, _follows_blank, start):
            pieces.extend(pack(((para_start + n, line) for n, line in enumerate(paragraph)), size))
    return pieces


def _opens_block(lines: list[str], index: int) -> bool:
    """Does line `index` start a top-level block: at column 0, after a blank line, not a closing line?"""
    line = lines[index]
    return (
        index > 0
        and bool(line.strip())
        and not line[0].isspace()
        and not lines[index - 1].strip()
        and not _CONTINUES.match(line)
    )


def _follows_blank(lines: list[str], index: int) -> bool:
    return not lines[index - 1].strip()


def _blocks(
    lines: list[str], opens: Callable[[list[str], int], bool], first_number: int = 1
) -> list[tuple[int, list[str]]]:
    """Split `lines` before each line `opens(lines, index)` is true for, blank edges trimmed, empty blocks dropped.

    Returns:
        (number of the block's first line, its lines), numbering `lines[0]` as `first_number`.
    """
    blocks: list[tuple[int, list[str]]] = []
    current: list[int] = []
    for index in range(len(lines)):
        if current and opens(lines, index):
            blocks.append(_trimmed(lines, current, first_number))
            current = []
        current.append(index)
    if current:
        blocks.append(_trimmed(lines, current, first_number))
    return [(number, block) for number, block in blocks if block]


def _trimmed(lines: list[str], indexes: list[int], first_number: int) -> tuple[int, list[str]]:
    kept = [i for i in indexes if lines[i].strip()]
    if not kept:
        return first_number, []
    return first_number + kept[0], lines[kept[0] : kept[-1] + 1]
