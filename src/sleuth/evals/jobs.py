"""Eval jobs: a dataset's questions answered by chosen arms on one model, scored, and reported in one folder.

One shape for the three kinds, as `sleuth.optimizers.jobs`: a config (`QAEval`, `LongformEval`,
`DistillJob`) goes to `run_eval(settings, config, on_event=...)`, which returns an `EvalResult`. The
output is the job: running the same config again resumes (every finished run is kept in its results
file, and a question is only run again when it failed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from sleuth.agents.events import ProgressSink
from sleuth.config import Settings
from sleuth.evals.arms import ALL_ARMS, BASELINE_ARMS, Arm, ArmContext, AskArm, ResearchArm, build_arms
from sleuth.evals.citations import LLMSupport, OverlapSupport
from sleuth.evals.corpus import collection_name, open_retrievers
from sleuth.evals.datasets import Dataset, load_dataset
from sleuth.evals.distill import Trajectory, filter_trajectories, write_sft
from sleuth.evals.judge import DEFAULT_JUDGE_PROMPT, longform_scorer
from sleuth.evals.report import LONGFORM_SCORES, write_reports
from sleuth.evals.runner import (
    RESULTS_FILE,
    RUN_FILE,
    ResultsFile,
    Scorer,
    check_run_meta,
    pending_count,
    run_qa,
)
from sleuth.llm.base import ChatModel
from sleuth.llm.clients import open_model
from sleuth.llm.pricing import PriceError, load_prices
from sleuth.names import Form
from sleuth.prompts.sets import PromptSet, load_prompt_set
from sleuth.retrieval.base import Retriever


class EvalError(ValueError):
    """An eval that cannot run: a bad option, or a dataset that lacks what the eval scores against."""


class _Eval(BaseModel):
    dataset: Path
    """A dataset folder (`questions.jsonl` + `corpus.jsonl`, or BEIR) or a questions `.jsonl` file."""
    out: Path
    prompts: str | None = None
    """Prompt set: `defaults`, `minimal`, or a directory (default: the configured one)."""
    limit: int | None = Field(default=None, ge=1)
    offset: int = Field(default=0, ge=0)


class QAEval(_Eval):
    """`sleuth eval qa`: short answers of every arm on the same questions and model (EM, F1, cover match,
    gold recall, searches, tokens, latency); `out` is a folder for `results.jsonl` and the reports."""

    kind: Literal["qa"] = "qa"
    agent: str = "ask"
    """`ask` or `research`."""
    arms: list[str] | None = None
    """Default: every arm of the agent."""
    seed: int | None = None
    """Shuffle the questions with this seed before slicing."""
    concurrency: int = Field(default=2, ge=1)
    mode: str = "hybrid"
    """Retrieval mode the agents search with."""
    report_only: bool = False
    """Only rewrite the reports from the results already in `out`."""

    def arm_names(self) -> list[str]:
        default = ALL_ARMS if self.agent == "ask" else ("research", *BASELINE_ARMS)
        return [a.strip() for a in (self.arms or default) if a.strip()]


class LongformEval(_Eval):
    """`sleuth eval longform`: the research agent's long answers graded with the ScholarQA-CS weighting."""

    kind: Literal["longform"] = "longform"
    concurrency: int = Field(default=1, ge=1)
    judge_url: str | None = None
    """OpenAI-compatible URL of the judge model (default: the configured model)."""
    judge_model: str | None = None
    support: str = "overlap"
    """Citation support check: `overlap` (offline proxy) or `llm` (the judge model)."""
    forms: list[Form] = Field(default=["answer"], min_length=1)
    """Research forms to run side by side: `answer` (arm `research`) and/or `report` (arm `report`)."""
    judge: bool = True
    """Grade content with the rubric judge; without it only the checks computed in code are reported."""


class DistillJob(_Eval):
    """`sleuth distill`: `ask` (always-search) run with a teacher model; the grounded correct trajectories are
    written to `out` as SFT jsonl, the raw runs to `OUT.runs.jsonl`, the counts to `OUT.counts.json`."""

    kind: Literal["distill"] = "distill"
    teacher_url: str
    teacher_model: str | None = None
    api_key: str | None = None
    concurrency: int = Field(default=4, ge=1)
    min_f1: float = 0.65
    """Keep answers with String-F1 above this."""


EvalConfig = QAEval | LongformEval | DistillJob


@dataclass
class EvalResult:
    """A finished eval: what it reported and the files it wrote."""

    config: EvalConfig
    report: dict[str, Any]
    """`report.json`'s content (distill: the counts written to `OUT.counts.json`)."""
    paths: list[Path] = field(default_factory=list)


