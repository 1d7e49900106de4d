"""Citation quality of a cited answer: precision (cited passage supports its sentence), recall (factual
sentences cite supporting passages), and excerpt validity; support judged by an LLM or by token overlap.

Definitions follow ALCE (Gao et al. 2023), simplified: a factual sentence is *recalled* when the text of
all its cited passages together supports it; a citation is *precise* when its passage alone supports the
sentence that cites it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, Field

from sleuth.llm.base import ChatModel, GenParams, Message
from sleuth.llm.structured import generate
from sleuth.text import STOPWORDS, normalize_answer, split_sentences

_CITE = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


class SupportJudge(Protocol):
    """Decides whether a passage supports a claim."""

    async def supports(self, claim: str, passage: str) -> bool: ...


def content_tokens(text: str) -> list[str]:
    """Normalised tokens without stopwords and citation markers: what a claim asserts."""
    return [t for t in normalize_answer(_CITE.sub(" ", text)).split() if t not in STOPWORDS]


@dataclass
class OverlapSupport:
    """Offline proxy: a passage supports a claim when it holds at least `threshold` of the claim's
    content tokens. Cheap and deterministic; it misses paraphrase and cannot see negation."""

    threshold: float = 0.6

    async def supports(self, claim: str, passage: str) -> bool:
        return overlap(claim, passage) >= self.threshold


def overlap(claim: str, passage: str) -> float:
    """Share of the claim's content tokens found in the passage (1.0 for a claim with none)."""
    tokens = content_tokens(claim)
    if not tokens:
        return 1.0
    have = set(content_tokens(passage))
    return sum(t in have for t in tokens) / len(tokens)


class SupportVerdict(BaseModel):
    """The judge's answer to 'does this passage support this claim?'."""

    reason: str = Field(default="", description="One short sentence.")
    supported: bool


@dataclass
class LLMSupport:
    """An LLM decides support (the judge role's prompt frames it as a strict grader)."""

    llm: ChatModel
    system_prompt: str

    async def supports(self, claim: str, passage: str) -> bool:
        messages: list[Message] = [
            {"role": "system", "content": self.system_prompt},
            {
                "role": "user",
                "content": "Task: does the PASSAGE fully support the CLAIM? Judge only from "
                f"the passage.\n\nPASSAGE:\n{passage[:4000]}\n\nCLAIM:\n{claim}\n\n"
                'Reply as JSON: {"reason": "...", "supported": true|false}',
            },
        ]
        verdict = await generate(
            self.llm, messages, SupportVerdict, agent="judge", params=GenParams(temperature=0.0, max_tokens=128)
        )
        return verdict.supported


def answer_sentences(text: str) -> list[str]:
    """Split an answer into sentences, keeping each sentence's trailing `[n]` markers with it."""
    sentences: list[str] = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*•").strip()
        if not line or line.startswith("#"):
            continue
        # "Paris is big. [1] It is old [2]." -> markers after a full stop belong to the previous sentence
        line = re.sub(r"([.!?])\s+((?:\[\d+(?:\s*[,;]\s*\d+)*\]\s*)+)", r" \2\1 ", line)
        sentences.extend(split_sentences(line))
    return sentences


def cited_numbers(sentence: str) -> list[int]:
    """The citation numbers in a sentence, in order, without repeats."""
    numbers: list[int] = []
    for group in _CITE.findall(sentence):
        for part in re.split(r"[,;]", group):
            n = int(part)
            if n not in numbers:
                numbers.append(n)
    return numbers


def is_factual(sentence: str) -> bool:
    """A sentence that asserts something checkable: not a question, and at least 3 content words."""
    return not sentence.rstrip().endswith("?") and len(content_tokens(sentence)) >= 3


@dataclass
class CitationScores:
    """Citation quality of one answer (None where there is nothing to measure)."""

    precision: float | None
    recall: float | None
    excerpts: float | None
    """Share of citations whose quote occurs in the cited passage (whitespace- and case-normalised)."""
    factual_sentences: int
    citations: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "citation_precision": self.precision,
            "citation_recall": self.recall,
            "citation_excerpts": self.excerpts,
            "factual_sentences": self.factual_sentences,
            "citations_used": self.citations,
        }


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


async def score_citations(
    answer: str,
    citations: Sequence[Mapping[str, Any]],
    passages: Mapping[str, str],
    judge: SupportJudge,
) -> CitationScores:
    """Score the citations of a Markdown answer with `[n]` markers.

    Args:
        answer: the answer text.
        citations: records with `n`, `passage_id` and optionally `quote` (the `research` result's form).
        passages: passage id -> text; a citation whose passage is unknown is judged on its quote.
        judge: decides support (`OverlapSupport()` offline, `LLMSupport` with a model).
    """
    by_n = {int(c["n"]): c for c in citations if c.get("n") is not None}

    def source_text(n: int) -> str:
        record = by_n.get(n)
        if record is None:
            return ""
        return passages.get(str(record.get("passage_id", "")), "") or str(record.get("quote") or "")

    recalled = factual = precise = judged_citations = 0
    for sentence in answer_sentences(answer):
        numbers = cited_numbers(sentence)
        claim = _CITE.sub("", sentence).strip()
        texts = [source_text(n) for n in numbers]
        if is_factual(sentence):
            factual += 1
            if any(texts) and await judge.supports(claim, "\n\n".join(t for t in texts if t)):
                recalled += 1
        for text in texts:
            judged_citations += 1
            if text and await judge.supports(claim, text):
                precise += 1
    quoted = [c for c in citations if c.get("quote")]
    valid_quotes = sum(
        _squash(str(c["quote"])) in _squash(passages.get(str(c.get("passage_id", "")), "")) for c in quoted
    )
    return CitationScores(
        precision=precise / judged_citations if judged_citations else None,
        recall=recalled / factual if factual else None,
        excerpts=valid_quotes / len(citations) if citations else None,
        factual_sentences=factual,
        citations=judged_citations,
    )


def gold_citations(cited_ids: Sequence[str], gold_ids: Sequence[str]) -> dict[str, float | None]:
    """Citations against the passages the dataset's reference answer cites: the share of cited passages that
    are among them (precision) and the share of them cited (recall); None when either side is empty."""
    cited, gold = set(cited_ids), set(gold_ids)
    hit = len(cited & gold)
    return {
        "gold_cite_precision": hit / len(cited) if cited and gold else None,
        "gold_cite_recall": hit / len(gold) if gold else None,
    }
