"""`sleuth eval qa`, `sleuth eval longform` and `sleuth distill`: run arms over a dataset, score, report."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sleuth.commands.common import console, err_console, fail, plain, run_async, settings

if TYPE_CHECKING:
    from sleuth.config import Settings
    from sleuth.evals.arms import Arm, ArmContext
    from sleuth.evals.datasets import Dataset
    from sleuth.evals.runner import ResultsFile, Scorer
    from sleuth.llm.base import ChatModel
    from sleuth.retrieval.base import Retriever


def register_eval(eval_app: typer.Typer) -> None:
    eval_app.command("qa")(qa)
    eval_app.command("longform")(longform)


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)


def _load(dataset: Path, limit: int | None, offset: int, seed: int | None) -> Dataset:
    from sleuth.evals.datasets import DatasetError, load_dataset

    try:
        return load_dataset(dataset, limit=limit, offset=offset, seed=seed)
    except DatasetError as exc:
        fail(str(exc))


def collection_name(dataset: Dataset) -> str:
    """The collection a dataset's corpus is indexed into: the dataset folder's name, made Chroma-safe."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", dataset.name).strip("._-") or "eval"
    return (name + "___")[:63] if len(name) < 3 else name[:63]


def open_retrievers(current: Settings, dataset: Dataset) -> Callable[[str], Retriever]:
    """Index the dataset's corpus into its collection (once; reused when already filled) and return
    mode -> retriever."""
    if dataset.corpus_path is None:
        fail(f"dataset {dataset.name!r} has no corpus.jsonl to search")
    try:
        from sleuth.retrieval.index import open_collection
    except ModuleNotFoundError as exc:
        if exc.name != "sleuth.retrieval.index":
            raise
        err_console.print(
            "[yellow]warning:[/] sleuth.retrieval.index is missing: every mode searches an "
            "in-memory BM25 index of the corpus"
        )
        return _memory_bm25(dataset)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sleuth.retrieval.index import CollectionError

    try:
        collection = open_collection(current, collection_name(dataset))
        # `add` is idempotent: an unchanged corpus is skipped by its digest, a changed one re-indexed.
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"indexing {plain(dataset.name)} into collection {collection.name!r}", total=None)
            report = collection.add(
                [dataset.corpus_path], lambda done, total: bar.update(task, completed=done, total=total or None)
            )
    except CollectionError as exc:
        fail(str(exc))
    if report.errors:
        fail(f"cannot index {dataset.corpus_path}: {report.errors[0].error}")
    cache: dict[str, Retriever] = {}

    def retriever(mode: str) -> Retriever:
        if mode not in cache:
            cache[mode] = collection.retriever(mode)  # type: ignore[arg-type]  # the Collection checks it
        return cache[mode]

    return retriever


def _memory_bm25(dataset: Dataset) -> Callable[[str], Retriever]:
    """A BM25 retriever over the corpus held in memory (stopgap while collections are unavailable)."""
    from sleuth.retrieval.base import Filter, Hit
    from sleuth.retrieval.bm25 import BM25Index

    passages = list(dataset.passages())
    index = BM25Index.build([f"{p.title}\n{p.text}" for p in passages])

    class MemoryBM25:
        def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
            return [Hit(passages[i], score, "bm25") for i, score in index.search(query, k)]

    retriever = MemoryBM25()
    return lambda mode: retriever


@asynccontextmanager
async def _model(
    current: Settings, url: str | None, model: str | None, api_key: str | None
) -> AsyncIterator[ChatModel]:
    """The configured model, or a given OpenAI-compatible URL (a teacher or judge model)."""
    from sleuth.llm import connect
    from sleuth.llm.openai_compat import OpenAICompatModel

    if url is None:
        async with connect(current) as llm:
            yield llm
        return
    client = OpenAICompatModel(
        url,
        model or current.llm_model,
        api_key=api_key or current.llm_api_key,
        timeout_s=current.llm_timeout_s,
        request_timeout_s=current.llm_request_timeout_s,
        connect_timeout_s=current.llm_connect_timeout_s,
        max_retries=current.llm_max_retries,
        retry_wait_s=current.llm_retry_wait_s,
        concurrency=current.llm_concurrency,
    )
    try:
        yield client
    finally:
        await client.aclose()


