"""Text handling of the ask agent: parsing `<search>`/`<answer>` tags, summaries, passages and citations.

Pure functions only (no LLM, no I/O), so the loop in `ask.py` stays readable and these are tested directly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sleuth.agents.support import answer_words
from sleuth.retrieval.base import Hit, Passage
from sleuth.text import PROTOCOL_TAG, clip, prompt_literal, split_sentences

NO_INFO = "No helpful information found."
"""The summariser's exact reply when no passage helps (ASP paper)."""

ANSWER_STOPS = ("</search>", "</answer>", "<information>")
"""Stop sequences: the model must not go on to write the `<information>` block itself."""

_OPEN_TAG = re.compile(r"<\s*(search|answer)\s*>", re.IGNORECASE)
_QUOTED = (
    re.compile(r'"[^"\n]*"|“[^”\n]*”|`[^`\n]*`'),
    re.compile(r"^[ \t]*>.*$", re.MULTILINE),
    re.compile(r"<\s*information\s*>.*?(?:<\s*/\s*information\s*>|\Z)", re.IGNORECASE | re.DOTALL),
)
"""What a reply only quotes: text in quotation marks or backticks, a Markdown quote line, an echoed
`<information>` block. A tag in there is one the model read (a passage may hold `<answer>42</answer>`),
not an action it takes."""
_LOOSE = re.compile(r"^\s*(search|answer)\s*[:,]\s*(.+)$", re.IGNORECASE | re.MULTILINE)
"""A small model's tagless form ("Search: who was Lilu?"): taken as the action it names."""
_NO_INFO = re.compile(r"no\s+helpful\s+information", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)
_ARTICLES = re.compile(r"\b(a|an|the)\b")

MAX_PASSAGE_CHARS = 600
"""Characters of each passage shown to the summariser: keeps a top-8 prompt small for a local model."""


@dataclass(frozen=True)
class Action:
    """What one model turn asked for: a search (query) or an answer, plus the thinking before the tag."""

    kind: Literal["search", "answer"]
    text: str
    thought: str = ""

    def as_message(self) -> str:
        """The turn as it is kept in the conversation: thought, then the closed tag (stops cut the tag)."""
        head = f"{self.thought}\n" if self.thought else ""
        return f"{head}<{self.kind}>{self.text}</{self.kind}>"


def parse_action(text: str) -> Action | None:
    """The first `<search>` or `<answer>` of a model turn that it does not merely quote, or None when there
    is no usable tag.

    A missing closing tag is accepted (stop sequences remove it); anything after another tag is cut,
    so a model that goes on to invent `<information>` does not smuggle it into the query. A tag inside
    quotation marks, backticks, a `>` quote line or an echoed `<information>` block is skipped.
    """
    match = _first_open_tag(text)
    if match is None:
        loose = _LOOSE.search(PROTOCOL_TAG.sub(" ", text))
        if loose is None or not loose.group(2).strip():
            return None
        kind = loose.group(1).lower()
        return Action(
            "search" if kind == "search" else "answer",
            " ".join(loose.group(2).split()),
            text[: loose.start()].strip(),
        )
    kind = match.group(1).lower()
    rest = text[match.end() :]
    closing = PROTOCOL_TAG.search(rest)
    body = " ".join((rest[: closing.start()] if closing else rest).split()).strip()
    if not body:
        return None
    thought = PROTOCOL_TAG.sub("", text[: match.start()]).strip()
    return Action("search" if kind == "search" else "answer", body, thought)


def _first_open_tag(text: str) -> re.Match[str] | None:
    quoted = [m.span() for pattern in _QUOTED for m in pattern.finditer(text)]
    for match in _OPEN_TAG.finditer(text):
        if not any(start <= match.start() < end for start, end in quoted):
            return match
    return None


def number_sentences(hits: Sequence[Hit], max_chars: int = MAX_PASSAGE_CHARS) -> tuple[str, list[tuple[Hit, str]]]:
    """The hits' sentences numbered across passages (`[3] ("Title") "sentence"`, titles and sentences quoted
    data), for the summariser to pick from, and the (hit, sentence) behind each number. Each passage is cut
    to about `max_chars`, and a longer sentence to `max_chars`."""
    lines: list[str] = []
    numbered: list[tuple[Hit, str]] = []
    for hit in hits:
        used = 0
        title = f"({prompt_literal(hit.passage.title, 200)}) " if hit.passage.title.strip() else ""
        for sentence in split_sentences(" ".join(hit.passage.text.split())):
            if used and used + len(sentence) > max_chars:
                break
            sentence = clip(sentence, max_chars)
            used += len(sentence)
            numbered.append((hit, sentence))
            lines.append(f"[{len(numbered)}] {title}{prompt_literal(sentence)}")
    return "\n".join(lines), numbered


