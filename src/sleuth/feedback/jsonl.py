"""Export and import patches as JSON Lines (one `Patch` per line), checked line by line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from sleuth.feedback.models import PATCH_ID, Patch, PatchError
from sleuth.text import has_lone_surrogate


def dump_patches(patches: Iterable[Patch], out: TextIO) -> int:
    """Write one JSON object per patch; returns how many were written."""
    count = 0
    for patch in patches:
        out.write(patch.model_dump_json() + "\n")
        count += 1
    return count


def read_patches(path: Path) -> list[Patch]:
    """The patches of an export file, every line checked (see `load_patches`).

    Raises:
        PatchError: naming the file when it cannot be read, is binary or is not UTF-8, else the bad line.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PatchError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if b"\x00" in data[:8192]:
        raise PatchError(f"{path}: a binary file (it contains NUL bytes), not a patch export")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PatchError(f"{path}: not UTF-8 text (bad byte at offset {exc.start}), not a patch export") from exc
    return load_patches(text.splitlines(), source=str(path))


def load_patches(lines: Iterable[str], source: str = "input") -> list[Patch]:
    """Parse every line (blank lines skipped) before anything is stored, so a bad file imports nothing.

    An id (or `supersedes` / `superseded_by`) the store would never make is refused rather than replaced:
    a new id would break the references other lines make to it.

    Raises:
        PatchError: naming the first bad line and what is wrong with it.
    """
    patches = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PatchError(f"{where}: not JSON ({exc.msg})") from exc
        if has_lone_surrogate(record):
            raise PatchError(f"{where}: text that is not valid Unicode (a lone surrogate such as \\ud800)")
        try:
            patch = Patch.model_validate(record)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
            raise PatchError(f"{where}: not a patch ({problems})") from exc
        for name in ("id", "supersedes", "superseded_by"):
            value = getattr(patch, name)
            if value is not None and not PATCH_ID.fullmatch(value):
                raise PatchError(f"{where}: {name} {value!r} is not a patch id (p and 12 hex digits)")
        patches.append(patch)
    return patches
