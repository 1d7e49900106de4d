"""Whether cited quotes carry a sentence: every fact word of it (names, numbers, negation, comparisons) is in them.

A reader accepts "Circus Diablo was formed in 2006" from the quote "Circus Diablo is an American rock band,
formed in early 2006", and refuses it once one fact is added ("... by Pearl Jam"), flipped ("was not
formed") or turned into a comparison ("was formed first"). So support is decided word by word against the
quotes alone, with no share of slack: a passage's title is not cited text (a passage titled "Tom Hanks"
that says "He was born in Concord" does not cite the name), nor is the reader's model-written claim.

Words are compared case-folded and cut to 5 letters (a crude stem, so "directors" meets "director"), except
numbers and comparison words, which must occur whole ("1975" is not "1976", "youngest" is not "young"). A
word right after a negation ("not", "no", "never", "n't", ...) counts as negated and is supported only by a
negated occurrence in the quotes; an unnegated word is supported only by an unnegated one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sleuth.text import STOPWORDS

_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"\w+n['’]t\b|\w+", re.UNICODE)
"""Words, with "didn't" kept as "did" + "n't" so the negation is seen (`\\w+` alone would give "didn", "t")."""

NEGATIONS = frozenset(
    {"not", "no", "never", "neither", "nor", "none", "nobody", "nothing", "nowhere", "without", "cannot"}
)

_COMPARISON_TEXT = (
    "first last only earlier earliest later latest older oldest elder eldest younger youngest more most less "
    "least fewer fewest larger largest bigger biggest smaller smallest longer longest shorter shortest higher "
    "highest lower lowest taller tallest greater greatest better best worse worst before after same different"
)
COMPARISONS = frozenset(_COMPARISON_TEXT.split())
"""Words that relate things (a claim the quotes must make themselves); compared whole, never stemmed."""

SYNTHESIS = frozenset({"answer"})
""""The answer is X" names what follows as the answer; it states no fact of its own."""

_ANSWER_WORD = re.compile(r"^\s*(?:yes|no)\s*[,:;.!—–-]\s*", re.IGNORECASE)
"""A leading "Yes," or "No:" concludes; the facts after it must still be in the quotes."""


def content_words(text: str) -> set[str]:
    """Non-stopwords cut to 5 characters: a crude stem, so "directors" meets "director" and "directed"."""
    return {w[:5] for w in _WORD.findall(text.casefold()) if w not in STOPWORDS and len(w) > 1}


_NUMBER_TEXT = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
)
_NUMBER_WORDS = {word: str(n) for n, word in enumerate(_NUMBER_TEXT.split())}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def answer_words(text: str) -> set[str]:
    """`content_words` plus every number, with number words as digits: "2" is what "two moons"
    says (content words alone drop one-character words, so a bare "2" had nothing to find)."""
    text = _NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group(1).lower()], text)
    return content_words(text) | set(re.findall(r"\d+", text))


@dataclass(frozen=True)
class Fact:
    """One fact-bearing word of a text: its comparison key, the word as written, whether it is negated."""

    key: str
    word: str
    negated: bool


def _is_negation(token: str) -> bool:
    return token in NEGATIONS or token.endswith(("n't", "n’t"))


def fact_words(text: str) -> list[Fact]:
    """The words of `text` that state something, in order, each marked negated when a negation precedes it."""
    facts: list[Fact] = []
    pending = False
    for token in _TOKEN.findall(text.casefold()):
        if _is_negation(token):
            pending = True
            continue
        whole = token in COMPARISONS or any(ch.isdigit() for ch in token)
        if not whole and (token in STOPWORDS or token in SYNTHESIS or len(token) < 2):
            continue
        facts.append(Fact(token if whole else token[:5], token, pending))
        pending = False
    return facts


def _without_attribution(sentence: str, titles: Sequence[str]) -> str:
    """The sentence without a leading "According to <title>," naming one of the cited passages."""
    for title in titles:
        name = " ".join(title.split())
        if not name:
            continue
        match = re.match(rf"\s*according\s+to\s+{re.escape(name)}\s*,\s*", sentence, re.IGNORECASE)
        if match:
            return sentence[match.end() :]
    return sentence


def unsupported(sentence: str, quotes: Sequence[str], titles: Sequence[str] = ()) -> str | None:
    """Why the cited `quotes` do not carry `sentence`, or None when every fact of it is in them.

    Args:
        sentence: one sentence of a draft answer.
        quotes: the verified quotes it cites (the only support there is).
        titles: the cited passages' titles; they support nothing, but a sentence may open by naming one
            ("According to Jaws (film), ..."), which says where the words come from rather than a fact.

    Returns:
        A reason naming the missing or flipped words, or None.
    """
    if not content_words(sentence) or len(_WORD.findall(sentence)) < 3:
        return "too short to state a fact"
    claim = _ANSWER_WORD.sub("", _without_attribution(sentence, titles), count=1)
    cited = [fact for quote in quotes for fact in fact_words(quote)]
    stated = {f.key for f in cited if not f.negated}
    denied = {f.key for f in cited if f.negated}
    missing: list[str] = []
    flipped: list[str] = []
    for fact in fact_words(claim):
        if fact.key in (denied if fact.negated else stated):
            continue
        if fact.key in (stated if fact.negated else denied):
            flipped.append(fact.word)
        else:
            missing.append(fact.word)
    if flipped:
        return f"negation differs from the cited evidence on: {', '.join(dict.fromkeys(flipped))}"
    if missing:
        return f"content words not in the cited evidence: {', '.join(dict.fromkeys(missing))}"
    return None
