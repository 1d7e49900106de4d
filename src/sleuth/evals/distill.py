"""ASP distillation data: filter a teacher's `ask` trajectories and export the good ones as SFT chat jsonl.

A trajectory is kept only if it passes every rule (arXiv 2604.04651's recipe):
- `f1`: the answer's String-F1 against the gold answers is above the threshold (0.65);
- `grounded`: at least one search, and every content word of the answer occurs in some `<information>`
  block or retrieved passage, i.e. every fact was reached through a search;
- `no_parametric`: no assistant turn leans on the model's memory ("I remember", "as is well known", ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleuth.evals.citations import content_tokens
from sleuth.evals.metrics import f1_score
from sleuth.text import normalize_answer

RULES = ("f1", "grounded", "no_parametric")
MIN_F1 = 0.65
PARAMETRIC_PHRASES = (
    "i remember",
    "i recall",
    "as is well known",
    "it is well known",
    "as everyone knows",
    "commonly known",
    "from my knowledge",
    "based on my knowledge",
    "from my own knowledge",
    "from memory",
    "as far as i know",
    "to my knowledge",
    "i already know",
    "i know that",
    "my training data",
)
_INFORMATION = re.compile(r"<information>(.*?)</information>", re.DOTALL | re.IGNORECASE)
_NO_INFO = "no helpful information found"


@dataclass
class Trajectory:
    """One teacher run: the conversation (chat messages) and what it retrieved."""

    question: str
    answers: list[str]
    """Gold answers."""
    prediction: str
    messages: list[dict[str, str]]
    passages: list[str] = field(default_factory=list)
    """Texts of the passages the searches returned."""
    search_calls: int = 0
    id: str = ""


def information_blocks(messages: Sequence[dict[str, str]]) -> list[str]:
    """The `<information>` contents the environment returned, minus 'No helpful information found.'"""
    blocks = [b.strip() for m in messages for b in _INFORMATION.findall(m.get("content", ""))]
    return [b for b in blocks if b and _NO_INFO not in b.lower()]


def _is_yes_no(answer: str) -> bool:
    return normalize_answer(answer) in {"yes", "no"}


def is_grounded(trajectory: Trajectory) -> bool:
    """True when the run searched and each content word of the answer occurs in what the searches found.

    A yes/no answer is a judgement over found facts, not a fact itself: it needs a search with a
    useful result, but its word need not occur in the evidence.
    """
    evidence = information_blocks(trajectory.messages) + [p for p in trajectory.passages if p.strip()]
    if trajectory.search_calls < 1 or not evidence:
        return False
    if _is_yes_no(trajectory.prediction):
        return True
    tokens = content_tokens(trajectory.prediction) or normalize_answer(trajectory.prediction).split()
    if not tokens:
        return False
    seen = set(content_tokens(" ".join(evidence))) | set(normalize_answer(" ".join(evidence)).split())
    return all(token in seen for token in tokens)


def parametric_phrase(messages: Sequence[dict[str, str]]) -> str | None:
    """The first memory phrase in an assistant turn, or None."""
    for message in messages:
        if message.get("role") != "assistant":
            continue
        text = " ".join(message.get("content", "").lower().replace("’", "'").split())
        for phrase in PARAMETRIC_PHRASES:
            if re.search(rf"\b{re.escape(phrase)}\b", text):
                return phrase
    return None


def failed_rules(trajectory: Trajectory, min_f1: float = MIN_F1) -> list[str]:
    """The rules a trajectory breaks (empty: keep it)."""
    failed = []
    if f1_score(trajectory.prediction, trajectory.answers) <= min_f1:
        failed.append("f1")
    if not is_grounded(trajectory):
        failed.append("grounded")
    if parametric_phrase(trajectory.messages) is not None:
        failed.append("no_parametric")
    return failed


@dataclass
class FilterCounts:
    """How many trajectories were seen, kept, and dropped by each rule (one may break several)."""

    total: int = 0
    kept: int = 0
    dropped: int = 0
    dropped_by_rule: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "kept": self.kept,
            "dropped": self.dropped,
            "dropped_by_rule": dict(self.dropped_by_rule),
        }


def filter_trajectories(
    trajectories: Iterable[Trajectory], min_f1: float = MIN_F1
) -> tuple[list[Trajectory], FilterCounts]:
    """Keep the trajectories that pass every rule; count the rest per rule broken."""
    kept: list[Trajectory] = []
    counts = FilterCounts()
    for trajectory in trajectories:
        counts.total += 1
        failed = failed_rules(trajectory, min_f1)
        if failed:
            counts.dropped += 1
            for rule in failed:
                counts.dropped_by_rule[rule] += 1
        else:
            counts.kept += 1
            kept.append(trajectory)
    return kept, counts


def to_sft(trajectory: Trajectory) -> dict[str, Any]:
    """One SFT example in chat format (`{"messages": [...]}`), `<information>` turns kept as user turns
    (trainers mask them out of the loss like any non-assistant turn)."""
    messages = [{"role": m["role"], "content": m["content"]} for m in trajectory.messages]
    return {"messages": messages, "meta": {"id": trajectory.id, "answers": trajectory.answers}}


def write_sft(path: Path, trajectories: Iterable[Trajectory]) -> int:
    """Write SFT jsonl; returns the number of lines written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for trajectory in trajectories:
            fh.write(json.dumps(to_sft(trajectory), ensure_ascii=False) + "\n")
            count += 1
    return count
