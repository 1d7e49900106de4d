"""Office Open XML packages (docx, pptx, xlsx) checked before a parser opens them: a ZIP, not encrypted,
not a zip bomb; and a clear word on what a file with the wrong suffix really is.

The parsers read parts with Python's `zipfile`, which never inflates an entry past the size its directory
declares (the rest fails the CRC check), so the declared sizes checked here bound what parsing can unpack.
"""

from __future__ import annotations

import io
import zipfile

from sleuth.retrieval.chunking import ChunkingConfig
from sleuth.retrieval.readers.base import ReaderError

MAX_PARTS = 10_000
"""Entries in one package; real documents have tens to a few hundred."""
MAX_RATIO = 100
"""How many times its packed size one part may unpack to (Apache POI's default floor is the same 1%)."""
_RATIO_FLOOR = 1_000_000  # small parts are exempt: a short, repetitive XML part packs very tightly

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # compound file: encrypted OOXML, or legacy .doc/.xls/.ppt


def check_package(data: bytes, kind: str, config: ChunkingConfig) -> None:
    """Raise a `ReaderError` unless `data` is a readable, unencrypted ZIP package of sane unpacked size.

    Args:
        kind: the format's name for messages ("docx", "pptx", "xlsx").
    """
    if data.startswith(_OLE_MAGIC):
        raise ReaderError(
            f"not a readable .{kind}: it is password-protected (encrypted), or an old binary Office file "
            f"(.doc/.xls/.ppt); save it unprotected as .{kind}"
        )
    if not data.startswith(b"PK"):
        raise ReaderError(f"not a .{kind} file: {_what_it_is(data)}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise ReaderError(f"damaged .{kind} (not a readable ZIP package: {exc})") from None
    if "[Content_Types].xml" not in names:
        raise ReaderError(f"not a .{kind} file: a ZIP archive, but not an Office document")
    if len(parts) > MAX_PARTS:
        raise ReaderError(f"refused .{kind}: {len(parts):,} parts in the package (at most {MAX_PARTS:,})")
    if any(part.flag_bits & 0x1 for part in parts):
        raise ReaderError(f"not a readable .{kind}: its parts are encrypted; save it unprotected")
    unpacked = sum(part.file_size for part in parts)
    if unpacked > config.max_unpacked_bytes:
        raise ReaderError(
            f"refused .{kind}: its parts unpack to {unpacked:,} bytes > max_unpacked_bytes "
            f"{config.max_unpacked_bytes:,} (a zip bomb, or raise SLEUTH_MAX_UNPACKED_BYTES)"
        )
    for part in parts:
        if part.file_size > _RATIO_FLOOR and part.file_size > MAX_RATIO * max(part.compress_size, 1):
            raise ReaderError(
                f"refused .{kind}: part {part.filename!r} unpacks {part.file_size // max(part.compress_size, 1):,}"
                f" times its packed size (more than {MAX_RATIO}: a likely zip bomb)"
            )


def _what_it_is(data: bytes) -> str:
    """A guess at what a file given the wrong suffix holds, to tell the user."""
    if data.startswith(b"%PDF"):
        return "it is a PDF; name it .pdf"
    head = data[:4096]
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8-sig")
        except UnicodeDecodeError as exc:  # a multi-byte character cut at the 4096th byte is still text
            text = head[: exc.start].decode("utf-8-sig", "ignore") if exc.start > len(head) - 4 else ""
        if text:
            kind = "HTML" if text.lstrip().lower().startswith(("<!doctype html", "<html")) else "plain text"
            return f"it holds {kind}; give it the suffix of what it is (.txt, .md, .html, .csv, ...)"
    return "it is not a ZIP package"
