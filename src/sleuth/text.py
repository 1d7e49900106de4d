"""The ground floor of text handling: answer normalisation, stop words, sentence splitting, and the checks and
quoting of text that comes from outside (files, jsonl records, API bodies, passages).

Every piece of outside text a prompt shows (a passage, its title, a quote, a user correction, a model's
note about them) goes through `prompt_literal` (or, inside the ask agent's `<information>` block, through
`inline_text`), so it is data the model reads, never structure it obeys: cut to a limit, unable to start
a line, end a block or open a tag.
"""

from __future__ import annotations

import json
import re
import string
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lowercase, strip punctuation, drop the articles a/an/the, collapse whitespace (SQuAD v1.1)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCTUATION)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


_STOPWORD_TEXT = (
    "a an the and or but of in on at to for from by with as is are was were be been being it its this that "
    "these those which who whom whose what when where why how not no yes than then there here their they them "
    "he she his her we our you your i do does did has have had also such into about over under during after "
    "before between both each other more most some any all can could may might will would shall should"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""English function words: what a claim or a sentence asserts is in its other words."""

_ABBREVIATION = "".join(
    rf"(?<!\b{a}\.)" for a in ("[A-Z]", "Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "vs", "No", "Co")
)
# A sentence ends at . ! or ? (plus a closing quote or bracket) before a space and a capital or digit, unless
# the period closes an initial ("David S. Goyer", "U.S.") or a common abbreviation.
_SENTENCE_END = re.compile(rf"(?:(?<=[.!?])|(?<=[.!?][\"'”)])){_ABBREVIATION}\s+(?=[A-Z0-9\"“(])")


def split_sentences(text: str) -> list[str]:
    """Sentences of a text (a light rule: end mark, space, capital), whitespace kept inside."""
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


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


SECTION_MARKERS = re.compile(r"(BEGIN|END)\s+USER\s+CORRECTIONS", re.IGNORECASE)
"""The markers of the corrections block (`feedback.render`): removed from quoted text so each occurs once."""

PROTOCOL_TAG = re.compile(r"<(\s*/?\s*(?:search|answer|information)\s*)>", re.IGNORECASE)
"""The ask agent's tags (`<search>`, `<answer>`, `<information>` and their closing forms)."""


def defuse_tags(text: str) -> str:
    """`text` with the ask agent's tags made inert (angle brackets become ‹ ›): shown inside an
    `<information>` block, a passage can then neither close it nor write the model's `<answer>`."""
    return PROTOCOL_TAG.sub(r"‹\1›", text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Control characters (terminal escapes) and bidi overrides, which reorder what a reader sees."""


def clip(text: str, limit: int | None) -> str:
    """`text` cut to at most `limit` characters, an ellipsis marking the cut (None: no limit)."""
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"


def inline_text(text: str, limit: int | None = None) -> str:
    """Outside text made fit to sit inside one line or block of a prompt, cut to `limit` characters.

    Whitespace runs (newlines included) become one space, so it cannot start a line of its own (a forged
    "EVIDENCE:" header or "[9] ..." item); control characters go; the corrections block's markers are
    removed and the ask agent's tags defused, so it can neither end a block nor open a tag.
    """
    text = " ".join(_CONTROL.sub(" ", text).split())
    return clip(SECTION_MARKERS.sub("[marker removed]", defuse_tags(text)), limit)


def prompt_literal(text: str, limit: int | None = None) -> str:
    """Outside text as a prompt quotes it: `inline_text` as a JSON string literal (quotes and backslashes
    escaped, so the text cannot end its own quote)."""
    return json.dumps(inline_text(text, limit), ensure_ascii=False)