def _context(
    llm: ChatModel,
    current: Settings,
    dataset: Dataset,
    prompts: str | None,
    retriever: Callable[[str], Retriever],
    mode: str,
) -> ArmContext:
    from sleuth.evals.arms import ArmContext
    from sleuth.prompts.sets import load_prompt_set

    try:
        prompt_set = load_prompt_set(prompts)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    passages = dataset.passage_map()
    return ArmContext(
        llm=llm,
        settings=current,
        prompts=prompt_set,
        retriever=retriever,
        lookup=passages.get,
        collection=collection_name(dataset),
        agent_mode=mode,
    )


async def _run_with_progress(
    dataset: Dataset,
    arms: list[Arm],
    results: ResultsFile,
    concurrency: int,
    ctx: ArmContext,
    scorer: Scorer | None = None,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sleuth.evals.runner import pending_count, run_qa

    total = pending_count(dataset.examples, [a.name for a in arms], results)
    errors = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[errors]} errors"),
        console=err_console,
    ) as bar:
        task = bar.add_task("questions × arms", total=total, errors=0)

        def advance(record: dict[str, Any]) -> None:
            nonlocal errors
            errors += bool(record.get("error"))
            bar.update(task, advance=1, errors=errors)

        await run_qa(
            dataset.examples,
            arms,
            results,
            concurrency=concurrency,
            lookup=ctx.lookup,
            on_result=advance,
            scorer=scorer,
        )


def _this_run(results: ResultsFile, dataset: Dataset, arm_names: list[str]) -> list[dict[str, Any]]:
    ids = {e.id for e in dataset.examples}
    return [r for r in results.records() if r["example_id"] in ids and r["arm"] in arm_names]


def _complete_questions(records: list[dict[str, Any]], arm_names: list[str]) -> tuple[list[dict[str, Any]], int]:
    """Only questions every arm has answered, so arms are compared on the same questions (a run stopped
    early leaves some half done); returns the records kept and how many questions were left out."""
    arms_by_question: dict[str, set[str]] = {}
    for record in records:
        arms_by_question.setdefault(record["example_id"], set()).add(record["arm"])
    complete = {q for q, arms in arms_by_question.items() if arms >= set(arm_names)}
    return [r for r in records if r["example_id"] in complete], len(arms_by_question) - len(complete)


