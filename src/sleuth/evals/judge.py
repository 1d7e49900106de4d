"""Long-form answer judge with the ScholarQA-CS weighting: rubric 0.6, length 0.05, expertise 0.05,
citations 0.2, excerpts 0.1; rubric items from the dataset, or a reference answer to compare against.

The one judge of sleuth: `sleuth eval longform` reports its score, and the optimizers' `judge` metric
(`optimizers.metrics.RubricJudgeMetric`) maximises the same number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, Field

from sleuth.evals.arms import ArmRun
from sleuth.evals.citations import SupportJudge, gold_citations, score_citations
from sleuth.evals.datasets import QAExample, RubricItem
from sleuth.evals.runner import Scorer, error_record
from sleuth.llm.base import ChatModel, GenParams, Message
from sleuth.llm.structured import generate
from sleuth.retrieval.base import Passage

DEFAULT_JUDGE_PROMPT = "Grade the answer as asked. Reply with only the JSON object you are asked for."
"""The judge's system prompt when the prompt set has no `judge` role."""
WEIGHTS = {"rubric": 0.6, "length": 0.05, "expertise": 0.05, "citations": 0.2, "excerpts": 0.1}
"""ScholarQA-CS component weights; they sum to 1."""
IMPORTANT_WEIGHT = 2.0
"""A most-important rubric item counts twice a nice-to-have one."""
FULL_LENGTH_WORDS = 300
ZERO_LENGTH_WORDS = 600
_CITE = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
_WORD = re.compile(r"\w[\w'’-]*")


def length_score(words: int) -> float:
    """1 up to 300 words, 0 from 600 words, linear in between (long answers bury what matters)."""
    if words <= FULL_LENGTH_WORDS:
        return 1.0
    if words >= ZERO_LENGTH_WORDS:
        return 0.0
    return (ZERO_LENGTH_WORDS - words) / (ZERO_LENGTH_WORDS - FULL_LENGTH_WORDS)


def rubric_score(items: Sequence[RubricItem], scores: Sequence[float]) -> float:
    """Weighted mean of per-item scores in [0, 1]; most-important items weigh `IMPORTANT_WEIGHT`."""
    if len(items) != len(scores):
        raise ValueError(f"{len(items)} rubric items but {len(scores)} scores")
    weights = [IMPORTANT_WEIGHT if item.important else 1.0 for item in items]
    total = sum(weights)
    if not total:
        return 0.0
    return sum(w * min(1.0, max(0.0, s)) for w, s in zip(weights, scores, strict=True)) / total


def answer_words(answer: str) -> int:
    """Word count of an answer, citation markers excluded."""
    return len(_WORD.findall(_CITE.sub(" ", answer)))


@dataclass
class LongformScores:
    """Each component in [0, 1]; `total` applies `WEIGHTS`."""

    rubric: float
    length: float
    expertise: float
    citations: float
    excerpts: float

    @property
    def total(self) -> float:
        return sum(WEIGHTS[name] * value for name, value in asdict(self).items())

    def as_dict(self) -> dict[str, float]:
        """The components and the total; the citation component as `citation_score`, since a result line's
        `citations` is its list of citations."""
        parts = asdict(self)
        parts["citation_score"] = parts.pop("citations")
        return {**parts, "score": self.total}


class ItemScore(BaseModel):
    index: int = Field(description="The rubric item's number.")
    score: int = Field(ge=0, le=2, description="0 = not covered, 1 = partly, 2 = fully covered.")


class RubricVerdict(BaseModel):
    """Judge output in rubric mode."""

    items: list[ItemScore]
    expertise: int = Field(ge=0, le=10, description="How expert, precise and specific the answer is.")


class ReferenceVerdict(BaseModel):
    """Judge output in reference-answer mode."""

    reason: str = Field(default="", description="One or two sentences.")
    coverage: int = Field(ge=0, le=10, description="How much of the reference's key content the answer covers.")
    expertise: int = Field(ge=0, le=10, description="How expert, precise and specific the answer is.")


@dataclass
class ContentGrade:
    """The judge's grade of an answer's content: coverage and expertise in [0, 1], and why (feedback)."""

    content: float
    expertise: float
    note: str = ""


def _answer_only(answer: str, limit: int = 6000) -> str:
    return answer if len(answer) <= limit else answer[:limit] + " ..."


async def judge_rubric(
    llm: ChatModel, system_prompt: str, question: str, answer: str, items: Sequence[RubricItem]
) -> ContentGrade:
    """The rubric score and expertise; items the judge skipped count as not covered, and the note names
    the items not fully covered."""
    listing = "\n".join(
        f"{i}. {'[most important] ' if it.important else '[nice to have] '}{it.criterion}"
        for i, it in enumerate(items, 1)
    )
    messages: list[Message] = [
        {"role": "system", "content": system_prompt},
        {
            "role": "user",
            "content": f"QUESTION:\n{question}\n\nANSWER:\n{_answer_only(answer)}\n\nRUBRIC:\n{listing}"
            "\n\nScore every rubric item 0-2 and the answer's expertise 0-10. Reply as JSON: "
            '{"items": [{"index": 1, "score": 0}], "expertise": 0}',
        },
    ]
    verdict = await generate(
        llm,
        messages,
        RubricVerdict,
        agent="judge",
        params=GenParams(temperature=0.0, max_tokens=60 + 16 * len(items)),
    )
    by_index = {s.index: s.score / 2 for s in verdict.items}
    scores = [by_index.get(i, 0.0) for i in range(1, len(items) + 1)]
    missing = [item.criterion for item, score in zip(items, scores, strict=True) if score < 1.0]
    note = f"Rubric items not fully covered: {'; '.join(missing)}." if missing else "Every rubric item is covered."
    return ContentGrade(rubric_score(items, scores), verdict.expertise / 10, note)