def preflight(config: EvalConfig) -> tuple[Dataset, PromptSet]:
    """Check the options and read the dataset and prompt set before any model is started.

    Raises:
        EvalError, DatasetError: with a message naming the bad option or file.
    """
    if isinstance(config, QAEval) and config.agent not in ("ask", "research"):
        raise EvalError(f"unknown agent {config.agent!r}: use ask or research")
    if isinstance(config, LongformEval) and config.support not in ("overlap", "llm"):
        raise EvalError(f"unknown --support {config.support!r}: use overlap or llm")
    seed = config.seed if isinstance(config, QAEval) else None
    data = load_dataset(config.dataset, limit=config.limit, offset=config.offset, seed=seed)
    if isinstance(config, LongformEval) and not all(e.rubric or e.reference_answer for e in data.examples):
        raise EvalError("every question needs a 'rubric' (or 'ingredients') or a 'reference_answer' to be judged")
    if isinstance(config, DistillJob) and not any(e.answers for e in data.examples):
        raise EvalError(f"{config.dataset}: no gold answers; distillation filters on String-F1 against them")
    if isinstance(config, QAEval) and config.report_only and not (config.out / RUN_FILE).exists():
        raise EvalError(f"{config.out} holds no eval run to report on")
    try:
        prompts = load_prompt_set(config.prompts)
    except (FileNotFoundError, ValueError) as exc:
        raise EvalError(str(exc)) from None
    return data, prompts


async def run_eval(settings: Settings, config: EvalConfig, *, on_event: ProgressSink | None = None) -> EvalResult:
    """Run (or resume) the eval `config` describes and write its reports.

    `on_event` gets `{"event": "indexing", "dataset", "collection", "done", "total"}` while the corpus is
    indexed, `{"event": "questions", "total"}` (runs left to do) once, then `{"event": "result", "example_id",
    "arm", "error"}` per finished run.

    Raises:
        EvalError, DatasetError, RunMismatchError: bad options or data, or `out` holds another run.
        CollectionError: the dataset's collection cannot be opened.
    """
    data, prompts = preflight(config)
    try:  # a bad price table fails here, before any model starts
        load_prices(settings.prices_path)
    except PriceError as exc:
        raise EvalError(str(exc)) from None
    emit = on_event or (lambda event: None)
    if isinstance(config, QAEval):
        return await _qa(settings, config, data, prompts, emit)
    if isinstance(config, LongformEval):
        return await _longform(settings, config, data, prompts, emit)
    return await _distill(settings, config, data, prompts, emit)


def _retrievers(settings: Settings, data: Dataset, emit: ProgressSink) -> Callable[[str], Retriever]:
    name = collection_name(data)
    return open_retrievers(
        settings,
        data,
        lambda done, total: emit(
            {"event": "indexing", "dataset": data.name, "collection": name, "done": done, "total": total}
        ),
    )


def _context(
    llm: ChatModel,
    settings: Settings,
    data: Dataset,
    prompts: PromptSet,
    retriever: Callable[[str], Retriever],
    mode: str = "hybrid",
) -> ArmContext:
    return ArmContext(
        llm=llm,
        settings=settings,
        prompts=prompts,
        retriever=retriever,
        lookup=data.passage_map().get,
        collection=collection_name(data),
        agent_mode=mode,
        prices=load_prices(settings.prices_path),
    )


async def _run_arms(
    data: Dataset,
    arms: list[Arm],
    results: ResultsFile,
    concurrency: int,
    ctx: ArmContext,
    emit: ProgressSink,
    scorer: Scorer | None = None,
) -> None:
    emit({"event": "questions", "total": pending_count(data.examples, [a.name for a in arms], results)})

    def finished(record: dict[str, Any]) -> None:
        emit(
            {"event": "result", "example_id": record["example_id"], "arm": record["arm"], "error": record["error"]}
        )

    await run_qa(
        data.examples,
        arms,
        results,
        concurrency=concurrency,
        lookup=ctx.lookup,
        on_result=finished,
        scorer=scorer,
    )


def _this_run(results: ResultsFile, data: Dataset, arm_names: list[str]) -> list[dict[str, Any]]:
    ids = {e.id for e in data.examples}
    return [r for r in results.records() if r["example_id"] in ids and r["arm"] in arm_names]