def _finish(out: Path, report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    console.print(plain((out / "report.md").read_text()), highlight=False)
    console.print(
        f"reports: {plain(out / 'report.json')}, {plain(out / 'report.md')}, {plain(out / 'report.html')}"
    )


def qa(
    dataset: Annotated[
        Path, typer.Option("--dataset", help="Dataset folder (questions.jsonl + corpus.jsonl, or BEIR).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for results.jsonl and the reports (resumable).")],
    agent: str = typer.Option("ask", "--agent", help="ask or research."),
    arms: str = typer.Option(
        None,
        "--arms",
        help="Comma-separated: grounded,always,free,closed,naive,oracle (grounded: the grounded strategy; "
        "always/free/closed: the ASP loop's variants; research: research,naive,oracle). Default: all.",
    ),
    prompts: str = typer.Option(None, "--prompts", help="Prompt set: defaults, minimal, or a directory."),
    limit: int = typer.Option(None, "--limit", min=1, help="Questions at most."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many questions first."),
    seed: int = typer.Option(None, "--seed", help="Shuffle the questions with this seed before slicing."),
    concurrency: int = typer.Option(2, "--concurrency", min=1, help="Runs in flight at once."),
    mode: str = typer.Option("hybrid", "--mode", help="Retrieval mode the agents search with."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json on stdout."),
    report_only: bool = typer.Option(
        False, "--report-only", help="Only rewrite the reports from the results already in --out."
    ),
) -> None:
    """Score short answers (EM, F1, cover match, gold recall, searches, tokens, latency) for every arm on
    the same questions and model; writes report.json, report.md and report.html."""
    from sleuth.evals.arms import ALL_ARMS, BASELINE_ARMS, build_arms
    from sleuth.evals.report import write_reports
    from sleuth.evals.runner import RESULTS_FILE, ResultsFile, RunMismatchError, check_run_meta

    if agent not in ("ask", "research"):
        fail(f"unknown agent {agent!r}: use ask or research")
    default = ALL_ARMS if agent == "ask" else ("research", *BASELINE_ARMS)
    arm_names = [a.strip() for a in (arms.split(",") if arms else default) if a.strip()]
    data = _load(dataset, limit, offset, seed)
    current = settings()
    results = ResultsFile(out / RESULTS_FILE)

    async def main() -> list[str]:
        retriever = open_retrievers(current, data)
        async with _model(current, None, None, None) as llm:
            ctx = _context(llm, current, data, prompts, retriever, mode)
            try:
                built = build_arms(arm_names, ctx, agent)
            except ValueError as exc:
                fail(str(exc))
            meta = {
                "dataset": str(dataset.resolve()),
                "agent": agent,
                "arms": arm_names,
                "model": current.llm_model if current.llm_base_url else current.local_model,
                "prompts": f"{ctx.prompts.name} ({ctx.prompts.hash})",
                "retrieval": mode,
                "limit": limit,
                "offset": offset,
                "seed": seed,
            }
            try:
                check_run_meta(out, meta)
            except RunMismatchError as exc:
                fail(str(exc))
            await _run_with_progress(data, built, results, concurrency, ctx)
            return [a.name for a in built]

    if report_only:
        if not (out / "run.json").exists():
            fail(f"{out} holds no eval run to report on")
        names = arm_names
    else:
        names = run_async(main())
    meta = json.loads((out / "run.json").read_text())
    records, partial = _complete_questions(_this_run(results, data, names), names)
    if partial:
        err_console.print(f"[yellow]note:[/] {partial} question(s) not answered by every arm are left out")
    report = write_reports(out, records, {**meta, "arms": ",".join(names), "questions_left_out": partial})
    _finish(out, report, as_json)


def longform(
    dataset: Annotated[
        Path, typer.Option("--dataset", help="Folder with questions (rubric or reference_answer).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for results.jsonl and the reports (resumable).")],
    prompts: str = typer.Option(None, "--prompts", help="Prompt set: defaults, minimal, or a directory."),
    limit: int = typer.Option(None, "--limit", min=1),
    offset: int = typer.Option(0, "--offset", min=0),
    concurrency: int = typer.Option(1, "--concurrency", min=1),
    judge_url: str = typer.Option(
        None, "--judge-url", help="OpenAI-compatible URL of the judge model (default: the configured model)."
    ),
    judge_model: str = typer.Option(None, "--judge-model"),
    support: str = typer.Option(
        "overlap", "--support", help="Citation support check: overlap (offline proxy) or llm (the judge model)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print report.json on stdout."),
) -> None:
    """Run the research agent and grade its long answers with the ScholarQA-CS rubric weighting."""
    from sleuth.evals.arms import ResearchArm
    from sleuth.evals.citations import LLMSupport, OverlapSupport
    from sleuth.evals.judge import judge_longform
    from sleuth.evals.report import LONGFORM_SCORES, write_reports
    from sleuth.evals.runner import RESULTS_FILE, ResultsFile, RunMismatchError, check_run_meta, error_record

    if support not in ("overlap", "llm"):
        fail(f"unknown --support {support!r}: use overlap or llm")
    data = _load(dataset, limit, offset, None)
    if not all(e.rubric or e.reference_answer for e in data.examples):
        fail("every question needs a 'rubric' (or 'ingredients') or a 'reference_answer' to be judged")
    current = settings()
    results = ResultsFile(out / RESULTS_FILE)

    async def main() -> None:
        retriever = open_retrievers(current, data)
        async with (
            _model(current, None, None, None) as llm,
            _model(current, judge_url, judge_model, None) as judge,
        ):
            judge_llm = judge if judge_url else llm
            ctx = _context(llm, current, data, prompts, retriever, "hybrid")
            system = ctx.prompts.get("judge") or "Grade the answer as asked. Reply with only JSON."
            checker = LLMSupport(judge_llm, system) if support == "llm" else OverlapSupport()

            async def score(example: Any, arm: str, run: Any) -> dict[str, Any]:
                texts: dict[str, str] = {}
                for citation in run.citations:
                    passage = ctx.lookup(str(citation.get("passage_id", "")))
                    if passage is not None:
                        texts[passage.id] = passage.text
                try:
                    graded = await judge_longform(
                        judge_llm, system, example, run.answer, run.citations, texts, checker
                    )
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
                    "latency_s": round(run.latency_s, 3),
                    "error": None,
                    **graded,
                }

            meta = {
                "dataset": str(dataset.resolve()),
                "agent": "research",
                "arms": ["research"],
                "judge": judge_model or judge_url or "same model",
                "support": support,
                "prompts": f"{ctx.prompts.name} ({ctx.prompts.hash})",
                "limit": limit,
                "offset": offset,
            }
            try:
                check_run_meta(out, meta)
            except RunMismatchError as exc:
                fail(str(exc))
            await _run_with_progress(data, [ResearchArm(ctx)], results, concurrency, ctx, scorer=score)

    run_async(main())
    meta = json.loads((out / "run.json").read_text())
    report = write_reports(
        out,
        _this_run(results, data, ["research"]),
        meta,
        scores=LONGFORM_SCORES,
        costs=("search_calls", "tokens", "latency_s"),
        title="sleuth long-form eval",
    )
    _finish(out, report, as_json)


def distill(
    teacher_url: Annotated[str, typer.Option("--teacher-url", help="OpenAI-compatible base URL of the teacher.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="Question set with gold answers and a corpus.")],
    out: Annotated[Path, typer.Option("--out", help="SFT jsonl to write (chat format).")],
    teacher_model: str = typer.Option(None, "--teacher-model", help="Model name the teacher server expects."),
    api_key: str = typer.Option(None, "--api-key", envvar="SLEUTH_TEACHER_API_KEY"),
    limit: int = typer.Option(None, "--limit", min=1),
    offset: int = typer.Option(0, "--offset", min=0),
    concurrency: int = typer.Option(4, "--concurrency", min=1),
    min_f1: float = typer.Option(0.65, "--min-f1", help="Keep answers with String-F1 above this."),
    prompts: str = typer.Option(None, "--prompts", help="Prompt set for the teacher's ask agent."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON on stdout."),
) -> None:
    """Run `ask` (always-search) with a teacher model, keep grounded correct trajectories, write SFT jsonl.

    Raw runs go to OUT.runs.jsonl (a restart skips the questions already run); counts to OUT.counts.json.
    """
    from sleuth.evals.arms import AskArm
    from sleuth.evals.distill import Trajectory, filter_trajectories, write_sft
    from sleuth.evals.runner import ResultsFile

    data = _load(dataset, limit, offset, None)
    if not any(e.answers for e in data.examples):
        fail(f"{dataset}: no gold answers; distillation filters on String-F1 against them")
    current = settings()
    results = ResultsFile(out.with_name(out.name + ".runs.jsonl"))

    async def main() -> Callable[[str], Any]:
        retriever = open_retrievers(current, data)
        async with _model(current, teacher_url, teacher_model, api_key) as teacher:
            ctx = _context(teacher, current, data, prompts, retriever, "hybrid")
            await _run_with_progress(data, [AskArm(ctx, "always")], results, concurrency, ctx)
            return ctx.lookup

    lookup = run_async(main())
    golds = {e.id: e for e in data.examples}
    trajectories = [
        Trajectory(
            question=r["question"],
            answers=golds[r["example_id"]].answers,
            prediction=r["prediction"],
            messages=r["trajectory"] or [],
            search_calls=r["search_calls"],
            id=r["example_id"],
            passages=[p.text for p in map(lookup, r["retrieved_ids"]) if p is not None],
        )
        for r in _this_run(results, data, ["always"])
        if not r.get("error")
    ]
    kept, counts = filter_trajectories(trajectories, min_f1)
    write_sft(out, kept)
    summary = {**counts.as_dict(), "errors": len(data.examples) - len(trajectories), "out": str(out)}
    out.with_name(out.name + ".counts.json").write_text(json.dumps(summary, indent=2))
    if as_json:
        print(json.dumps(summary))
    else:
        console.print(
            f"kept {counts.kept} of {counts.total} trajectories → {plain(out)}; dropped by rule: "
            f"{counts.dropped_by_rule}; failed runs: {summary['errors']}"
        )
