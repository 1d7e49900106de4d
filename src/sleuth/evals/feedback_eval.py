"""Feedback adaptation eval (PatchRAG): answers before and after corrections, on reworded and unrelated
questions, with correction lag, under gold, noisy, blank, vague and conflicting feedback.

Protocol, per condition (each on a fresh patch store):
(a) the feedback questions are answered once without feedback (the "before" answers);
(b) corrections are submitted for them, built from the gold answer and gold passages (or degraded:
    `noisy` = another question's answer with this one's evidence, `blank` = empty answer, `vague` = a
    hint without an answer or evidence, `conflicting` = a wrong patch, then the gold one, newer);
(c) each question's rewordings are asked (related), and unrelated control questions too.
The no-feedback arm answers the same rewordings and controls with no patches; the difference is the
effect of feedback. Correction lag is measured in seconds (submission until the store returns the patch
for the reworded query; and until the first corrected answer, LLM time included) and in queries.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sleuth.evals.datasets import QAExample
from sleuth.evals.metrics import exact_match, f1_score
from sleuth.feedback.base import NoPatches, PatchSource
from sleuth.feedback.models import PatchError, PatchInput
from sleuth.feedback.store import PatchStore
from sleuth.llm.base import ChatModel, GenParams
from sleuth.retrieval.base import Passage

CONDITIONS = ("gold", "noisy", "blank", "vague", "conflicting")
VAGUE_ANSWER = "The earlier answer was wrong; it is something else."
PARAPHRASE_PROMPT = (
    "Rewrite the question with different words and word order but exactly the same meaning. Keep every "
    "name. Reply with the rewritten question only."
)

Answerer = Callable[[str, PatchSource], Awaitable[tuple[str, list[str]]]]
"""(question, patches) -> (answer, ids of the patches used); the CLI wires `run_ask` here."""


@dataclass
class Outcome:
    """One answered question in one arm."""

    condition: str
    arm: str
    """before | no_feedback | feedback"""
    kind: str
    """feedback (original question) | related (a rewording) | control (unrelated)"""
    example_id: str
    question: str
    answer: str
    golds: list[str]
    em: float
    f1: float
    patches_used: list[str] = field(default_factory=list)
    latency_s: float = 0.0


@dataclass
class Lag:
    example_id: str
    condition: str
    store_s: float | None
    """Submission until `relevant(rewording)` returns the patch (None: never returned)."""
    answer_s: float | None
    """Submission until the first corrected answer to a rewording (None: not corrected)."""
    queries: int | None
    """Related queries asked until the first corrected answer (None: not corrected)."""


def corrections(
    example: QAExample, condition: str, other: QAExample, passages: dict[str, Passage], collection: str | None
) -> list[PatchInput]:
    """The patches one condition submits for `example` (`other` supplies the wrong answer)."""
    evidence = " ".join(passages[p].text for p in example.gold_passage_ids if p in passages)[:2000]
    right = example.answers[0] if example.answers else ""
    wrong = other.answers[0] if other.answers else "unknown"

    def patch(answer: str, text: str, note: str) -> PatchInput:
        return PatchInput(
            query=example.question,
            answer=answer,
            evidence=text,
            collection=collection,
            evidence_passage_ids=list(example.gold_passage_ids) if text else [],
            note=note,
        )

    if condition == "gold":
        return [patch(right, evidence, "gold")]
    if condition == "noisy":
        return [patch(wrong, evidence, "noisy: wrong answer")]
    if condition == "blank":
        return [patch("", evidence, "blank")]
    if condition == "vague":
        return [patch(VAGUE_ANSWER, "", "vague")]
    if condition == "conflicting":
        return [patch(wrong, evidence, "conflicting: wrong, older"), patch(right, evidence, "conflicting: gold")]
    raise ValueError(f"unknown feedback condition {condition!r}; choose from {', '.join(CONDITIONS)}")


async def paraphrase(llm: ChatModel, question: str) -> str:
    """A rewording of `question` by the model (the question itself when the reply is unusable)."""
    reply = await llm.complete(
        [{"role": "system", "content": PARAPHRASE_PROMPT}, {"role": "user", "content": question}],
        params=GenParams(temperature=0.0, max_tokens=80),
        agent="paraphrase",
    )
    text = next((line.strip().strip('"') for line in reply.text.splitlines() if line.strip()), "")
    return text if len(text) > 10 and "?" in text and text.lower() != question.lower() else question


def _outcome(
    condition: str,
    arm: str,
    kind: str,
    example: QAExample,
    question: str,
    answer: str,
    used: list[str],
    latency: float,
) -> Outcome:
    return Outcome(
        condition,
        arm,
        kind,
        example.id,
        question,
        answer,
        list(example.answers),
        exact_match(answer, example.answers),
        f1_score(answer, example.answers),
        used,
        latency,
    )


async def _ask(answerer: Answerer, patches: PatchSource, question: str) -> tuple[str, list[str], float]:
    started = time.perf_counter()
    answer, used = await answerer(question, patches)
    return answer, used, time.perf_counter() - started


async def _gather_limited(jobs: list[Callable[[], Awaitable[Outcome]]], concurrency: int) -> list[Outcome]:
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[Outcome]]) -> Outcome:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))


async def run_feedback_eval(
    feedback: list[QAExample],
    controls: list[QAExample],
    rewordings: dict[str, list[str]],
    *,
    answerer: Answerer,
    open_store: Callable[[str], PatchStore],
    passages: dict[str, Passage],
    conditions: tuple[str, ...] = CONDITIONS,
    collection: str | None = None,
    concurrency: int = 2,
    on_outcome: Callable[[Outcome], None] | None = None,
    baseline: bool = True,
    on_condition: Callable[[list[Outcome], list[Lag], dict[str, list[str]]], object] | None = None,
) -> tuple[list[Outcome], list[Lag], dict[str, list[str]]]:
    """Run the protocol above.

    Args:
        feedback: questions that receive corrections.
        controls: unrelated questions (no corrections), to check nothing else moves.
        rewordings: example id -> reworded questions asked after the correction.
        answerer: answers a question with a patch source.
        open_store: condition name -> a fresh, empty store.
        passages: passage id -> passage (gold evidence text).
        conditions: which feedback conditions to run.

    Returns:
        Every outcome, every lag, and condition -> messages of refused submissions.
    """
    report = on_outcome or (lambda _: None)
    none = NoPatches()

    def job(
        condition: str, arm: str, kind: str, ex: QAExample, q: str, source: PatchSource
    ) -> Callable[[], Awaitable[Outcome]]:
        async def run() -> Outcome:
            answer, used, latency = await _ask(answerer, source, q)
            outcome = _outcome(condition, arm, kind, ex, q, answer, used, latency)
            report(outcome)
            return outcome

        return run

    # The arms without feedback do not depend on the condition: run them once (or not at all, when a slow
    # model forces reusing an earlier run's no-feedback answers).
    baseline_jobs: list[Callable[[], Awaitable[Outcome]]] = []
    if baseline:
        baseline_jobs += [job("none", "before", "feedback", ex, ex.question, none) for ex in feedback]
        baseline_jobs += [
            job("none", "no_feedback", "related", ex, q, none)
            for ex in feedback
            for q in rewordings.get(ex.id, [])
        ]
        baseline_jobs += [job("none", "no_feedback", "control", ex, ex.question, none) for ex in controls]
    outcomes = await _gather_limited(baseline_jobs, concurrency)
    lags: list[Lag] = []
    refused: dict[str, list[str]] = {}

    for condition in conditions:
        store = open_store(condition)
        refused[condition] = []
        try:
            outcomes += await _run_condition(
                condition,
                store,
                feedback,
                controls,
                rewordings,
                answerer,
                passages,
                collection,
                concurrency,
                report,
                lags,
                refused[condition],
            )
        finally:
            store.close()
        if on_condition:  # a partial report survives a run cut short by a slow model
            on_condition(outcomes, lags, refused)
    return outcomes, lags, refused


async def _run_condition(
    condition: str,
    store: PatchStore,
    feedback: list[QAExample],
    controls: list[QAExample],
    rewordings: dict[str, list[str]],
    answerer: Answerer,
    passages: dict[str, Passage],
    collection: str | None,
    concurrency: int,
    report: Callable[[Outcome], None],
    lags: list[Lag],
    refused: list[str],
) -> list[Outcome]:
    """Submit one condition's corrections, ask the rewordings right after each, then the controls."""
    gate = asyncio.Semaphore(concurrency)

    async def submit_and_ask(index: int, ex: QAExample) -> list[Outcome]:
        other = feedback[(index + 1) % len(feedback)] if len(feedback) > 1 else (controls or feedback)[0]
        async with gate:
            submitted = time.perf_counter()
            ids = []
            for submission in corrections(ex, condition, other, passages, collection):
                try:
                    ids.append(store.add(submission).patch.id)
                except PatchError as exc:
                    refused.append(f"{ex.id}: {exc}")
            store_s = answer_s = queries = None
            done: list[Outcome] = []
            for number, q in enumerate(rewordings.get(ex.id, []), start=1):
                if store_s is None and ids and any(v.id in ids for v in store.relevant(q, collection=collection)):
                    store_s = time.perf_counter() - submitted
                answer, used, latency = await _ask(answerer, store, q)
                outcome = _outcome(condition, "feedback", "related", ex, q, answer, used, latency)
                report(outcome)
                done.append(outcome)
                if answer_s is None and outcome.em == 1.0:
                    answer_s, queries = time.perf_counter() - submitted, number
            lags.append(Lag(ex.id, condition, store_s, answer_s, queries))
            return done

    outcomes = [
        o
        for batch in await asyncio.gather(*(submit_and_ask(i, ex) for i, ex in enumerate(feedback)))
        for o in batch
    ]

    async def control(ex: QAExample) -> Outcome:
        async with gate:
            answer, used, latency = await _ask(answerer, store, ex.question)
            outcome = _outcome(condition, "feedback", "control", ex, ex.question, answer, used, latency)
            report(outcome)
            return outcome

    return outcomes + list(await asyncio.gather(*(control(ex) for ex in controls)))


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def summarize(outcomes: list[Outcome], lags: list[Lag], refused: dict[str, list[str]]) -> dict[str, Any]:
    """Per condition: EM/F1 on related and control questions with and without feedback, patch hit rates,
    and correction lag."""

    def pick(condition: str, arm: str, kind: str) -> list[Outcome]:
        return [o for o in outcomes if o.condition == condition and o.arm == arm and o.kind == kind]

    def scores(rows: list[Outcome]) -> dict[str, Any]:
        return {
            "n": len(rows),
            "em": _mean([o.em for o in rows]),
            "f1": _mean([o.f1 for o in rows]),
            "with_patches": _mean([float(bool(o.patches_used)) for o in rows]),
        }

    base = {
        "before_original": scores(pick("none", "before", "feedback")),
        "related": scores(pick("none", "no_feedback", "related")),
        "control": scores(pick("none", "no_feedback", "control")),
    }
    summary: dict[str, Any] = {"no_feedback": base, "conditions": {}}
    for condition in sorted({o.condition for o in outcomes} - {"none"}):
        related, control = (
            scores(pick(condition, "feedback", "related")),
            scores(pick(condition, "feedback", "control")),
        )
        mine = [lag for lag in lags if lag.condition == condition]
        store_s = [lag.store_s for lag in mine if lag.store_s is not None]
        answer_s = [lag.answer_s for lag in mine if lag.answer_s is not None]
        summary["conditions"][condition] = {
            "related": related,
            "control": control,
            "related_em_gain": _diff(related["em"], base["related"]["em"]),
            "control_em_change": _diff(control["em"], base["control"]["em"]),
            "control_f1_change": _diff(control["f1"], base["control"]["f1"]),
            "lag_store_s_p50": round(statistics.median(store_s), 4) if store_s else None,
            "lag_store_s_max": round(max(store_s), 4) if store_s else None,
            "lag_answer_s_p50": round(statistics.median(answer_s), 2) if answer_s else None,
            "lag_queries_mean": _mean([float(lag.queries) for lag in mine if lag.queries is not None]),
            "corrected": f"{len(answer_s)}/{len(mine)}",
            "refused": refused.get(condition, []),
        }
    return summary


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)
