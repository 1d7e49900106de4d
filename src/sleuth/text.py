"""Unicode checks for text that comes from outside (files, jsonl records, API bodies)."""

from __future__ import annotations

import re
from typing import Any

LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
"""A code point UTF-8 cannot encode: what Python makes of a non-UTF-8 byte in a file name, or what a JSON
`\\ud800` escape gives. Text holding one can be neither hashed into an id, stored in SQLite, nor sent back
as JSON, so it is refused where it enters."""


def has_lone_surrogate(value: Any) -> bool:
    """Whether a string, or any key or value nested in dicts and lists, holds a lone surrogate."""
    if isinstance(value, str):
        return LONE_SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_lone_surrogate(v) for v in value)
    return False
