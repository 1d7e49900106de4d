"""Optimization jobs: GEPA, the TextGrad-style baseline or both, over chosen roles of an agent, on seeded
train/validation/test splits of a dataset (`splits`), ending with each method's best prompt set and one report.

The output folder is the job: running the same job again on it resumes (the split, GEPA's state, the
baseline's state and the cached rollouts all live there).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from sleuth.agents.events import ProgressSink
from sleuth.config import Settings
from sleuth.evals.datasets import Dataset, QAExample, load_dataset
from sleuth.feedback.base import NoPatches, PatchSource
from sleuth.llm.base import ChatModel, ExactModel, GenParams
from sleuth.llm.clients import reflection_model
from sleuth.llm.pricing import load_prices
from sleuth.optimizers.base import JobError, Task
from sleuth.optimizers.briefs import brief
from sleuth.optimizers.cache import EvalCache
from sleuth.optimizers.config import OptimizeConfig
from sleuth.optimizers.gepa_adapter import SleuthAdapter
from sleuth.optimizers.guards import LeakGuard, budget_warning, growth_caps
from sleuth.optimizers.methods import MethodResult, MethodRun
from sleuth.optimizers.metrics import METRICS, build_metric
from sleuth.optimizers.report import write_report
from sleuth.optimizers.splits import Split, correction_examples, load_split
from sleuth.optimizers.tasks import AskTask, ResearchTask, agent_roles
from sleuth.prompts.sets import PromptSet, load_prompt_set
from sleuth.retrieval.base import Retriever
from sleuth.retrieval.bm25 import PassageBM25


@dataclass
class JobResult:
    """A finished job: each method's result, the winning set, the seed set, the splits and the report."""

    config: OptimizeConfig
    seed_set: PromptSet
    split: Split
    corrections: list[QAExample]
    methods: dict[str, MethodResult]
    best_set: PromptSet
    """The winner of the method with the best validation score (never chosen by test score)."""
    report: dict[str, Any]

    @property
    def outcome(self) -> Any:
        """The first method's outcome (the only one for a single-method job)."""
        return next(iter(self.methods.values())).outcome


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


def resolve_roles(config: OptimizeConfig, seed_set: PromptSet) -> list[str]:
    roles_of_agent = agent_roles(config.agent, config.strategy)
    roles = config.roles or list(roles_of_agent)
    unknown = [r for r in roles if r not in roles_of_agent]
    if unknown:
        what = f"the {config.agent} agent" + (f" ({config.strategy} strategy)" if config.agent == "ask" else "")
        raise JobError(f"{what} has no role {', '.join(unknown)}; choose from {', '.join(roles_of_agent)}")
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
        "ask_max_reads",
        "ask_first_k",
        "ask_link_depth",
        "ask_read_size",
        "ask_follow_k",
        "ask_pool_size",
        "ask_focus_size",
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
    too_long = [
        r for r in roles if config.max_prompt_chars is not None and len(seed_set[r]) > config.max_prompt_chars
    ]
    if too_long:
        raise JobError(
            f"--max-prompt-chars {config.max_prompt_chars}: the seed's prompt for {', '.join(too_long)} is "
            "already longer"
        )
    return load_dataset(config.dataset), seed_set, roles


