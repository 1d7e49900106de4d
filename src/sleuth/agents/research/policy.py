"""The always-search policy in code: quote checks, memory-phrase detection, citation verification.

Prompts ask the model to search and cite; these functions make sure what reaches the user actually is
grounded: a quote counts only if it occurs in the passage (or in the user correction it cites), a sentence
stays only if its facts occur in the quotes it cites (`support.unsupported`), and an answer built from
"what I remember" is refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sleuth.agents.research.state import (
    CitationRecord,
    DraftSentence,
    DroppedSentence,
    EvidenceItem,
    PassageRecord,
    ResearchState,
    SearchRecord,
    VerifiedSentence,
)
from sleuth.agents.support import content_words, unsupported
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


def assert_searched(state: ResearchState) -> None:
    """Raise unless at least one search ran: the writer must never answer from memory alone."""
    if not state.get("search_calls"):
        raise PolicyViolationError("always-search policy: the writer was reached before any search ran")


def no_evidence_answer(question: str, search_calls: Sequence[SearchRecord]) -> str:
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


def render_sentences(sentences: Sequence[VerifiedSentence]) -> str:
    """Verified sentences as Markdown: each followed by its `[n]` markers."""
    return " ".join(f"{s['text']} {''.join(f'[{n}]' for n in s['cites'])}" for s in sentences)


def verify_draft(
    draft: Sequence[DraftSentence],
    evidence: Sequence[EvidenceItem],
    passages: dict[str, PassageRecord],
    lookup: Callable[[str], Passage | None] | None = None,
    *,
    question: str = "",
    patches: Mapping[str, str] | None = None,
) -> tuple[list[VerifiedSentence], list[CitationRecord], list[DroppedSentence]]:
    """Verify each draft sentence's citations and drop what is unsupported.

    A citation stays when its evidence number exists, its quote still occurs in the cited passage (for a
    user correction: in that correction's evidence, given in `patches`) and the quote shares a content word
    with the sentence; the sentence stays when every fact of it occurs in its cited quotes, titles and
    the reader's claims not counting (`support.unsupported`). A sentence with no citation left, with a
    memory phrase, that is a question (small models echo the user's question and cite it), or that repeats
    an earlier sentence is dropped and reported with the reason.

    Args:
        patches: citation id (`patch:ID`) -> evidence text of this run's citable user corrections.

    Returns:
        (kept sentences with their citation numbers, citations numbered in order of first use, dropped sentences)
    """
    citations: list[CitationRecord] = []
    number_of: dict[int, int] = {}
    lines: list[VerifiedSentence] = []
    dropped: list[DroppedSentence] = []
    seen: set[str] = set()
    sources = _Sources(passages, lookup, patches or {})
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
            reason = _citation_problem(ref, text, evidence, sources)
            if reason:
                reasons.append(reason)
            else:
                kept.append(ref)
        if not kept:
            dropped.append({"text": text, "reason": "; ".join(reasons) or "no citation"})
            continue
        cited = [evidence[ref - 1] for ref in kept]
        problem = unsupported(text, [item["quote"] for item in cited], [item["title"] for item in cited])
        if problem is not None:
            dropped.append({"text": text, "reason": problem})
            continue
        marks: list[int] = []
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
            marks.append(number_of[ref])
        body = text if text.endswith((".", "!", "?", "”", '"')) else text + "."
        lines.append({"text": body, "cites": marks})
    return lines, citations, dropped


def _plain(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


@dataclass(frozen=True)
class _Sources:
    """Where a cited quote must occur: retrieved passages (or the lookup), or this run's corrections."""

    passages: Mapping[str, PassageRecord]
    lookup: Callable[[str], Passage | None] | None
    patches: Mapping[str, str]

    def text_of(self, item: EvidenceItem) -> str | None:
        # A correction is found only among the run's own: a retrieved passage whose id merely starts with
        # "patch:" must not pass for one, and a correction no longer in the run cannot be cited.
        if item["kind"] == "patch":
            return self.patches.get(item["passage_id"])
        record = self.passages.get(item["passage_id"])
        if record is not None:
            return record["text"]
        found = self.lookup(item["passage_id"]) if self.lookup is not None else None
        return found.text if found else None


def _citation_problem(ref: int, sentence: str, evidence: Sequence[EvidenceItem], sources: _Sources) -> str | None:
    if not isinstance(ref, int) or not 1 <= ref <= len(evidence):
        return f"cites evidence [{ref}] which does not exist"
    item = evidence[ref - 1]
    text = sources.text_of(item)
    if text is None or locate_quote(text, item["quote"]) is None:
        return f"evidence [{ref}] quote not found in {item['kind']} {item['passage_id']}"
    # Only the quote is cited text: the title and the reader's claim are not what the source says.
    if not content_words(sentence) & content_words(item["quote"]):
        return f"evidence [{ref}] shares no content word with the sentence"
    return None
