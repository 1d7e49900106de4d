"""`sleuth optimize`: improve an agent's prompts on a dataset with GEPA (or the TextGrad-style baseline)."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sleuth.commands.common import console, fail, plain, progress_bar, run_async, settings

if TYPE_CHECKING:
    from sleuth.config import Settings
    from sleuth.optimizers.config import OptimizeConfig
    from sleuth.optimizers.jobs import JobResult


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)


def optimize(
    dataset: str = typer.Option(
        ..., "--dataset", "-d", help="Dataset folder (questions.jsonl + corpus.jsonl) or a .jsonl file."
    ),
    out: str = typer.Option(..., "--out", "-o", help="Job folder; run again with the same options to resume."),
    agent: str = typer.Option("ask", "--agent", help="ask or research."),
    strategy: str = typer.Option(
        None, "--strategy", help="ask: grounded or asp, the strategy whose prompts are tuned (default: settings')."
    ),
    metric: str = typer.Option(None, "--metric", "-m", help="em, f1, cover (ask); citations, judge (research)."),
    budget: int = typer.Option(
        60, "--budget", "-b", min=1, help="Metric calls (agent runs scored) per method, seed included."
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Training questions (default: all the rest)."),
    val_limit: int = typer.Option(
        None, "--val-limit", min=1, help="Validation questions (default: a fifth of the questions)."
    ),
    test_limit: int = typer.Option(
        None, "--test-limit", min=1, help="Held-out test questions (default: three fifths of the questions)."
    ),
    seed_prompts: str = typer.Option("minimal", "--seed-prompts", help="minimal, defaults, or a directory."),
    method: str = typer.Option(
        "gepa", "--method", help="gepa, textgrad (the baseline) or both (same splits and budget, one report)."
    ),
    roles: str = typer.Option(
        None, "--roles", help="Comma-separated roles to optimize (default: all of the agent's)."
    ),
    minibatch: int = typer.Option(3, "--minibatch", min=1, help="Questions per reflection minibatch."),
    seed: int = typer.Option(0, "--seed", help="Seed of the splits and the sampling."),
    max_prompt_chars: int = typer.Option(
        None, "--max-prompt-chars", min=1, help="Refuse proposals with a longer prompt in any role."
    ),
    max_growth: float = typer.Option(
        2.0, "--max-growth", min=1.0, help="Refuse proposals longer than this many times the seed's prompt."
    ),
    skip_perfect: bool = typer.Option(
        True,
        "--skip-perfect/--reflect-on-perfect",
        help="GEPA: skip reflection on minibatches the candidate already answers perfectly.",
    ),
    merge: bool = typer.Option(
        True, "--merge/--no-merge", help="GEPA: merge candidates that improved other roles."
    ),
    accept_ties: bool = typer.Option(
        False,
        "--accept-ties/--strict",
        help="Validate a proposal that ties its parent on the minibatch too (each costs a validation run).",
    ),
    no_improvement: int = typer.Option(
        None, "--no-improvement", min=1, help="Stop after this many iterations without a better validation score."
    ),
    timeout_min: float = typer.Option(
        None, "--timeout-min", min=0.01, help="Stop each method after this many minutes."
    ),
    max_reflection_cost: float = typer.Option(
        None, "--max-reflection-cost", min=0.0001, help="Stop when reflection calls cost this many USD."
    ),
    exact: bool = typer.Option(
        True,
        "--exact/--cached-prefix",
        help="Compute each prompt whole, so the same prompts always give the same answers (~1.2x slower on "
        "CPU); --cached-prefix reuses the server's prompt cache.",
    ),
    corrections: bool = typer.Option(
        False, "--corrections", help="Add active corrections as never-regress validation questions."
    ),
    collection: str = typer.Option(
        None, "--collection", "-c", help="Search this index instead of the dataset's corpus."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
) -> None:
    """Optimize prompts: write OUT/best (load it with --prompts OUT/best) and OUT/report.md + progress.png."""
    from pydantic import ValidationError

    from sleuth.optimizers.config import OptimizeConfig

    try:
        config = OptimizeConfig.model_validate(
            {
                "agent": agent,
                "strategy": strategy or settings().ask_strategy,
                "dataset": dataset,
                "out": Path(out),
                "budget": budget,
                "limit": limit,
                "metric": metric or ("em" if agent == "ask" else "citations"),
                "val_limit": val_limit,
                "test_limit": test_limit,
                "seed_prompts": seed_prompts,
                "method": method,
                "minibatch_size": minibatch,
                "seed": seed,
                "roles": [r.strip() for r in roles.split(",") if r.strip()] if roles else None,
                "max_prompt_chars": max_prompt_chars,
                "max_growth": max_growth,
                "merge": merge,
                "skip_perfect": skip_perfect,
                "accept_ties": accept_ties,
                "no_improvement": no_improvement,
                "timeout_min": timeout_min,
                "max_reflection_cost": max_reflection_cost,
                "corrections": corrections,
                "exact": exact,
                "collection": collection,
            }
        )
    except ValidationError as exc:
        options = {"minibatch_size": "minibatch"}
        fail(
            "; ".join(
                f"--{options.get(str(e['loc'][0]), str(e['loc'][0])).replace('_', '-')}: {e['msg']}"
                for e in exc.errors()
                if e["loc"]
            )
        )
    from sleuth.evals.datasets import DatasetError
    from sleuth.optimizers.jobs import JobError, preflight

    try:  # before the model starts: a typo should not cost a model load
        preflight(config)
    except (JobError, DatasetError) as exc:
        fail(str(exc))
    result = run_async(_run(config, settings(), quiet=as_json))
    if as_json:
        print(json.dumps(result.report, ensure_ascii=False, indent=1))
    else:
        _summary(result)


async def _run(config: OptimizeConfig, current: Settings, *, quiet: bool) -> JobResult:
    from sleuth.evals.datasets import DatasetError
    from sleuth.llm import connect
    from sleuth.optimizers.jobs import JobError, run_job

    async with AsyncExitStack() as stack:
        llm = await stack.enter_async_context(connect(current))
        patch_store = _patch_store(current, stack)
        retriever = _collection_retriever(current, config.collection) if config.collection else None
        progress = progress_bar(disable=quiet)
        bar = progress.add_task(f"{config.methods[0]}: starting", total=config.budget)
        state: dict[str, Any] = {"method": config.methods[0], "best": float("-inf")}

        def on_event(event: dict[str, Any]) -> None:
            method = event.get("method", state["method"])
            if method != state["method"]:  # the next method starts on the same splits with its own budget
                state.update(method=method, best=float("-inf"))
                progress.reset(bar, total=config.budget, description=f"{method}: starting")
            if event["event"] == "budget":
                progress.update(bar, completed=min(event["used"], config.budget))
            elif event["event"] == "valset":
                state["best"] = max(state["best"], event["score"])
                progress.update(bar, description=f"{method}: best val {state['best']:.3f}")
                progress.console.print(
                    f"{method} candidate {event['candidate']}: validation {event['score']:.3f} "
                    f"(prompt chars {event['lengths']})",
                    highlight=False,
                )
            elif event["event"] == "test":
                progress.update(bar, description=f"{method}: scoring {event['questions']} held-out questions")
            elif event["event"] == "warning":
                progress.console.print(f"[yellow]warning:[/] {plain(event['message'])}", highlight=False)
            elif event["event"] in ("accepted", "rejected", "merged", "guard") and not quiet:
                detail = {k: v for k, v in event.items() if k not in ("event", "method", "critique")}
                progress.console.print(
                    f"{method} iteration {event.get('iteration', '')}: {event['event']} {plain(detail)}",
                    highlight=False,
                )

        try:
            with progress:
                return await run_job(
                    config,
                    current,
                    llm,
                    retriever=retriever,
                    patch_store=patch_store,
                    on_event=on_event,
                )
        except (JobError, DatasetError, ValueError, FileNotFoundError) as exc:
            fail(str(exc))


def _patch_store(current: Settings, stack: AsyncExitStack) -> Any:
    if not current.database_url and not current.patches_path.exists():
        return None
    from sleuth.feedback.api import open_patch_store

    store = open_patch_store(current)
    stack.callback(store.close)
    return store


def _collection_retriever(current: Settings, name: str) -> Any:
    from sleuth.retrieval.index import open_collection

    return open_collection(current, name).retriever("hybrid")


def _summary(result: JobResult) -> None:
    from sleuth.optimizers.report import power_notes

    report = result.report

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    split = report["split"]
    console.print(
        f"{report['agent']} ({report['metric']}), splits train {split['train']} / validation {split['val']} / "
        f"test {split['test']}",
        highlight=False,
    )
    for row in report["comparison"]:
        delta = row["test_delta"]
        interval = f"{delta['mean']:+.3f} [95% CI {delta['low']:+.3f}, {delta['high']:+.3f}]" if delta else "n/a"
        console.print(
            f"[bold]{row['method']}[/]: validation {fmt(row['val'][0])} -> {fmt(row['val'][1])}; test "
            f"{fmt(row['test'][0])} -> {fmt(row['test'][1])}, difference {interval} ({row['test_changed'][0]} answers "
            f"better, {row['test_changed'][1]} worse); {row['metric_calls']} metric "
            f"calls, {row['refused_proposals']} proposals refused, stopped by {row['stopped_by']}",
            highlight=False,
        )
    for note in power_notes(report["comparison"], split["test"]):
        console.print(note, highlight=False)
    for method in report["methods"].values():
        corrections = method["corrections_test"]
        if corrections["questions"]:
            regressed = f", regressed: {', '.join(corrections['regressed'])}" if corrections["regressed"] else ""
            console.print(
                f"{method['method']} corrections: {fmt(corrections['seed'])} -> {fmt(corrections['best'])}{regressed}",
                highlight=False,
            )
    out = result.config.out
    console.print(
        f"best prompts: {plain(out / 'best')} (hash {result.best_set.hash}); use --prompts {plain(out / 'best')}",
        highlight=False,
    )
    console.print(f"report: {plain(out / 'report.md')}, plot: {plain(out / 'progress.png')}", highlight=False)
