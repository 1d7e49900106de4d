"""`sleuth eval feedback` wiring: the feedback protocol run with the ask agent (`ask_short`), the retrieval
embedder's patch stores and LLM paraphrases; writes rewordings, outcomes and a summary."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sleuth.evals.feedback_eval import (
    CONDITIONS,
    Lag,
    Outcome,
    outcome_record,
    paraphrase,
    run_feedback_eval,
    summarize,
)
from sleuth.feedback.base import PatchSource
from sleuth.feedback.store import PatchStore
from sleuth.llm.base import ChatModel


@dataclass
class FeedbackEvalConfig:
    """What `sleuth eval feedback` runs."""

    n_feedback: int = 8
    n_controls: int = 8
    seed: int = 0
    conditions: tuple[str, ...] = CONDITIONS
    rewordings_file: str | None = None
    """jsonl of {"id": ..., "rewordings": [...]}; unset: one LLM paraphrase per question."""
    concurrency: int = 2
    mode: str = "hybrid"
    baseline: bool = True
    """False: skip the no-feedback arms (reuse an earlier run's when the model is slow)."""


async def evaluate(
    settings: Any,
    dataset: Any,
    retriever: Any,
    llm: ChatModel,
    out: Any,
    config: FeedbackEvalConfig,
    *,
    collection: str,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> dict[str, Any]:
    """Wire the protocol to the real agent: `ask_short` (the configured strategy) with the retrieval embedder's patch stores.

    Writes `rewordings.jsonl`, `outcomes.jsonl` and `summary.json` under `out`; returns the summary.
    """
    from sleuth.agents.ask.short_answer import ask_short
    from sleuth.agents.deps import AgentDeps
    from sleuth.feedback.policy import PatchPolicy
    from sleuth.prompts.sets import load_prompt_set
    from sleuth.retrieval.embedders import load_embedder

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    examples = [e for e in dataset.examples if e.answers and e.gold_passage_ids]
    feedback = examples[: config.n_feedback]
    controls = examples[config.n_feedback : config.n_feedback + config.n_controls]
    passages = dataset.passage_map()
    prompts = load_prompt_set(None)
    embedder = load_embedder(settings)
    policy = PatchPolicy.from_settings(settings)

    rewordings: dict[str, list[str]] = {}
    cache = out / "rewordings.jsonl"
    source = Path(config.rewordings_file) if config.rewordings_file else cache
    if source.exists():
        for line in source.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rewordings[str(row["id"])] = list(row["rewordings"])
    missing = [ex for ex in feedback if ex.id not in rewordings]
    for ex, text in zip(
        missing, await asyncio.gather(*(paraphrase(llm, ex.question) for ex in missing)), strict=True
    ):
        rewordings[ex.id] = [text]
    with cache.open("w", encoding="utf-8") as fh:
        for ex in feedback:
            fh.write(json.dumps({"id": ex.id, "question": ex.question, "rewordings": rewordings[ex.id]}) + "\n")

    async def answerer(question: str, patches: PatchSource) -> tuple[str, list[str]]:
        deps = AgentDeps(
            llm=llm,
            retriever=retriever,
            prompts=prompts,
            settings=settings,
            patches=patches,
            lookup=passages.get,
            collection=collection,
        )
        result = await ask_short(question, deps)
        return result.answer, list(result.patches_used)

    def open_store(condition: str) -> PatchStore:
        path = out / f"patches-{condition}.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return PatchStore(path, embedder, policy)

    def write_summary(outcomes: list[Outcome], lags: list[Lag], refused: dict[str, list[str]]) -> dict[str, Any]:
        summary = summarize(outcomes, lags, refused)
        summary["config"] = asdict(config)
        summary["lags"] = [asdict(lag) for lag in lags]
        (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        return summary

    records = out / "outcomes.jsonl"
    with records.open("w", encoding="utf-8") as fh:

        def record(outcome: Outcome) -> None:
            fh.write(json.dumps(outcome_record(outcome)) + "\n")
            fh.flush()
            if on_outcome:
                on_outcome(outcome)

        outcomes, lags, refused = await run_feedback_eval(
            feedback,
            controls,
            rewordings,
            answerer=answerer,
            open_store=open_store,
            passages=passages,
            conditions=config.conditions,
            collection=collection,
            concurrency=config.concurrency,
            on_outcome=record,
            on_condition=write_summary,
            baseline=config.baseline,
        )
    return write_summary(outcomes, lags, refused)
