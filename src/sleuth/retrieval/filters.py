"""Metadata filters in Chroma's `where` syntax: evaluate one in Python, or normalise one for Chroma.

Supported: `{"key": value}` (equality), `{"key": {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte"|"$in"|"$nin": v}}`,
`{"$and": [...]}`, `{"$or": [...]}`. Keys are metadata keys, plus `source` (the file a passage came from)
and `title`.
"""

from __future__ import annotations

from typing import Any

from sleuth.retrieval.base import Filter, Passage

_COMPARE = {
    "$eq": lambda a, b: a == b,
    "$ne": lambda a, b: a != b,
    "$gt": lambda a, b: a is not None and a > b,
    "$gte": lambda a, b: a is not None and a >= b,
    "$lt": lambda a, b: a is not None and a < b,
    "$lte": lambda a, b: a is not None and a <= b,
    "$in": lambda a, b: a in b,
    "$nin": lambda a, b: a not in b,
}


class FilterError(ValueError):
    """A `where` filter that is not in the supported syntax."""


def fields(passage: Passage) -> dict[str, Any]:
    """The values a filter sees for a passage."""
    return {**passage.metadata, "source": passage.source, "title": passage.title}


def matches(values: dict[str, Any], where: Filter) -> bool:
    """Whether metadata `values` satisfy the filter `where`."""
    for key, condition in where.items():
        if key == "$and":
            if not all(matches(values, sub) for sub in condition):
                return False
        elif key == "$or":
            if not any(matches(values, sub) for sub in condition):
                return False
        elif key.startswith("$"):
            raise FilterError(f"unknown filter operator {key!r}")
        elif isinstance(condition, dict):
            for op, operand in condition.items():
                if op not in _COMPARE:
                    raise FilterError(f"unknown comparison {op!r} for {key!r}")
                try:
                    if not _COMPARE[op](values.get(key), operand):
                        return False
                except TypeError:  # e.g. comparing a string with a number: no match
                    return False
        elif values.get(key) != condition:
            return False
    return True


def to_chroma(where: Filter | None) -> Filter | None:
    """Chroma wants one condition per dict: `{"a": 1, "b": 2}` becomes `{"$and": [{"a": 1}, {"b": 2}]}`."""
    if not where:
        return None
    parts = []
    for key, condition in where.items():
        if key in ("$and", "$or"):
            parts.append({key: [to_chroma(sub) for sub in condition]})
        else:
            parts.append({key: condition})
    return parts[0] if len(parts) == 1 else {"$and": parts}
