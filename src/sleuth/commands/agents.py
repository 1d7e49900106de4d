"""`sleuth research`: run the deep-research graph, showing its events live, then the cited answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sleuth.commands.common import (
    WEB_HELP,
    console,
    corrections_line,
    cost_line,
    err_console,
    fail,
    index_demo_if_missing,
    plain,
    print_answer,
    printable,
    run_async,
    settings,
    total_tokens,
    worker_note,
)

if TYPE_CHECKING:
    from sleuth.agents.events import Event
    from sleuth.agents.research.report import ReportOptions
    from sleuth.agents.results import ResearchReport


def register(app: typer.Typer) -> None:
    app.command("research")(research)


def research(
    question: Annotated[str | None, typer.Argument(help="The research question (omit with --resume).")] = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Collection to search (default: demo).")
    ] = None,
    prompts: Annotated[
        str | None, typer.Option("--prompts", help="Prompt set: defaults, minimal, or a directory.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue the interrupted or paused run RUN_ID.")
    ] = None,
    max_rounds: Annotated[int | None, typer.Option("--max-rounds", min=1, help="Search rounds at most.")] = None,
    form: Annotated[
        str, typer.Option("--form", help="answer (a short cited answer) or report (sectioned).")
    ] = "answer",
    length: Annotated[
        int, typer.Option("--length", min=100, max=5000, help="Report: target words of its sections.")
    ] = 600,
    language: Annotated[
        str, typer.Option("--language", help="Report: the language sections are written in.")
    ] = "English",
    approve_plan: Annotated[
        bool,
        typer.Option("--approve-plan", help="Report: pause after the outline so you can accept or edit the plan."),
    ] = False,
    approve: Annotated[
        bool, typer.Option("--approve", help="With --resume: run the paused plan as drafted.")
    ] = False,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan", help="With --resume: run this edited plan (YAML or JSON: title, sections).", dir_okay=False
        ),
    ] = None,
    follow_up: Annotated[
        str | None,
        typer.Option(
            "--follow-up", help="Answer QUESTION as a follow-up of run RUN_ID, starting from its evidence."
        ),
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="Also write the report to a .md, .html, .pdf or .docx file.")
    ] = None,
    web: Annotated[str | None, typer.Option("--web", help=WEB_HELP)] = None,
) -> None:
    """Plan searches, read the hits in parallel and write an answer (or a sectioned report) in which every
    claim cites a passage."""
    if resume and question:
        fail("give either a question or --resume RUN_ID, not both")
    if not resume and not (question or "").strip():
        fail("the question is empty")
    if (approve or plan_file) and not resume:
        fail("--approve and --plan continue a paused run: give --resume RUN_ID")
    request = _request(
        form, length, language, approve_plan, follow_up, plan_file, approve or plan_file is not None, web
    )
    _check_out(out)
    report = run_async(
        _research(question, collection, prompts, resume, max_rounds, request, live=not as_json, ask=not as_json)
    )
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    if out and report.status == "awaiting_approval":
        err_console.print(f"nothing written to {plain(out)} yet: the run is paused for plan approval")
    elif out:
        _write_out(report, out)


@dataclass(frozen=True)
class _Request:
    options: ReportOptions
    follow_up: str | None
    approve: bool
    plan: dict[str, Any] | None
    web: str | None


def _request(
    form: str,
    length: int,
    language: str,
    approve_plan: bool,
    follow_up: str | None,
    plan_file: Path | None,
    approve: bool,
    web: str | None,
) -> _Request:
    from pydantic import ValidationError

    from sleuth.agents.research.report import ReportOptions
    from sleuth.names import FORMS

    if form not in FORMS:
        fail(f"--form must be one of {', '.join(FORMS)}, not {form!r}")
    try:
        options = ReportOptions(form=form, length_words=length, language=language, approve_plan=approve_plan)  # type: ignore[arg-type]
    except ValidationError as exc:
        fail("; ".join(str(e["msg"]) for e in exc.errors()))
    plan = _read_plan(plan_file) if plan_file else None
    return _Request(options, follow_up, approve, plan, web)


def _read_plan(path: Path) -> dict[str, Any]:
    """An edited plan from a YAML or JSON file (JSON is YAML), checked before any run starts."""
    import yaml

    from sleuth.agents.research.nodes.outline import PlanError, parse_plan

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return dict(parse_plan(data))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, PlanError) as exc:
        fail(f"cannot use the plan {plain(str(path))}: {exc}")


async def _research(
    question: str | None,
    collection: str | None,
    prompts: str | None,
    resume: str | None,
    max_rounds: int | None,
    request: _Request,
    *,
    live: bool,
    ask: bool,
) -> ResearchReport:
    from sleuth.agents.research.job import ResearchJob, reported_errors
    from sleuth.commands.research_runs import ResearchRuns
    from sleuth.retrieval.web.sources import web_mode

    current = settings()
    report = None
    try:
        if web_mode(current, request.web) != "web":  # the web alone needs no collection
            index_demo_if_missing(current, collection)
        job = ResearchJob(
            question=question,
            collection=collection,
            prompts=prompts,
            run_id=resume,
            resume=bool(resume),
            max_rounds=max_rounds,
            options=request.options,
            follow_up=request.follow_up,
            approve=request.approve,
            plan=request.plan,
            web=request.web,  # type: ignore[arg-type]  # checked by web_mode above
        )
        async with AsyncExitStack() as stack:
            runs = ResearchRuns(current, stack)  # on the warm worker when one answers, else here
            report = await _follow(runs.stream(job), live)
            # A paused report: ask here (in a terminal), then run the plan the same way.
            if report.status == "awaiting_approval" and ask:
                from sleuth.commands.approval import approval

                go, plan = approval(report)
                if go:
                    report = await _follow(runs.stream(job.approved(report.run_id, plan)), live)
            worker_note(runs)
    except reported_errors() as exc:
        fail(str(exc))
    if report is None:
        fail("the run ended without a report")
    return report


async def _follow(stream: AsyncIterator[Event | ResearchReport], live: bool) -> ResearchReport:
    from sleuth.agents.events import Event

    report = None
    with err_console.status("researching…") as status:
        async for item in stream:
            if isinstance(item, Event):
                status.update(f"{item.node or 'run'}: {item.type}")
                line = describe(item)
                if live and line:
                    console.print(line, highlight=False)
            else:
                report = item
    if report is None:
        fail("the run ended without a report")
    return report


def describe(event: Event) -> str:
    """One line of the live view for an event ("" for events not worth a line)."""
    data = event.data
    if event.type == "run_started":
        verb = "resuming" if data.get("resumed") else "run"
        return f"[bold]{verb} {plain(data.get('run_id'))}[/]: {plain(data.get('question'))}"
    if event.type == "node_started" and event.node != "reader":
        extra = f" (round {data['round']})" if "round" in data else ""
        return f"[cyan]▶ {event.node}{extra}[/]"
    if event.type == "node_finished" and event.node == "orchestrator" and data.get("tasks"):
        return "  plan: " + plain("; ".join(data["tasks"]))
    if event.type == "search":
        return f"  [blue]search[/] “{plain(data.get('query'))}” → {data.get('hits')} hits"
    if event.type == "evidence":
        quote = str(data.get("quote", ""))
        return f"  [green]evidence[/] {plain(data.get('title'))}: “{plain(quote[:90])}{'…' if len(quote) > 90 else ''}”"
    if event.type == "patches":
        return corrections_line(data)
    if event.type == "warning":
        return f"  [yellow]warning[/] {event.node}: {plain(data.get('message'))}"
    if event.type == "outline":
        return f"  [magenta]outline[/] {plain(data.get('title'))}: " + plain(
            "; ".join(str(s.get("heading", "")) for s in data.get("sections") or [])
        )
    if event.type == "section":
        return f"  [green]section[/] {plain(data.get('heading'))}: {data.get('sentences')} sentence(s)"
    if event.type == "budget_reached":
        return f"  [yellow]budget[/] {plain(data.get('message'))}"
    if event.type == "run_finished":
        return f"[bold]done[/] in {data.get('wall_s')}s ({data.get('status')})"
    return ""


def _print_report(report: ResearchReport) -> None:
    from rich.markdown import Markdown

    from sleuth.commands.approval import show_plan

    if report.status == "awaiting_approval":
        show_plan(report.outline or {})
        console.print(
            f"Paused for approval. Run it with: sleuth research --resume {plain(report.run_id)} --approve"
            " [--plan edited.yaml]"
        )
        return
    if report.report is not None:  # the report's Markdown ends with its own sources list
        console.print(Markdown(printable(report.answer)))
    else:  # Markdown reads no rich markup
        print_answer(
            Markdown(printable(report.answer)),
            ((c.n, c.title, c.url or c.passage_id, c.quote) for c in report.citations),
        )
    if report.dropped_sentences:
        console.print(f"[dim]{len(report.dropped_sentences)} unsupported sentence(s) dropped[/]")
    console.print(
        f"[dim]run {plain(report.run_id)} · {len(report.search_calls)} search(es) · {len(report.plan)} round(s)"
        f" · {total_tokens(report.usage)} tokens · {cost_line(report.cost_usd)} · {report.wall_s:.1f}s"
        f" · prompts {report.prompt_set_hash}[/]"
    )


def _check_out(out: str | None) -> None:
    """Fail before the run, not after it, when `--out` names no known format or a folder that is missing."""
    if out is None:
        return
    from sleuth.export import UnknownFormatError, format_for

    try:
        format_for(out)
    except UnknownFormatError as exc:
        fail(str(exc))
    if not Path(out).expanduser().parent.is_dir():
        fail(f"cannot write {out}: the folder {Path(out).expanduser().parent} does not exist")


def _write_out(report: ResearchReport, out: str) -> None:
    """Write the run's report to `out`, in the format its suffix names, and say where."""
    from sleuth.export import ExportError, as_report, export, format_for

    path = Path(out).expanduser()
    try:
        path.write_bytes(export(as_report(report), format_for(path)))
    except (OSError, ExportError) as exc:
        fail(
            f"cannot write {path}: {exc}. The run is saved: `sleuth research --resume {report.run_id} --out FILE`"
        )
    err_console.print(f"report written to {plain(path.resolve())}", highlight=False, soft_wrap=True)