def picked_summary(numbered: Sequence[tuple[Hit, str]], picks: Sequence[int], max_sentences: int = 3) -> str:
    """The summary built in code from the sentence numbers the model picked (invalid numbers ignored):
    each sentence copied from its passage, with the passage title so pronouns stay resolvable."""
    chosen: list[str] = []
    for number in picks:
        if 1 <= number <= len(numbered):
            hit, sentence = numbered[number - 1]
            text = f"{hit.passage.title}: {sentence}" if hit.passage.title else sentence
            if text not in chosen:
                chosen.append(text)
        if len(chosen) == max_sentences:
            break
    return " ".join(chosen) if chosen else NO_INFO


def _norm(text: str) -> str:
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) > 2}


def best_sentence(text: str, target: str) -> str:
    """The sentence of `text` sharing the most words with `target` (the first one on a tie)."""
    words = _content_words(target)
    candidates = split_sentences(text) or [text]
    return max(candidates, key=lambda s: len(words & _content_words(s)))


YES_NO = frozenset({"yes", "no"})


def supports(passage: Passage, answer: str) -> str | None:
    """The sentence of the passage that contains the answer (whole words, normalised), else one holding all
    of its fact words (`support.answer_words`: stems, numbers as digits), or None."""
    wanted = _norm(answer)
    if not wanted or wanted in YES_NO:
        return None
    candidates = split_sentences(passage.text) or [passage.text]
    for sentence in candidates:
        if f" {wanted} " in f" {_norm(sentence)} ":
            return sentence
    # Not word for word: a sentence holding all its facts ("2" in "It has two moons") still says it.
    facts = answer_words(answer)
    return next((sentence for sentence in candidates if facts and facts <= answer_words(sentence)), None)


@dataclass(frozen=True)
class UsedSearch:
    """A search whose summary went back to the model: its hits and the summary it produced."""

    hits: tuple[Hit, ...]
    summary: str


def choose_citations(answer: str, searches: Sequence[UsedSearch], limit: int = 5) -> list[tuple[Passage, str]]:
    """The passages that back the answer, each with an exact quote from it.

    Passages of useful searches (summary not `NO_INFO`) whose text contains the answer are cited. A yes/no
    answer occurs in no text, so for it the hit of each useful search that shares the most words with its
    summary stands in: the passage the summariser most likely drew on. Any other answer that no passage
    text contains (a guess, or a name only a title holds) gets no citation: a citation says "this says so".
    """
    useful = [s for s in searches if s.summary != NO_INFO and s.hits]
    chosen: list[tuple[Passage, str]] = []
    seen: set[str] = set()
    for search in useful:
        for hit in search.hits:
            quote = supports(hit.passage, answer)
            if quote and hit.passage.id not in seen:
                seen.add(hit.passage.id)
                chosen.append((hit.passage, quote))
    if not chosen and _norm(answer) in YES_NO:
        for search in useful:
            words = _content_words(search.summary)
            hit = max(search.hits, key=lambda h: len(words & _content_words(h.passage.text)))
            if hit.passage.id not in seen:
                seen.add(hit.passage.id)
                chosen.append((hit.passage, best_sentence(hit.passage.text, search.summary)))
    return chosen[:limit]


def short_answer(text: str, max_chars: int = 200) -> str:
    """An answer as one short line (a small model sometimes keeps talking inside the tag)."""
    line = " ".join(text.split())
    return line if len(line) <= max_chars else line[: max_chars - 1] + "…"


_NOT_AN_ANSWER = re.compile(r"\b(search|searched|information|tag)\b", re.IGNORECASE)


def untagged_answer(reply: str, max_words: int = 20) -> str:
    """The first sentence of a reply without tags when it can be an answer, else "".

    Questions and talk about searching or tags are not answers (a small model echoes the reminders).
    """
    text = " ".join(PROTOCOL_TAG.sub(" ", reply).split())
    first = split_sentences(text)[0] if text else ""
    if not first or first.endswith("?") or _NOT_AN_ANSWER.search(first) or len(first.split()) > max_words:
        return ""
    return first