async def judge_reference(
    llm: ChatModel, system_prompt: str, question: str, answer: str, reference: str
) -> ContentGrade:
    """The coverage of the reference answer and the expertise, with the judge's reason."""
    messages: list[Message] = [
        {"role": "system", "content": system_prompt},
        {
            "role": "user",
            "content": f"QUESTION:\n{question}\n\nREFERENCE ANSWER (written by an expert):\n"
            f"{_answer_only(reference)}\n\nANSWER TO GRADE:\n{_answer_only(answer)}\n\nRate how much of the "
            "reference's key content the answer covers (0-10) and the answer's expertise (0-10). Reply as JSON: "
            '{"reason": "...", "coverage": 0, "expertise": 0}',
        },
    ]
    verdict = await generate(
        llm, messages, ReferenceVerdict, agent="judge", params=GenParams(temperature=0.0, max_tokens=200)
    )
    return ContentGrade(verdict.coverage / 10, verdict.expertise / 10, verdict.reason)


async def judge_longform(
    llm: ChatModel,
    system_prompt: str,
    example: QAExample,
    answer: str,
    citations: Sequence[Mapping[str, Any]],
    passages: Mapping[str, str],
    support: SupportJudge,
) -> dict[str, Any]:
    """Score one long-form answer; rubric mode when the example has a rubric, else reference mode.

    Raises:
        ValueError: the example has neither a rubric nor a reference answer.
    """
    if example.rubric:
        grade = await judge_rubric(llm, system_prompt, example.question, answer, example.rubric)
        mode = "rubric"
    elif example.reference_answer:
        grade = await judge_reference(llm, system_prompt, example.question, answer, example.reference_answer)
        mode = "reference"
    else:
        raise ValueError(f"question {example.id} has neither a rubric nor a reference_answer to judge against")
    cites = await score_citations(answer, citations, passages, support)
    parts = [p for p in (cites.precision, cites.recall) if p is not None]
    scores = LongformScores(
        rubric=grade.content,
        length=length_score(answer_words(answer)),
        expertise=grade.expertise,
        citations=sum(parts) / len(parts) if parts else 0.0,
        excerpts=cites.excerpts or 0.0,
    )
    return {
        "judge_mode": mode,
        "judge_note": grade.note,
        "words": answer_words(answer),
        **scores.as_dict(),
        **cites.as_dict(),
    }


def report_body(answer: str) -> str:
    """A report's Markdown without its closing sources list (what is read, judged and counted)."""
    return answer.split("\n## Sources", 1)[0]


def shape_scores(example: QAExample, run: ArmRun) -> dict[str, Any]:
    """What the answer looks like, computed in code: sections, words, the share of drafted sentences that
    verification dropped, and citations against the passages the dataset's reference answer cites."""
    kept = int(run.details.get("kept_sentences", 0))
    dropped = int(run.details.get("dropped_sentences", 0))
    cited = [str(c.get("passage_id", "")) for c in run.citations]
    return {
        "form": run.details.get("form", "answer"),
        "sections": int(run.details.get("sections", 0)),
        "words": answer_words(report_body(run.answer)),
        "dropped_share": dropped / (kept + dropped) if kept + dropped else None,
        **gold_citations(cited, example.gold_passage_ids),
    }


def longform_scorer(
    llm: ChatModel | None, system_prompt: str, support: SupportJudge, lookup: Callable[[str], Passage | None]
) -> Scorer:
    """The eval runner's `scorer` for long answers: `judge_longform` with the cited passages' texts (or, with no
    judge model, only the citation checks), plus `shape_scores`, as one result line (a judge failure is
    recorded as the run's error, with the answer kept)."""

    async def score(example: QAExample, arm: str, run: ArmRun) -> dict[str, Any]:
        texts: dict[str, str] = {}
        for citation in run.citations:
            passage = lookup(str(citation.get("passage_id", "")))
            if passage is not None:
                texts[passage.id] = passage.text
        body = report_body(run.answer)
        try:
            if llm is None:
                graded = (await score_citations(body, run.citations, texts, support)).as_dict()
            else:
                graded = await judge_longform(llm, system_prompt, example, body, run.citations, texts, support)
        except Exception as exc:  # a judge failure is the judge's, but it must be visible
            return {**error_record(example, arm, exc), "prediction": run.answer}
        return {
            "example_id": example.id,
            "arm": arm,
            "question": example.question,
            "prediction": run.answer,
            "citations": run.citations,
            "search_calls": run.search_calls,
            "turns": run.turns,
            "tokens": run.prompt_tokens + run.completion_tokens,
            "cost_usd": run.cost_usd,
            "latency_s": round(run.latency_s, 3),
            "error": None,
            **graded,
            **shape_scores(example, run),
        }

    return score
