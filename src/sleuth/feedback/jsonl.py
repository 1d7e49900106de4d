"""Export and import patches as JSON Lines (one `Patch` per line), checked line by line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from pydantic import ValidationError

from sleuth.feedback.models import Patch, PatchError


def dump_patches(patches: Iterable[Patch], out: TextIO) -> int:
    """Write one JSON object per patch; returns how many were written."""
    count = 0
    for patch in patches:
        out.write(patch.model_dump_json() + "\n")
        count += 1
    return count


def load_patches(lines: Iterable[str], source: str = "input") -> list[Patch]:
    """Parse every line (blank lines skipped) before anything is stored, so a bad file imports nothing.

    Raises:
        PatchError: naming the first bad line and what is wrong with it.
    """
    patches = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            patches.append(Patch.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise PatchError(f"{source}:{number}: not JSON ({exc.msg})") from exc
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
            raise PatchError(f"{source}:{number}: not a patch ({problems})") from exc
    return patches
