"""Metrics the optimizers maximise, each with textual feedback: EM/F1/cover for `ask`, citations and a
rubric judge for `research`.

The numbers come from `sleuth.evals` (the same definitions the evals report); the feedback is written for
the reflection model: what was wrong, what the gold answer was, what the searches found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from sleuth.evals.citations import OverlapSupport, score_citations
from sleuth.evals.judge import DEFAULT_JUDGE_PROMPT, WEIGHTS, judge_longform
from sleuth.evals.metrics import cover_match, exact_match, f1_score
from sleuth.llm.base import ChatModel
from sleuth.optimizers.base import Rollout, Score

ANSWER_METRICS: dict[str, Callable[[str, list[str]], float]] = {
    "em": exact_match,
    "f1": f1_score,
    "cover": cover_match,
}
METRICS = (*ANSWER_METRICS, "citations", "judge")


def gold_in(text: str, golds: list[str]) -> bool:
    """Whether some gold answer occurs (normalised, whole words) in `text`."""
    return bool(golds) and cover_match(text, golds) == 1.0


def _searches_line(rollout: Rollout) -> str:
    if not rollout.searches:
        return "The agent made no search at all (it must always search before answering)."
    queries = "; ".join(f"'{s.query}'" for s in rollout.searches)
    return f"The agent made {len(rollout.searches)} search(es): {queries}."


def _citations_line(rollout: Rollout) -> tuple[str, float]:
    """Feedback on the answer's citations and the share whose quote really occurs in the cited passage."""
    if not rollout.citations:
        return "The answer cites no passage.", 0.0
    passages = rollout.passages
    valid = sum(
        str(c.get("quote", "")).strip().lower() in passages.get(str(c.get("passage_id")), "").lower()
        for c in rollout.citations
    )
    share = valid / len(rollout.citations)
    return f"{valid} of {len(rollout.citations)} citation(s) quote their passage correctly.", share


def _steps_line(rollout: Rollout) -> str:
    """The gold decomposition of a multi-hop question (MuSiQue ships one), without the hop answers."""
    steps = rollout.example.meta.get("question_decomposition") or []
    questions = [str(s.get("question", "")).strip() for s in steps if isinstance(s, dict)]
    if len(questions) < 2 or not all(questions):
        return ""
    listed = " ".join(f"{i}) {q}" for i, q in enumerate(questions, 1))
    return f"The question has {len(questions)} steps: {listed} (#1 stands for the answer of step 1)."


def _gold_passages_line(rollout: Rollout, titles: Mapping[str, str]) -> str:
    """Which of the passages holding the needed facts the searches reached, as in GEPA's multi-hop feedback
    ("the documents still to be retrieved"): the reflection model sees which hop was never searched for."""
    gold = rollout.example.gold_passage_ids
    if not gold:
        return ""
    retrieved = rollout.passages
    found = [pid for pid in gold if pid in retrieved]
    missed = [pid for pid in gold if pid not in retrieved]

    def names(ids: list[str]) -> str:
        return ", ".join(f"'{titles[pid]}'" for pid in ids)

    if all(titles.get(pid) for pid in gold):
        if not missed:
            return f"The searches found all {len(gold)} passages with the needed facts ({names(found)})."
        line = f"The needed facts are in {len(gold)} passages; never found: {names(missed)}"
        line += f"; found: {names(found)}." if found else "."
    else:
        line = f"The needed facts are in {len(gold)} passages; the searches found {len(found)} of them."
    if found and missed and len(rollout.searches) <= 1:
        line += (
            " One search cannot reach a fact that depends on another: after the first search names "
            "the person, place or thing, search again about that name."
        )
    return line


@dataclass
class AnswerMetric:
    """Short-answer metric (`em`, `f1` or `cover`) against the example's gold answers.

    Args:
        titles: passage id -> title, so the feedback can name the gold passages a search missed.
    """

    name: str = "em"
    titles: Mapping[str, str] = field(default_factory=dict)

    async def score(self, rollout: Rollout) -> Score:
        golds = rollout.example.answers
        if rollout.error:
            return Score(0.0, f"The run failed: {rollout.error}. {_searches_line(rollout)}", {"error": 1.0})
        value = ANSWER_METRICS[self.name](rollout.answer, golds)
        parts = {"em": exact_match(rollout.answer, golds), "f1": f1_score(rollout.answer, golds)}
        gold_text = " | ".join(golds) or "(none given)"
        lines = []
        if parts["em"] == 1.0:
            lines.append(f"Correct: the answer '{rollout.answer}' matches the gold answer '{gold_text}'.")
        else:
            lines.append(f"Wrong: the answer was '{rollout.answer}' but the gold answer is '{gold_text}'.")
            if gold_in(rollout.answer, golds):
                lines.append(
                    "The answer contains the gold answer but adds other words: give only the few words asked for."
                )
            elif gold_in(" ".join(rollout.passages.values()), golds):
                lines.append(
                    "The gold answer was in the retrieved passages, so the search found it but the "
                    "final answer did not use it."
                )
            elif rollout.searches:
                lines.append("The gold answer never appeared in any retrieved passage: the searches missed it.")
            lines.extend(
                line for line in (_steps_line(rollout), _gold_passages_line(rollout, self.titles)) if line
            )
        lines.append(_searches_line(rollout))
        citation_text, valid = _citations_line(rollout)
        lines.append(citation_text)
        parts["citations_valid"] = valid
        return Score(value, " ".join(lines), parts)


