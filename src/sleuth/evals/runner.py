"""Runs arms over questions concurrently, scores each answer, and appends results to a resumable jsonl."""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from sleuth.evals.arms import Arm, ArmRun
from sleuth.evals.citations import OverlapSupport, SupportJudge, cited_numbers, score_citations
from sleuth.evals.datasets import QAExample
from sleuth.evals.metrics import answer_scores, gold_recall
from sleuth.retrieval.base import Passage

RESULTS_FILE = "results.jsonl"
Scorer = Callable[[QAExample, str, ArmRun], Awaitable[dict[str, Any]]]
RUN_FILE = "run.json"


class RunMismatchError(ValueError):
    """An --out folder holds results of a different run (other dataset or agent)."""


class ResultsFile:
    """Per-example results, one JSON line each, appended as they finish so a killed run loses nothing.

    A line with an `error` is not "done": a restart retries it. Later lines win over earlier ones.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[dict[str, Any]]:
        """The latest record per (example, arm), in first-seen order; a torn last line is skipped."""
        if not self.path.exists():
            return []
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill mid-write; its example is simply run again
            latest[(record["example_id"], record["arm"])] = record
        return list(latest.values())

    def done(self) -> set[tuple[str, str]]:
        return {(r["example_id"], r["arm"]) for r in self.records() if not r.get("error")}

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self.path.open("a+b") as fh:
            fh.seek(0, 2)
            if fh.tell() > 0:
                # A run killed mid-write leaves a torn last line; start a fresh line so ours stays whole.
                fh.seek(-1, 2)
                if fh.read(1) != b"\n":
                    line = b"\n" + line
            fh.write(line)
            fh.flush()


def check_run_meta(out: Path, meta: dict[str, Any]) -> None:
    """Record what this run is in `run.json`; refuse to mix results of another dataset or agent.

    Raises:
        RunMismatchError: `out` already holds a run of a different dataset or agent.
    """
    path = out / RUN_FILE
    if path.exists():
        old = json.loads(path.read_text())
        for key in ("dataset", "agent"):
            if old.get(key) != meta.get(key):
                raise RunMismatchError(
                    f"{out} holds a run with {key}={old.get(key)!r}, not {meta.get(key)!r}; "
                    "use another --out folder"
                )
        meta = {**old, **meta, "arms": sorted(set(old.get("arms", [])) | set(meta.get("arms", [])))}
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta, indent=2))


async def score_run(
    example: QAExample,
    arm: str,
    run: ArmRun,
    *,
    lookup: Callable[[str], Passage | None] | None = None,
    judge: SupportJudge | None = None,
) -> dict[str, Any]:
    """One result line: the answer's scores, retrieval recall, costs, and citation quality if it cites."""
    record: dict[str, Any] = {
        "example_id": example.id,
        "arm": arm,
        "question": example.question,
        "type": example.meta.get("type"),
        "answers": example.answers,
        "prediction": run.answer,
        **answer_scores(run.answer, example.answers),
        "gold_recall": gold_recall(run.retrieved_ids, example.gold_passage_ids),
        "search_calls": run.search_calls,
        "turns": run.turns,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "tokens": run.prompt_tokens + run.completion_tokens,
        "cost_usd": run.cost_usd,
        "latency_s": round(run.latency_s, 3),
        "retrieved_ids": run.retrieved_ids,
        "citations": run.citations,
        "trajectory": run.trajectory,
        "error": None,
    }
    numbers = [c["n"] for c in run.citations if c.get("n") is not None]
    if numbers:
        texts = {}
        for c in run.citations:
            passage = lookup(str(c.get("passage_id", ""))) if lookup else None
            if passage is not None:
                texts[passage.id] = passage.text
        answer = run.answer
        if not cited_numbers(answer):  # a short answer (ask) cites its passages as a whole, without markers
            answer += " " + "".join(f"[{n}]" for n in numbers)
        scores = await score_citations(answer, run.citations, texts, judge or OverlapSupport())
        record.update(scores.as_dict())
    return record


def error_record(example: QAExample, arm: str, exc: BaseException) -> dict[str, Any]:
    """A failed run scores zero and keeps the error, so the report counts it instead of hiding it."""
    return {
        "example_id": example.id,
        "arm": arm,
        "question": example.question,
        "type": example.meta.get("type"),
        "answers": example.answers,
        "prediction": "",
        "em": 0.0,
        "f1": 0.0,
        "cover": 0.0,
        "gold_recall": None,
        "search_calls": 0,
        "turns": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "tokens": 0,
        "cost_usd": None,  # what a failed run spent is not known
        "latency_s": 0.0,
        "retrieved_ids": [],
        "citations": [],
        "trajectory": None,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc))[-2000:],
    }


async def run_qa(
    examples: Iterable[QAExample],
    arms: list[Arm],
    results: ResultsFile,
    *,
    concurrency: int = 2,
    lookup: Callable[[str], Passage | None] | None = None,
    judge: SupportJudge | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    scorer: Scorer | None = None,
) -> list[dict[str, Any]]:
    """Run every arm on every example not yet done, at most `concurrency` at once.

    `scorer` turns a run into a result line (default: `score_run`, the short-answer QA scores).

    All arms of one question are queued together, so an interrupted run has whole questions to compare.

    Returns:
        The records of this call (the file holds all of them, earlier runs included).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    done = results.done()
    jobs = [(ex, arm) for ex in examples for arm in arms if (ex.id, arm.name) not in done]
    semaphore = asyncio.Semaphore(concurrency)
    new: list[dict[str, Any]] = []

    async def one(example: QAExample, arm: Arm) -> None:
        async with semaphore:
            try:
                run = await arm.run(example)
                if scorer is not None:
                    record = await scorer(example, arm.name, run)
                else:
                    record = await score_run(example, arm.name, run, lookup=lookup, judge=judge)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad example must not sink the run; it is recorded and retried
                record = error_record(example, arm.name, exc)
        results.append(record)
        new.append(record)
        if on_result is not None:
            on_result(record)

    await asyncio.gather(*(one(ex, arm) for ex, arm in jobs))
    return new


def pending_count(examples: list[QAExample], arm_names: list[str], results: ResultsFile) -> int:
    """How many (example, arm) runs are left to do (for the progress bar's total)."""
    done = results.done()
    return sum((ex.id, name) not in done for ex in examples for name in arm_names)
