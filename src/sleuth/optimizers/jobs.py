"""Optimization jobs: GEPA or the TextGrad-style baseline over chosen roles of an agent, on a seeded split
of a dataset (`splits`), and the best prompt set plus a report in one folder.

The output folder is the job: running the same job again on it resumes (the split, GEPA's state, the
baseline's state and the cached validation scores all live there).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleuth.config import Settings
from sleuth.evals.datasets import Dataset, QAExample, load_dataset
from sleuth.evals.jobs import EventSink
from sleuth.feedback.base import NoPatches, PatchSource
from sleuth.llm.base import ChatModel, GenParams
from sleuth.llm.clients import reflection_model
from sleuth.optimizers.base import JobError, Outcome, Task
from sleuth.optimizers.cache import EvalCache
from sleuth.optimizers.config import OptimizeConfig
from sleuth.optimizers.gepa_adapter import ReflectionModel, SleuthAdapter, run_gepa
from sleuth.optimizers.metrics import METRICS, build_metric
from sleuth.optimizers.reflective import brief
from sleuth.optimizers.report import write_report
from sleuth.optimizers.splits import correction_examples, held_out_examples, split_examples
from sleuth.optimizers.tasks import ASK_ROLES, RESEARCH_ROLES, AskTask, ResearchTask
from sleuth.optimizers.textgrad import run_textgrad
from sleuth.prompts.sets import PromptSet, load_prompt_set
from sleuth.retrieval.base import Retriever
from sleuth.retrieval.bm25 import PassageBM25


@dataclass
class JobResult:
    """A finished job: the outcome, the best set, the seed set, and where the files are."""

    config: OptimizeConfig
    outcome: Outcome
    seed_set: PromptSet
    best_set: PromptSet
    val_size: int
    corrections_size: int
    test_size: int
    report: dict[str, Any]


def _check_out_dir(config: OptimizeConfig) -> None:
    job_file = config.out / "job.json"
    if job_file.exists():
        saved = json.loads(job_file.read_text(encoding="utf-8"))
        if saved.get("identity") != config.identity():
            changed = sorted(k for k, v in config.identity().items() if saved.get("identity", {}).get(k) != v)
            raise JobError(
                f"{config.out} holds a different job (differs in: {', '.join(changed)}); "
                "use another --out or the same options to resume"
            )
    config.out.mkdir(parents=True, exist_ok=True)
    job_file.write_text(json.dumps({"identity": config.identity(), "budget": config.budget}, indent=1))


def _load_split(config: OptimizeConfig, examples: list[QAExample]) -> tuple[list[QAExample], list[QAExample]]:
    """The saved split on resume (so it never changes under a job), else a new seeded one."""
    path = config.out / "split.json"
    by_id = {e.id: e for e in examples}
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        missing = [i for i in saved["train"] + saved["val"] if i not in by_id]
        if missing:
            raise JobError(f"{path}: {len(missing)} saved question ids are not in the dataset any more")
        return [by_id[i] for i in saved["train"]], [by_id[i] for i in saved["val"]]
    train, val = split_examples(examples, config.limit, config.val_limit, config.seed)
    path.write_text(json.dumps({"seed": config.seed, "train": [e.id for e in train], "val": [e.id for e in val]}))
    return train, val


def _add_counts(out: Path, **session: int) -> dict[str, int]:
    """This session's agent runs and reflection calls added to those of earlier sessions of the job (a resumed
    job reports its whole cost, not just the last session's)."""
    path = out / "counts.json"
    totals = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for key, value in session.items():
        totals[key] = totals.get(key, 0) + value
    path.write_text(json.dumps(totals), encoding="utf-8")
    return totals


async def score_on(adapter: SleuthAdapter, examples: list[QAExample], candidate: dict[str, str]) -> float | None:
    """The mean score of `candidate` on `examples` (None for no examples)."""
    if not examples:
        return None
    traces = await adapter.evaluate_async(examples, candidate, capture_traces=False)
    return sum(t.score.value for t in traces) / len(traces)


def resolve_roles(config: OptimizeConfig, seed_set: PromptSet) -> list[str]:
    agent_roles = ASK_ROLES if config.agent == "ask" else RESEARCH_ROLES
    roles = config.roles or list(agent_roles)
    unknown = [r for r in roles if r not in agent_roles]
    if unknown:
        raise JobError(
            f"the {config.agent} agent has no role {', '.join(unknown)}; choose from {', '.join(agent_roles)}"
        )
    # A cue role may be empty (say nothing) and still be optimized; a role the set lacks may not.
    missing = [r for r in roles if r not in seed_set.prompts or not (seed_set[r].strip() or brief(r).line)]
    if missing:
        raise JobError(f"the seed prompt set {seed_set.name!r} has no prompt for {', '.join(missing)}")
    return roles


def _settings_salt(settings: Settings) -> str:
    """The settings that change an agent run's score, for the evaluation cache key."""
    keys = (
        "llm_base_url",
        "llm_model",
        "llm_temperature",
        "llm_max_tokens",
        "local_model",
        "search_k",
        "ask_max_turns",
        "max_rounds",
        "max_tasks_per_round",
        "reader_batch_size",
    )
    return json.dumps({k: getattr(settings, k) for k in keys}, sort_keys=True, default=str)


def preflight(config: OptimizeConfig) -> tuple[Dataset, PromptSet, list[str]]:
    """Check the options and read the dataset and seed set before any model is started.

    Raises:
        JobError, DatasetError: with a message naming the bad option or file.
    """
    try:
        seed_set = load_prompt_set(config.seed_prompts)
    except (FileNotFoundError, ValueError) as exc:
        raise JobError(f"--seed-prompts: {exc}") from None
    roles = resolve_roles(config, seed_set)
    if config.metric not in METRICS:
        raise JobError(f"unknown metric {config.metric!r}; choose one of {', '.join(METRICS)}")
    return load_dataset(config.dataset), seed_set, roles


