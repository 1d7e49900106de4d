"""Where an eval's score comes from: per question type, per number of searches, and the naive→oracle gap.

The naive arm (one retrieve-then-read) is the floor and the oracle arm (the gold passages) the ceiling;
an agent is judged by the share of that gap it closes, and by its paired difference from the floor on the
same questions, so the report states both per arm.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sleuth.evals.stats import paired_bootstrap

_HOPS = re.compile(r"^(\d)hop")


def question_type(record: dict[str, Any]) -> str:
    """The record's question type with MuSiQue's sub-shapes folded (`3hop1`, `3hop2` -> `3hop`)."""
    kind = str(record.get("type") or "unknown")
    match = _HOPS.match(kind)
    return f"{match.group(1)}hop" if match else kind


def searches_bucket(record: dict[str, Any]) -> str:
    count = int(record.get("search_calls") or 0)
    return "3+" if count >= 3 else str(count)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def group_table(
    records: list[dict[str, Any]], group: Callable[[dict[str, Any]], str], metric: str
) -> dict[str, dict[str, dict[str, float]]]:
    """group -> arm -> {mean, n} of `metric` (errors count as their zero score)."""
    cells: dict[str, dict[str, list[float]]] = {}
    for record in records:
        value = record.get(metric)
        if value is None:
            continue
        cells.setdefault(group(record), {}).setdefault(record["arm"], []).append(float(value))
    return {
        g: {arm: {"mean": _mean(v), "n": len(v)} for arm, v in sorted(arms.items())}
        for g, arms in sorted(cells.items())
    }


def gap_closed(summary: dict[str, dict[str, Any]], metric: str = "f1") -> dict[str, float]:
    """arm -> (score − naive) / (oracle − naive): 0 is the floor, 1 the ceiling; empty without both."""
    try:
        floor = summary["naive"][metric]["mean"]
        ceiling = summary["oracle"][metric]["mean"]
    except KeyError:
        return {}
    if ceiling - floor <= 1e-9:
        return {}
    return {
        arm: (entry[metric]["mean"] - floor) / (ceiling - floor)
        for arm, entry in summary.items()
        if metric in entry and arm not in ("naive", "oracle")
    }


def paired_with(records: list[dict[str, Any]], base: str = "naive", metric: str = "f1") -> dict[str, Any]:
    """arm -> its `metric` minus `base`'s on the questions both answered: the paired bootstrap interval and how
    many answers scored better and worse. Pairing removes the spread between questions, so a difference too
    small for two separate intervals to tell apart can still be shown (or shown to be noise)."""
    by_arm: dict[str, dict[str, float]] = {}
    for record in records:
        if record.get(metric) is not None:
            by_arm.setdefault(record["arm"], {})[record["example_id"]] = float(record[metric])
    floor = by_arm.pop(base, None)
    if not floor:
        return {}
    result: dict[str, Any] = {}
    for arm, scores in by_arm.items():
        shared = [q for q in floor if q in scores]
        if not shared:
            continue
        result[arm] = paired_bootstrap([floor[q] for q in shared], [scores[q] for q in shared]).to_json()
    return result


def breakdown(records: list[dict[str, Any]], summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The report's breakdown section as JSON: gap closed, F1 and searches by type, F1 by searches."""
    return {
        "gap_closed_f1": gap_closed(summary),
        "f1_vs_naive": paired_with(records),
        "f1_by_type": group_table(records, question_type, "f1"),
        "searches_by_type": group_table(records, question_type, "search_calls"),
        "f1_by_searches": group_table(records, searches_bucket, "f1"),
    }


def _markdown(table: dict[str, dict[str, dict[str, float]]], arms: list[str], label: str, digits: int) -> str:
    head = f"| {label} | " + " | ".join(arms) + " |"
    rule = "|---|" + "---:|" * len(arms)
    rows = []
    for group, cells in table.items():
        values = [f"{cells[a]['mean']:.{digits}f} (n={cells[a]['n']})" if a in cells else "–" for a in arms]
        rows.append(f"| {group} | " + " | ".join(values) + " |")
    return "\n".join([head, rule, *rows])


def breakdown_markdown(data: dict[str, Any], arms: list[str]) -> str:
    """The breakdown as Markdown sections (empty string when there is nothing to break down)."""
    parts: list[str] = []
    gap = data.get("gap_closed_f1") or {}
    if gap:
        lines = "\n".join(f"- **{arm}**: {share:+.2f}" for arm, share in gap.items())
        parts.append(f"## Share of the naive→oracle F1 gap closed\n\n(0 = naive, 1 = oracle)\n\n{lines}")
    paired = data.get("f1_vs_naive") or {}
    if paired:
        lines = "\n".join(
            f"- **{arm}**: {d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]{' (excludes 0)' if d['excludes_zero'] else ''}"
            f"; {d['better']} answers better, {d['worse']} worse, of {d['n']}"
            for arm, d in paired.items()
        )
        parts.append(f"## F1 minus the naive arm's on the same questions (95% paired bootstrap)\n\n{lines}")
    by_type = data.get("f1_by_type") or {}
    if by_type and (len(by_type) > 1 or "unknown" not in by_type):
        parts.append("## F1 by question type\n\n" + _markdown(data["f1_by_type"], arms, "type", 3))
        parts.append("## Searches per question by type\n\n" + _markdown(data["searches_by_type"], arms, "type", 2))
    if data.get("f1_by_searches"):
        parts.append("## F1 by searches made\n\n" + _markdown(data["f1_by_searches"], arms, "searches", 3))
    return "\n\n".join(parts)
