"""`sleuth research`: run the deep-research graph, showing its events live, then the cited answer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from sleuth.commands.common import (
    console,
    corrections_line,
    err_console,
    fail,
    index_demo_if_missing,
    plain,
    print_answer,
    printable,
    run_async,
    settings,
    total_tokens,
)

if TYPE_CHECKING:
    from sleuth.agents.events import Event
    from sleuth.agents.results import ResearchReport


def register(app: typer.Typer) -> None:
    app.command("research")(research)


def research(
    question: str | None = typer.Argument(None, help="The research question (omit with --resume)."),
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="Collection to search (default: demo)."
    ),
    prompts: str | None = typer.Option(None, "--prompts", help="Prompt set: defaults, minimal, or a directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    resume: str | None = typer.Option(None, "--resume", help="Continue the interrupted run RUN_ID."),
    max_rounds: int | None = typer.Option(None, "--max-rounds", min=1, help="Search rounds at most."),
    out: str | None = typer.Option(
        None, "--out", "-o", help="Also write the report to a .md, .html, .pdf or .docx file."
    ),
) -> None:
    """Plan searches, read the hits in parallel and write an answer in which every claim cites a passage."""
    if resume and question:
        fail("give either a question or --resume RUN_ID, not both")
    if not resume and not (question or "").strip():
        fail("the question is empty")
    _check_out(out)
    report = run_async(_research(question, collection, prompts, resume, max_rounds, live=not as_json))
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    if out:
        _write_out(report, out)


async def _research(
    question: str | None,
    collection: str | None,
    prompts: str | None,
    resume: str | None,
    max_rounds: int | None,
    *,
    live: bool,
) -> ResearchReport:
    from sleuth.agents.events import Event
    from sleuth.agents.policy import PolicyViolationError
    from sleuth.agents.research import UnknownRunError
    from sleuth.api import Sleuth
    from sleuth.retrieval.index import CollectionError

    current = settings()
    report = None
    try:
        index_demo_if_missing(current, collection)
        async with Sleuth.open(current, collection=collection, prompts=prompts) as sleuth:
            stream = sleuth.research_stream(
                question, collection=collection, max_rounds=max_rounds, run_id=resume, resume=bool(resume)
            )
            with err_console.status("researching…") as status:
                async for item in stream:
                    if isinstance(item, Event):
                        status.update(f"{item.node or 'run'}: {item.type}")
                        line = describe(item)
                        if live and line:
                            console.print(line, highlight=False)
                    else:
                        report = item
    except (UnknownRunError, FileNotFoundError, PolicyViolationError, CollectionError) as exc:
        fail(str(exc))
    except ValueError as exc:  # bad prompt files, unknown collection, empty question
        fail(str(exc))
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
    if event.type == "run_finished":
        return f"[bold]done[/] in {data.get('wall_s')}s ({data.get('status')})"
    return ""


def _print_report(report: ResearchReport) -> None:
    from rich.markdown import Markdown

    # Markdown reads no rich markup
    print_answer(
        Markdown(printable(report.answer)), ((c.n, c.title, c.passage_id, c.quote) for c in report.citations)
    )
    if report.dropped_sentences:
        console.print(f"[dim]{len(report.dropped_sentences)} unsupported sentence(s) dropped[/]")
    console.print(
        f"[dim]run {plain(report.run_id)} · {len(report.search_calls)} search(es) · {len(report.plan)} round(s)"
        f" · {total_tokens(report.usage)} tokens · {report.wall_s:.1f}s · prompts {report.prompt_set_hash}[/]"
    )


def _check_out(out: str | None) -> None:
    """Fail before the run, not after it, when `--out` names no known format or a folder that is missing."""
    from pathlib import Path

    from sleuth.export import UnknownFormatError, format_for

    if out is None:
        return
    try:
        format_for(out)
    except UnknownFormatError as exc:
        fail(str(exc))
    if not Path(out).expanduser().parent.is_dir():
        fail(f"cannot write {out}: the folder {Path(out).expanduser().parent} does not exist")


def _write_out(report: ResearchReport, out: str) -> None:
    """Write the run's report to `out`, in the format its suffix names, and say where."""
    from pathlib import Path

    from sleuth.export import ExportError, as_report, export, format_for

    path = Path(out).expanduser()
    try:
        path.write_bytes(export(as_report(report), format_for(path)))
    except (OSError, ExportError) as exc:
        fail(
            f"cannot write {path}: {exc}. The run is saved: `sleuth research --resume {report.run_id} --out FILE`"
        )
    err_console.print(f"report written to {plain(path.resolve())}", highlight=False, soft_wrap=True)