async def run_job(
    config: OptimizeConfig,
    settings: Settings,
    llm: ChatModel,
    *,
    reflection_llm: ChatModel | None = None,
    retriever: Retriever | None = None,
    patch_store: Any = None,
    on_event: EventSink | None = None,
) -> JobResult:
    """Run (or resume) the job described by `config` and write `best/` and the report into `config.out`.

    Args:
        llm: the task model the agent runs on (also the judge).
        reflection_llm: the model that rewrites prompts (default: the `SLEUTH_REFLECTION_*` model of
            `settings`, on the task model's server unless a base URL is set; `llm` itself for a fake).
        retriever: what the agent searches (default: BM25 over the dataset's corpus).
        patch_store: a `PatchStore`; its patches are shown to the agent, and with `config.corrections`
            its active corrections become extra validation questions.
        on_event: progress events (also appended to `history.jsonl`).

    Raises:
        JobError, DatasetError, ValueError: bad options or data (nothing is written but `job.json`).
    """
    if reflection_llm is not None:
        return await _run(config, settings, llm, reflection_llm, retriever, patch_store, on_event)
    # Built here, not by each caller: a job started from the API must honour the same settings as the CLI.
    async with reflection_model(settings, llm) as reflecting:
        return await _run(config, settings, llm, reflecting, retriever, patch_store, on_event)


async def _run(
    config: OptimizeConfig,
    settings: Settings,
    llm: ChatModel,
    reflection_llm: ChatModel,
    retriever: Retriever | None,
    patch_store: Any,
    on_event: EventSink | None,
) -> JobResult:
    dataset, seed_set, roles = preflight(config)
    passages = await asyncio.to_thread(lambda: list(dataset.passages()))
    metric = build_metric(
        config.metric,
        judge_llm=llm,
        judge_prompt=seed_set.get("judge") or None,
        titles={p.id: p.title for p in passages if p.title},
    )
    if retriever is None:
        if dataset.corpus_path is None:
            raise JobError(f"{config.dataset} has no corpus.jsonl: pass --collection to search an index")
        retriever = await asyncio.to_thread(PassageBM25, passages)
    _check_out_dir(config)
    train, val = _load_split(config, dataset.examples)
    test = held_out_examples(dataset.examples, train + val, config.test_limit, config.seed)
    corrections = []
    if config.corrections:
        if patch_store is None:
            raise JobError("--corrections needs the feedback store (no patches.sqlite under SLEUTH_HOME)")
        corrections = correction_examples(patch_store, config.collection)
    patches: PatchSource = patch_store if patch_store is not None else NoPatches()
    collection = config.collection or dataset.name
    task: Task = (AskTask if config.agent == "ask" else ResearchTask)(
        llm, retriever, settings, patches, collection
    )
    loop = asyncio.get_running_loop()
    adapter = SleuthAdapter(
        task,
        metric,
        seed_set,
        loop,
        concurrency=settings.optimize_concurrency,
        max_prompt_chars=config.max_prompt_chars,
        cache=EvalCache(config.out / "eval_cache.jsonl", salt=_settings_salt(settings)),
    )
    reflection = ReflectionModel(
        reflection_llm,
        loop,
        GenParams(temperature=settings.reflection_temperature, max_tokens=settings.reflection_max_tokens),
        log_path=config.out / "reflections.jsonl",
    )
    history = config.out / "history.jsonl"

    def record(event: dict[str, Any]) -> None:
        with history.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"method": config.method, **event}) + "\n")
        if on_event is not None:
            on_event(event)

    seed = {role: seed_set[role] for role in roles}
    runner: Callable[..., Outcome] = run_gepa if config.method == "gepa" else run_textgrad
    run_dir = config.out / config.method
    # A stop file ended the last run; running the job again means "go on".
    (run_dir / f"{config.method}.stop").unlink(missing_ok=True)
    try:
        outcome = await asyncio.to_thread(
            runner,
            adapter,
            seed,
            train,
            val + corrections,
            reflection_lm=reflection,
            budget=config.budget,
            run_dir=run_dir,
            minibatch_size=config.minibatch_size,
            seed_value=config.seed,
            on_event=record,
        )
    finally:  # a session that crashes has still spent its runs: the resumed job's report counts them
        totals = _add_counts(config.out, agent_runs=adapter.rollouts_run, reflection_calls=reflection.calls)
    best = outcome.candidates[outcome.best_idx]
    if test:
        record({"event": "test", "questions": len(test)})
    seed_test = await score_on(adapter, test, seed)
    best_test = seed_test if best == seed else await score_on(adapter, test, best)
    # Saved over the defaults, as `load_prompt_set(out/best)` will read it, so the hash runs record matches.
    best_set = (
        load_prompt_set("defaults")
        .with_prompts(seed_set.prompts)
        .with_prompts(best, name=f"{config.out.name}-best")
    )
    best_set.meta.update(
        {
            "method": config.method,
            "seed_set": seed_set.name,
            "seed_hash": seed_set.hash,
            "val_score": f"{outcome.val_scores[outcome.best_idx]:.4f}",
        }
    )
    best_set.save(config.out / "best")
    report = write_report(
        config,
        outcome,
        seed_set,
        best_set,
        train=train,
        val=val,
        corrections=corrections,
        rollouts_run=totals["agent_runs"],
        reflection_calls=totals["reflection_calls"],
        test=(test, seed_test, best_test),
    )
    return JobResult(config, outcome, seed_set, best_set, len(val), len(corrections), len(test), report)