@dataclass
class CitationMetric:
    """Research metric: citation precision/recall/excerpt validity (ALCE-style, offline overlap support),
    averaged with gold-answer coverage when the example has gold answers."""

    name: str = "citations"

    async def score(self, rollout: Rollout) -> Score:
        if rollout.error:
            return Score(0.0, f"The run failed: {rollout.error}.", {"error": 1.0})
        if not rollout.answer.strip():
            return Score(0.0, "The report is empty. " + _searches_line(rollout))
        scores = await score_citations(rollout.answer, rollout.citations, rollout.passages, OverlapSupport())
        parts = {
            k: v
            for k, v in (
                ("citation_precision", scores.precision),
                ("citation_recall", scores.recall),
                ("citation_excerpts", scores.excerpts),
            )
            if v is not None
        }
        lines = [f"{scores.factual_sentences} factual sentence(s), {scores.citations} citation(s)."]
        if scores.recall is not None and scores.recall < 1:
            lines.append(f"Only {scores.recall:.0%} of factual sentences cite a passage that supports them.")
        if scores.precision is not None and scores.precision < 1:
            lines.append(
                f"{1 - scores.precision:.0%} of citations point to a passage that does not support their sentence."
            )
        if scores.excerpts is not None and scores.excerpts < 1:
            lines.append("Some quotes do not occur in the cited passage (invalid citations).")
        if not rollout.citations:
            lines.append("The report cites nothing: every factual sentence needs a [n] citation.")
        quality = sum(parts.values()) / len(parts) if parts else 0.0
        golds = rollout.example.answers
        if golds:
            covered = float(gold_in(rollout.answer, golds))
            parts["answer_cover"] = covered
            lines.append(
                "The report states the gold answer."
                if covered
                else f"The report does not state the gold answer '{' | '.join(golds)}'."
            )
            quality = (quality + covered) / 2
        lines.append(_searches_line(rollout))
        return Score(quality, " ".join(lines), parts)


@dataclass
class RubricJudgeMetric:
    """Research metric: the long-form eval's judge (`evals.judge.judge_longform`: rubric or reference answer,
    length, expertise, citations, excerpts), so GEPA maximises the very score `sleuth eval longform` reports.
    Citations are checked offline against the passages the rollout's searches returned. A question with
    neither rubric nor reference answer is judged against its short gold answers."""

    llm: ChatModel
    judge_prompt: str = DEFAULT_JUDGE_PROMPT
    name: str = "judge"

    async def score(self, rollout: Rollout) -> Score:
        if rollout.error:
            return Score(0.0, f"The run failed: {rollout.error}.", {"error": 1.0})
        example = rollout.example
        if not example.rubric and not example.reference_answer:
            if not example.answers:
                return Score(0.0, "The question has no rubric, reference or gold answer to judge.", {"error": 1.0})
            example = replace(example, reference_answer=" | ".join(example.answers))
        graded = await judge_longform(
            self.llm,
            self.judge_prompt,
            example,
            rollout.answer,
            rollout.citations,
            rollout.passages,
            OverlapSupport(),
        )
        parts = {name: float(graded["citation_score" if name == "citations" else name]) for name in WEIGHTS}
        listed = ", ".join(f"{name} {value:.2f}" for name, value in parts.items())
        feedback = f"Judge: {graded['judge_note']} Score {graded['score']:.2f} ({listed})."
        return Score(float(graded["score"]), feedback, parts)


def build_metric(
    name: str,
    *,
    judge_llm: ChatModel | None = None,
    judge_prompt: str | None = None,
    titles: Mapping[str, str] | None = None,
):
    """The metric called `name` (`em`, `f1`, `cover`, `citations`, `judge`); `titles` (passage id -> title)
    lets the answer metrics name the gold passages the searches missed."""
    if name in ANSWER_METRICS:
        return AnswerMetric(name, dict(titles or {}))
    if name == "citations":
        return CitationMetric()
    if name == "judge":
        if judge_llm is None:
            raise ValueError("the judge metric needs a model")
        return RubricJudgeMetric(judge_llm, judge_prompt or DEFAULT_JUDGE_PROMPT)
    raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")


__all__ = [
    "METRICS",
    "AnswerMetric",
    "CitationMetric",
    "RubricJudgeMetric",
    "build_metric",
    "gold_in",
]
