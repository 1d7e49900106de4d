"""A yes/no comparison split into one narrow question per side, and the sides' answers combined in code.

"Are Nantong and Jingdezhen in the same province?" asks two facts and one comparison. A small reader shown
both passages answers such questions "yes" almost always; asked about one side at a time ("Nantong: which
province?") it copies the fact, and code compares the two ("Jiangsu" against "Jiangxi": no). "Are A and B
both P?" is split the same way: one yes/no per side, "yes" only when both are.

Pure functions: no model, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sleuth.agents.ask.grounding import asks_yes_no, compared_names, is_yes_no
from sleuth.text import STOPWORDS

_SAME = re.compile(r"\bsame\s+([\w' -]+?)\s*\??\s*$", re.IGNORECASE)
_BOTH_WHAT = re.compile(r"\bboth\s+([\w' -]+?)\s*\??\s*$", re.IGNORECASE)
_WORDS = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Sides:
    """A yes/no comparison: its two names, and what is asked of them (one shared attribute, or one class
    both must belong to)."""

    names: tuple[str, str]
    kind: Literal["same", "both"]
    asked: str
    """"province" for "the same province"; "animated features" for "both animated features"."""

    def question(self, side: int) -> str:
        """The narrow question about one side: "Nantong: which province?", "Is Frozen an animated feature?"."""
        name = self.names[side]
        if self.kind == "same":
            return f"{name}: which {self.asked}?"
        return f"Is {name} {_one_of(self.asked)}?"

    def combine(self, answers: tuple[str, str]) -> str | None:
        """ "yes" or "no" from the two sides' answers, or None when either side gave nothing usable."""
        if self.kind == "both":
            said = [a.strip().lower().strip(".") if is_yes_no(a) else "" for a in answers]
            if "no" in said:
                return "no"
            return "yes" if said == ["yes", "yes"] else None
        values = [_words(a) - _words(self.asked) for a in answers]
        if not all(values) or any(is_yes_no(a) for a in answers):
            return None
        return "yes" if values[0] <= values[1] or values[1] <= values[0] else "no"


def split_sides(question: str) -> Sides | None:
    """The `Sides` of a yes/no question about two names ("Are A and B ... the same X?", "Are A and B both
    P?"), or None for any other question."""
    names = compared_names(question)
    if len(names) != 2 or not asks_yes_no(question):
        return None
    same = _SAME.search(question)
    if same:
        return Sides((names[0], names[1]), "same", same.group(1).strip())
    both = _BOTH_WHAT.search(question)
    if both and _words(both.group(1)):
        return Sides((names[0], names[1]), "both", both.group(1).strip())
    return None


def _words(text: str) -> set[str]:
    """Lower-case words without stop words, whole (not stemmed: "Jiangsu" and "Jiangxi" must differ)."""
    return {w for w in _WORDS.findall(text.lower()) if w not in STOPWORDS}


def _one_of(kind: str) -> str:
    """ "animated features" -> "an animated feature"; an adjective ("American") stays as it is."""
    words = kind.split()
    last = words[-1]
    if last.lower().endswith("ies"):
        last = last[:-3] + "y"
    elif last.lower().endswith("s") and not last.lower().endswith("ss"):
        last = last[:-1]
    else:
        return kind
    phrase = " ".join([*words[:-1], last])
    return f"{'an' if phrase[0].lower() in 'aeiou' else 'a'} {phrase}"