async def run_job(
    config: OptimizeConfig,
    settings: Settings,
    llm: ChatModel,
    *,
    reflection_llm: ChatModel | None = None,
    retriever: Retriever | None = None,
    patch_store: Any = None,
    on_event: ProgressSink | None = None,
) -> JobResult:
    """Run (or resume) the job described by `config`: each method's best set in `OUT/<method>/best`, the
    validation winner's in `OUT/best`, and one report (`report.md`, `report.json`, `progress.png`).

    Args:
        llm: the task model the agent runs on (also the judge).
        reflection_llm: the model that rewrites prompts (default: the `SLEUTH_REFLECTION_*` model of
            `settings`, on the task model's server unless a base URL is set; `llm` itself for a fake).
        retriever: what the agent searches (default: BM25 over the dataset's corpus).
        patch_store: a `PatchStore`; its patches are shown to the agent, and with `config.corrections`
            its active corrections become extra validation questions.
        on_event: progress events, each naming its method (also appended to `history.jsonl`).

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
    on_event: ProgressSink | None,
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
    corrections: list[QAExample] = []
    if config.corrections:
        if patch_store is None:
            raise JobError("--corrections needs the feedback store (no patches.sqlite under SLEUTH_HOME)")
        corrections = correction_examples(patch_store, config.collection)
    _check_out_dir(config)
    split = load_split(
        config.out / "split.json",
        dataset.examples,
        train_size=config.limit,
        val_size=config.val_limit,
        test_size=config.test_limit,
        seed=config.seed,
        pinned=corrections,
    )
    history = config.out / "history.jsonl"

    def record(event: dict[str, Any]) -> None:
        with history.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event, ensure_ascii=False) + "\n")
        if on_event is not None:
            on_event(event)

    seed = {role: seed_set[role] for role in roles}
    warning = budget_warning(config.budget, len(roles), len(split.val) + len(corrections), config.minibatch_size)
    if warning:
        record({"event": "warning", "message": warning})
    gold = {pid for e in split.train for pid in e.gold_passage_ids}
    by_id = {p.id: p for p in passages if p.id in gold}
    patches: PatchSource = patch_store if patch_store is not None else NoPatches()
    collection = config.collection or dataset.name
    llm = ExactModel(llm) if config.exact else llm
    task: Task = (
        AskTask(llm, retriever, settings, patches, collection, strategy=config.strategy)
        if config.agent == "ask"
        else ResearchTask(llm, retriever, settings, patches, collection)
    )
    shared = MethodRun(
        config,
        SleuthAdapter(
            task,
            metric,
            seed_set,
            asyncio.get_running_loop(),
            concurrency=settings.optimize_concurrency,
            cache=EvalCache(config.out / "eval_cache.jsonl", salt=_settings_salt(settings)),
        ),
        split,
        corrections,
        seed,
        growth_caps(seed, config.max_growth, config.max_prompt_chars),
        lambda: LeakGuard.of(split.train, by_id),
        reflection_llm,
        GenParams(temperature=settings.reflection_temperature, max_tokens=settings.reflection_max_tokens),
        load_prices(settings.prices_path),
        record,
    )
    results: dict[str, MethodResult] = {method: await shared.run(method) for method in config.methods}
    # The validation score picks the winner across methods too: choosing by test score would flatter it.
    winner = max(results.values(), key=lambda r: r.outcome.val_scores[r.outcome.best_idx])
    sets: dict[str, PromptSet] = {
        method: _save_best(config, seed_set, r, config.out / method / "best") for method, r in results.items()
    }
    best_set = _save_best(config, seed_set, winner, config.out / "best")
    report = write_report(
        config,
        seed_set,
        split,
        corrections,
        results,
        sets,
        warnings=[warning] if warning else [],
        caps=shared.caps,
    )
    return JobResult(config, seed_set, split, corrections, results, best_set, report)


def _save_best(config: OptimizeConfig, seed_set: PromptSet, result: MethodResult, folder: Any) -> PromptSet:
    """The method's winner saved over the defaults, as `load_prompt_set(folder)` will read it, so the hash runs
    record matches."""
    best_set = (
        load_prompt_set("defaults")
        .with_prompts(seed_set.prompts)
        .with_prompts(result.best, name=f"{config.out.name}-{result.method}-best")
    )
    best_set.meta.update(
        {
            "method": result.method,
            "seed_set": seed_set.name,
            "seed_hash": seed_set.hash,
            "val_score": f"{result.outcome.val_scores[result.outcome.best_idx]:.4f}",
        }
    )
    best_set.save(folder)
    return best_set
