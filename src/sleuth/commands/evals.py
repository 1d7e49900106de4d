"""`sleuth eval qa`, `sleuth eval longform` and `sleuth distill`: the CLI face of `sleuth.evals.jobs`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sleuth.commands.common import console, err_console, fail, plain, progress_bar, run_async, settings

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from sleuth.evals.jobs import EvalConfig, EvalResult


def register_eval(eval_app: typer.Typer) -> None:
    eval_app.command("qa")(qa)
    eval_app.command("longform")(longform)


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)


class _ProgressView:
    """An eval's events on stderr: a passing bar while the corpus is indexed, then one over the runs."""

    def __init__(self) -> None:
        self.bars: list[tuple[Progress, TaskID]] = []
        self.errors = 0

    def __enter__(self) -> _ProgressView:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar, _ in self.bars:
            bar.stop()

    def __call__(self, event: dict[str, Any]) -> None:
        from rich.progress import TextColumn

        if event["event"] == "indexing":
            if not self.bars:
                description = f"indexing {plain(event['dataset'])} into collection {event['collection']!r}"
                self._start(progress_bar(transient=True), description, None)
            bar, task = self.bars[-1]
            bar.update(task, completed=event["done"], total=event["total"] or None)
        elif event["event"] == "questions":
            for bar, _ in self.bars:
                bar.stop()
            self._start(
                progress_bar(TextColumn("{task.fields[errors]} errors")), "questions × arms", event["total"]
            )
        elif event["event"] == "result" and self.bars:
            self.errors += bool(event["error"])
            bar, task = self.bars[-1]
            bar.update(task, advance=1, errors=self.errors)

    def _start(self, bar: Progress, description: str, total: int | None) -> None:
        bar.start()
        self.bars.append((bar, bar.add_task(description, total=total, errors=0)))


def _run(config: EvalConfig) -> EvalResult:
    """Run the eval with its progress on stderr; bad options and data become clean exits."""
    from sleuth.evals.datasets import DatasetError
    from sleuth.evals.jobs import EvalError, run_eval
    from sleuth.evals.runner import RunMismatchError
    from sleuth.retrieval.index import CollectionError

    try:  # run_eval checks the options and reads the dataset before it starts a model
        with _ProgressView() as view:
            return run_async(run_eval(settings(), config, on_event=view))
    except (EvalError, DatasetError, RunMismatchError, CollectionError) as exc:
        fail(str(exc))


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
    from sleuth.evals.jobs import QAEval

    config = QAEval(
        dataset=dataset,
        out=out,
        agent=agent,
        arms=arms.split(",") if arms else None,
        prompts=prompts,
        limit=limit,
        offset=offset,
        seed=seed,
        concurrency=concurrency,
        mode=mode,
        report_only=report_only,
    )
    report = _run(config).report
    partial = report["meta"]["questions_left_out"]
    if partial:
        err_console.print(f"[yellow]note:[/] {partial} question(s) not answered by every arm are left out")
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
    forms: str = typer.Option(
        "answer", "--forms", help="Research forms side by side: answer, report, or answer,report."
    ),
    judge: bool = typer.Option(
        True, "--judge/--no-judge", help="Grade content with the judge model (off: only the checks made in code)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print report.json on stdout."),
) -> None:
    """Run the research agent and grade its long answers with the ScholarQA-CS rubric weighting."""
    from sleuth.evals.jobs import LongformEval
    from sleuth.names import FORMS

    chosen = [f for f in FORMS if f in {x.strip() for x in forms.split(",")}]
    unknown = {x.strip() for x in forms.split(",") if x.strip()} - set(FORMS)
    if unknown or not chosen:
        fail(f"--forms takes {', '.join(FORMS)} (comma-separated), not {forms!r}")

    config = LongformEval(
        dataset=dataset,
        out=out,
        prompts=prompts,
        limit=limit,
        offset=offset,
        concurrency=concurrency,
        judge_url=judge_url,
        judge_model=judge_model,
        support=support,
        forms=chosen,
        judge=judge,
    )
    _finish(out, _run(config).report, as_json)


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
    from sleuth.evals.jobs import DistillJob

    config = DistillJob(
        teacher_url=teacher_url,
        dataset=dataset,
        out=out,
        teacher_model=teacher_model,
        api_key=api_key,
        limit=limit,
        offset=offset,
        concurrency=concurrency,
        min_f1=min_f1,
        prompts=prompts,
    )
    summary = _run(config).report
    if as_json:
        print(json.dumps(summary))
    else:
        console.print(
            f"kept {summary['kept']} of {summary['total']} trajectories → {plain(out)}; dropped by rule: "
            f"{summary['dropped_by_rule']}; failed runs: {summary['errors']}"
        )
