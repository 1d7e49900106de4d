"""The always-search policy in code: quote checks, memory-phrase detection, citation verification.

Prompts ask the model to search and cite; these functions make sure what reaches the user actually is
grounded: a quote counts only if it occurs in the passage, a sentence stays only if it cites verified
evidence that shares words with it, and an answer built from "what I remember" is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from sleuth.agents.state import (
    Citation,
    DraftSentence,
    DroppedSentence,
    EvidenceItem,
    PassageRecord,
    ResearchState,
    SearchCall,
)
from sleuth.retrieval.base import Passage

MIN_QUOTE_CHARS = 12
"""Shorter 'quotes' ("the", "in 1998") would match almost any passage and prove nothing."""

MEMORY_PHRASES = re.compile(
    r"\b(i\s+(?:remember|recall|believe|think|know)|as\s+is\s+(?:well|widely|commonly|generally)\s+known"
    r"|it\s+is\s+(?:well|widely|commonly|generally)\s+known|from\s+my\s+(?:own\s+)?(?:knowledge|memory|training)"
    r"|to\s+my\s+knowledge|based\s+on\s+my\s+(?:knowledge|training)|as\s+far\s+as\s+i\s+know"
    r"|as\s+an\s+ai|common\s+knowledge|everyone\s+knows)\b",
    re.IGNORECASE,
)

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORD_TEXT = (
    "a an the and or but of in on at to for from by with as is are was were be been being it its this that these "
    "those he she they them his her their which who whom what when where why how not no yes do does did has have "
    "had also than then there here such into about over under after before between both each other more most "
    "some any all can could would should will may might"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


class PolicyViolationError(RuntimeError):
    """The graph tried something the always-search policy forbids (e.g. writing before searching)."""


def normalise(text: str) -> str:
    return " ".join(text.split())


def locate_quote(passage_text: str, quote: str) -> str | None:
    """Return the passage's own text for `quote` if it occurs there, comparing whitespace-normalised and
    case-folded; None when it does not occur or is too short to mean anything.

    The returned span is cut from the passage itself, so a cited quote is always literally in the source.
    """
    wanted = normalise(quote).strip(" \"'“”‘’")
    if len(wanted) < MIN_QUOTE_CHARS:
        return None
    # Map each character of the normalised passage back to its offset in the original text.
    chars: list[str] = []
    offsets: list[int] = []
    previous_space = True
    for index, char in enumerate(passage_text):
        if char.isspace():
            if not previous_space:
                chars.append(" ")
                offsets.append(index)
            previous_space = True
            continue
        chars.append(char)
        offsets.append(index)
        previous_space = False
    flat = "".join(chars).casefold()
    start = flat.find(wanted.casefold())
    if start < 0:
        return None
    end = start + len(wanted) - 1
    return passage_text[offsets[start] : offsets[end] + 1]


def memory_phrase(text: str) -> str | None:
    """The first parametric-memory phrase in `text` ("I remember", "as is well known", ...), if any."""
    match = MEMORY_PHRASES.search(text)
    return match.group(0) if match else None


def content_words(text: str) -> set[str]:
    """Non-stopwords cut to 5 characters: a crude stem, so "directors" meets "director" and "directed"."""
    return {w[:5] for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS and len(w) > 1}


def assert_searched(state: ResearchState) -> None:
    """Raise unless at least one search ran: the writer must never answer from memory alone."""
    if not state.get("search_calls"):
        raise PolicyViolationError("always-search policy: the writer was reached before any search ran")


def no_evidence_answer(question: str, search_calls: Sequence[SearchCall]) -> str:
    """The refusal: what was searched and that nothing supported an answer; never a guess."""
    queries = list(dict.fromkeys(call["query"] for call in search_calls))
    searched = "; ".join(f"“{q}”" for q in queries) or "(no queries)"
    return (
        f"I could not find evidence to answer “{question}”. I searched the collection for: {searched}. "
        "None of the retrieved passages contained a quote supporting an answer, so I am not answering "
        "from memory."
    )


def extractive_draft(evidence: Sequence[EvidenceItem], limit: int = 5) -> list[DraftSentence]:
    """A fallback draft when the writer gives nothing usable: the verified quotes themselves, cited."""
    draft: list[DraftSentence] = []
    for number, item in enumerate(evidence[:limit], start=1):
        quote = item["quote"].strip()
        if not quote.endswith((".", "!", "?")):
            quote += "."
        prefix = f"According to {item['title']}, " if item["title"] else ""
        draft.append({"text": f"{prefix}“{quote}”", "evidence": [number]})
    return draft


def finalise_answer(
    draft: Sequence[DraftSentence],
    evidence: Sequence[EvidenceItem],
    passages: dict[str, PassageRecord],
    lookup: Callable[[str], Passage | None] | None = None,
    *,
    question: str = "",
) -> tuple[str, list[Citation], list[DroppedSentence]]:
    """Verify each draft sentence's citations, drop what is unsupported, render Markdown with [n].

    A citation stays when its evidence number exists, the quote still occurs in the cited passage (or
    is a user correction's evidence) and the evidence shares a content word with the sentence; the sentence
    stays when at least half its content words occur in its cited quotes. A sentence with no citation left, with a memory phrase, that is a question (small models echo the user's
    question and cite it), or that repeats an earlier sentence is dropped and reported with the reason.

    Returns:
        (Markdown answer, citations numbered in order of first use, dropped sentences)
    """
    citations: list[Citation] = []
    number_of: dict[int, int] = {}
    lines: list[str] = []
    dropped: list[DroppedSentence] = []
    seen: set[str] = set()
    for sentence in draft:
        text = normalise(sentence["text"])
        # The model sometimes writes its own [n] markers too; ours replace them.
        text = re.sub(r"\s*\[\d+(?:\s*,\s*\d+)*\]", "", text).strip()
        if not text:
            continue
        phrase = memory_phrase(text)
        if phrase:
            dropped.append({"text": text, "reason": f"memory phrase: {phrase!r}"})
            continue
        key = _plain(text)
        if text.endswith("?") or (question and key == _plain(question)):
            dropped.append({"text": text, "reason": "a question, not an answer"})
            continue
        if key in seen:
            dropped.append({"text": text, "reason": "repeats an earlier sentence"})
            continue
        seen.add(key)
        kept: list[int] = []
        reasons: list[str] = []
        for ref in dict.fromkeys(sentence.get("evidence") or []):
            reason = _citation_problem(ref, text, evidence, passages, lookup)
            if reason:
                reasons.append(reason)
            else:
                kept.append(ref)
        if not kept:
            dropped.append({"text": text, "reason": "; ".join(reasons) or "no citation"})
            continue
        unsupported = _unsupported_share(text, [evidence[ref - 1] for ref in kept])
        if unsupported is not None:
            dropped.append({"text": text, "reason": unsupported})
            continue
        marks = []
        for ref in kept:
            if ref not in number_of:
                item = evidence[ref - 1]
                number_of[ref] = len(citations) + 1
                citations.append(
                    {
                        "n": number_of[ref],
                        "passage_id": item["passage_id"],
                        "title": item["title"],
                        "quote": item["quote"],
                        "kind": item["kind"],
                    }
                )
            marks.append(f"[{number_of[ref]}]")
        body = text if text.endswith((".", "!", "?", "”", '"')) else text + "."
        lines.append(f"{body} {''.join(marks)}")
    return " ".join(lines), citations, dropped


MIN_SUPPORTED_SHARE = 0.5
"""Share of a sentence's content words that its cited quotes (and their titles) must contain. One shared
word let a 0.5B writer attach "Pearl Jam was a drummer of the band" to a passage that only says "band"."""


SYNTHESIS_STEMS = frozenset(
    {
        "yes",
        "no",
        "both",
        "neith",
        "eithe",
        "first",
        "older",
        "oldes",
        "young",
        "large",
        "small",
        "earli",
        "later",
        "more",
        "less",
        "same",
        "diffe",
        "than",
        "befor",
        "after",
        "answe",
    }
)
"""Stems of the words an answer uses to compare or conclude (content_words form): they are the writer's
synthesis, not facts the evidence must contain ("Yes, both are directors", "The answer is X")."""


def _unsupported_share(text: str, cited: Sequence[EvidenceItem]) -> str | None:
    """Why a sentence is not carried by its cited evidence, or None when it is.

    Only the quotes and titles count: the reader's `claim` is model text and could launder anything.
    """
    words = content_words(text)
    if not words or len(_WORD.findall(text)) < 3:
        return "too short to state a fact"
    factual = words - SYNTHESIS_STEMS
    if not factual:
        return None
    support: set[str] = set()
    for item in cited:
        support |= content_words(f"{item['quote']} {item['title']}")
    share = len(factual & support) / len(factual)
    if share < MIN_SUPPORTED_SHARE:
        return f"only {share:.0%} of its content words occur in the cited evidence"
    return None


def _plain(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


def _citation_problem(
    ref: int,
    sentence: str,
    evidence: Sequence[EvidenceItem],
    passages: dict[str, PassageRecord],
    lookup: Callable[[str], Passage | None] | None,
) -> str | None:
    if not isinstance(ref, int) or not 1 <= ref <= len(evidence):
        return f"cites evidence [{ref}] which does not exist"
    item = evidence[ref - 1]
    if item["kind"] == "passage":
        record = passages.get(item["passage_id"])
        text = record["text"] if record else None
        if text is None and lookup is not None:
            found = lookup(item["passage_id"])
            text = found.text if found else None
        if text is None or locate_quote(text, item["quote"]) is None:
            return f"evidence [{ref}] quote not found in passage {item['passage_id']}"
    support = content_words(f"{item['quote']} {item['claim']} {item['title']}")
    if not content_words(sentence) & support:
        return f"evidence [{ref}] shares no content word with the sentence"
    return None