def _complete_questions(records: list[dict[str, Any]], arm_names: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Only questions every arm has answered, so arms are compared on the same questions (a run stopped
    early leaves some half done); returns the records kept and how many questions were left out."""
    arms_by_question: dict[str, set[str]] = {}
    for record in records:
        arms_by_question.setdefault(record["example_id"], set()).add(record["arm"])
    complete = {q for q, arms in arms_by_question.items() if arms >= set(arm_names)}
    return [r for r in records if r["example_id"] in complete], len(arms_by_question) - len(complete)


def _report_paths(out: Path) -> list[Path]:
    return [out / "report.json", out / "report.md", out / "report.html"]


async def _qa(
    settings: Settings, config: QAEval, data: Dataset, prompts: PromptSet, emit: ProgressSink
) -> EvalResult:
    results = ResultsFile(config.out / RESULTS_FILE)
    names = config.arm_names()
    if not config.report_only:
        retriever = _retrievers(settings, data, emit)
        async with open_model(settings) as llm:
            ctx = _context(llm, settings, data, prompts, retriever, config.mode)
            try:
                built = build_arms(names, ctx, config.agent)
            except ValueError as exc:
                raise EvalError(str(exc)) from None
            names = [a.name for a in built]
            meta = {
                "dataset": str(config.dataset.resolve()),
                "agent": config.agent,
                "arms": names,
                "model": settings.llm_model if settings.llm_base_url else settings.local_model,
                "prompts": f"{prompts.name} ({prompts.hash})",
                "retrieval": config.mode,
                "limit": config.limit,
                "offset": config.offset,
                "seed": config.seed,
            }
            check_run_meta(config.out, meta)
            await _run_arms(data, built, results, config.concurrency, ctx, emit)
    meta = json.loads((config.out / RUN_FILE).read_text())
    records, partial = _complete_questions(_this_run(results, data, names), names)
    report = write_reports(config.out, records, {**meta, "arms": ",".join(names), "questions_left_out": partial})
    return EvalResult(config, report, _report_paths(config.out))


async def _longform(
    settings: Settings, config: LongformEval, data: Dataset, prompts: PromptSet, emit: ProgressSink
) -> EvalResult:
    results = ResultsFile(config.out / RESULTS_FILE)
    retriever = _retrievers(settings, data, emit)
    async with AsyncExitStack() as stack:
        llm = await stack.enter_async_context(open_model(settings))
        judge = (
            await stack.enter_async_context(open_model(settings, config.judge_url, config.judge_model))
            if config.judge_url
            else llm
        )
        ctx = _context(llm, settings, data, prompts, retriever)
        system = prompts.get("judge") or DEFAULT_JUDGE_PROMPT
        support = LLMSupport(judge, system) if config.support == "llm" else OverlapSupport()
        arms = [ResearchArm(ctx, form) for form in dict.fromkeys(config.forms)]
        meta = {
            "dataset": str(config.dataset.resolve()),
            "agent": "research",
            "arms": [a.name for a in arms],
            "judge": (config.judge_model or config.judge_url or "same model") if config.judge else "none",
            "support": config.support,
            "prompts": f"{prompts.name} ({prompts.hash})",
            "limit": config.limit,
            "offset": config.offset,
        }
        check_run_meta(config.out, meta)
        scorer = longform_scorer(judge if config.judge else None, system, support, ctx.lookup)
        await _run_arms(data, list(arms), results, config.concurrency, ctx, emit, scorer=scorer)
    names = [a.name for a in arms]
    report = write_reports(
        config.out,
        _complete_questions(_this_run(results, data, names), names)[0],
        json.loads((config.out / RUN_FILE).read_text()),
        scores=LONGFORM_SCORES,
        costs=("sections", "words", "search_calls", "tokens", "cost_usd", "latency_s"),
        title="sleuth long-form eval",
    )
    return EvalResult(config, report, _report_paths(config.out))


async def _distill(
    settings: Settings, config: DistillJob, data: Dataset, prompts: PromptSet, emit: ProgressSink
) -> EvalResult:
    out = config.out
    results = ResultsFile(out.with_name(out.name + ".runs.jsonl"))
    retriever = _retrievers(settings, data, emit)
    async with open_model(settings, config.teacher_url, config.teacher_model, config.api_key) as teacher:
        ctx = _context(teacher, settings, data, prompts, retriever)
        await _run_arms(data, [AskArm(ctx, "always")], results, config.concurrency, ctx, emit)
    golds = {e.id: e for e in data.examples}
    trajectories = [
        Trajectory(
            question=r["question"],
            answers=golds[r["example_id"]].answers,
            prediction=r["prediction"],
            messages=r["trajectory"] or [],
            search_calls=r["search_calls"],
            id=r["example_id"],
            passages=[p.text for p in map(ctx.lookup, r["retrieved_ids"]) if p is not None],
        )
        for r in _this_run(results, data, ["always"])
        if not r.get("error")
    ]
    kept, counts = filter_trajectories(trajectories, config.min_f1)
    write_sft(out, kept)
    summary = {**counts.as_dict(), "errors": len(data.examples) - len(trajectories), "out": str(out)}
    counts_path = out.with_name(out.name + ".counts.json")
    counts_path.write_text(json.dumps(summary, indent=2))
    return EvalResult(config, summary, [out, counts_path])
