"""`sleuth ask`: a short answer from the always-search loop, with its searches live and its sources (exit 1: none)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

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
    run_async,
    settings,
    total_tokens,
    worker_note,
)
from sleuth.names import STRATEGIES, VARIANTS

if TYPE_CHECKING:
    from sleuth.agents.events import Event
    from sleuth.agents.results import AskResult
    from sleuth.config import Settings

UNANSWERED = {
    "refused": "every answer the model gave was found in no retrieved passage, so it was refused as a guess",
    "fallback": "the model gave no answer",
}
"""Finishes (`AskResult.finish`) that are no answer: the command exits 1 after printing the result."""

ASK_ROLES = ("ask", "summarizer")
"""The roles `sleuth ask` calls (both strategies)."""


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)


def ask(
    question: str = typer.Argument(..., help="The question; the answer is a few words."),
    collection: str = typer.Option(None, "--collection", "-c", help="Collection to search (default: demo)."),
    strategy: str = typer.Option(
        None,
        "--strategy",
        help="grounded (code drives the searches, the model reads; default: SLEUTH_ASK_STRATEGY) or asp "
        "(the model's own search-tag loop).",
    ),
    variant: str = typer.Option(
        "always",
        "--variant",
        help="asp strategy only: always (search before answering), free (search when needed), closed (no search).",
    ),
    prompts: str = typer.Option(None, "--prompts", help="Prompt set: defaults, minimal, or a directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    web: str = typer.Option(None, "--web", help=WEB_HELP),
) -> None:
    """Search the collection in a few turns and answer in a few words, citing the passages used."""
    if not question.strip():
        fail("the question is empty")
    if variant not in VARIANTS:
        fail(f"unknown variant {variant!r}: use one of {', '.join(VARIANTS)}")
    if strategy is not None and strategy not in STRATEGIES:
        fail(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if strategy == "grounded" and variant != "always":
        fail("--variant belongs to the asp strategy: add --strategy asp")
    result = run_async(_ask(question, collection, strategy, variant, prompts, live=not as_json, web=web))
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        _print_result(result)
    if result.finish in UNANSWERED:
        # "No answer found." is printed for the reader, but a script must not take it for an answer
        # (like `index add` when every file failed: the report, then exit 1).
        err_console.print(f"[yellow]no answer:[/] {UNANSWERED[result.finish]}", highlight=False)
        raise SystemExit(1)


async def _ask(
    question: str,
    collection: str | None,
    strategy: str | None,
    variant: str,
    prompts: str | None,
    *,
    live: bool,
    web: str | None = None,
) -> AskResult:
    from sleuth.agents.events import EventLog
    from sleuth.api import Sleuth
    from sleuth.prompts.sets import load_prompt_set
    from sleuth.retrieval.index import CollectionError
    from sleuth.retrieval.web.sources import web_mode

    current = settings()
    try:
        prompt_set = load_prompt_set(prompts)
        mode = web_mode(current, web)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    # Fail in a second on a dead URL, before indexing or opening the collection.
    await _check_reachable(current)
    name = collection or current.collection
    if mode != "web":  # the web alone needs no collection
        index_demo_if_missing(current, name)
    events = EventLog(_live_printer() if live else None)
    try:
        async with Sleuth.open(current, collection=name, prompts=prompt_set, worker=True) as sleuth:
            with err_console.status("asking…"):
                answer = await sleuth.ask(
                    question,
                    collection=name,
                    strategy=strategy,  # type: ignore[arg-type]  # checked in `ask`
                    variant=variant,  # type: ignore[arg-type]
                    events=events,
                    web=mode,
                )
            worker_note(sleuth.worker)
            return answer
    except (CollectionError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))


async def _check_reachable(current: Settings) -> None:
    """Fail when a server the ask roles are routed to does not answer (the embedded model is started later)."""
    import httpx

    from sleuth.llm.roles import role_routes

    routes = role_routes(current)
    servers = {
        (r.base_url.rstrip("/"), r.api_key) for role, r in routes.items() if role in ASK_ROLES and r.base_url
    }
    for url, key in sorted(servers):
        setting = (
            "SLEUTH_LLM_BASE_URL" if url == (current.llm_base_url or "").rstrip("/") else "SLEUTH_ROLE_MODELS"
        )
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(current.llm_connect_timeout_s)) as client:
                await client.get(f"{url}/models", headers={"Authorization": f"Bearer {key}"})
        except httpx.TransportError as exc:
            fail(f"cannot reach the LLM at {url} ({type(exc).__name__}: {exc}); start it or fix {setting}")


def _live_printer():  # type: ignore[no-untyped-def]
    def show(event: Event) -> None:
        line = describe(event)
        if line:
            err_console.print(line, highlight=False)

    return show


def describe(event: Event) -> str:
    """One line of the live view for an ask event ("" for events not worth a line)."""
    data = event.data
    if event.type == "node_started" and event.node == "ask":
        return f"[cyan]▶ ask[/] ({data.get('strategy') or data.get('variant')})"
    if event.type == "node_finished" and event.node == "reader":
        missing = f", still missing “{plain(data.get('next_search'))}”" if data.get("next_search") else ""
        return f"  [green]read[/] answer “{plain(data.get('answer'))}”{missing}"
    if event.type == "node_finished" and event.node == "decide":
        return f"  [green]decided[/] “{plain(data.get('answer'))}” by {plain(data.get('reason'))}"
    if event.type == "search":
        return f"  [blue]search[/] “{plain(data.get('query'))}” → {len(data.get('hit_ids', []))} hits"
    if event.type == "node_finished" and event.node == "summarizer":
        return f"  [green]information[/] {plain(data.get('summary'))}"
    if event.type == "patches":
        return corrections_line(data)
    if event.type == "warning":
        return f"  [yellow]warning[/] {plain(data.get('message'))}"
    return ""


def _print_result(result: AskResult) -> None:
    sources = ((n, c.title, c.url or c.passage_id, c.quote) for n, c in enumerate(result.citations, start=1))
    print_answer(f"[bold]{plain(result.answer)}[/]", sources)
    how = "grounded" if result.strategy == "grounded" else f"asp {result.variant}"
    steps = "reading(s)" if result.strategy == "grounded" else "turn(s)"
    console.print(
        f"[dim]{how} · {len(result.search_calls)} search(es) · {result.turns} {steps} · "
        f"{total_tokens(result.usage)} tokens · {cost_line(result.cost_usd)} · {result.latency_s:.1f}s · "
        f"prompts {result.prompt_set_hash}[/]"
    )
