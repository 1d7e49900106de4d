"""Helpers shared by the command modules: settings, the console, user text made safe to print, and clean
error exits."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from rich.console import Console
from rich.markup import escape

from sleuth.config import Settings

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


# C0/C1 controls but tab and newline (ESC starts terminal escape sequences, CR and BS overwrite what was
# printed), bidi overrides and isolates (they reorder what follows), and lone surrogates (the undecodable
# bytes of a file name).
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _shown(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the raw byte the OS file name held
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object) -> str:
    """`text` with every character that would act on the terminal shown as an escape (`\\x1b`) instead.

    For user text rendered without markup (rich `Markdown`, `Syntax`); inside markup strings use `plain`.
    """
    return _UNPRINTABLE.sub(lambda match: _shown(match.group()), str(text))


def plain(text: object) -> str:
    """User text (a file name, passage, title, question, id, error message) to put in a rich markup string
    or table cell: shown exactly as written, never read as markup (`[/]` would raise) or terminal escapes."""
    return escape(printable(text))


WEB_HELP = (
    "web (search the web), mixed (the collection and the web) or off; default: SLEUTH_WEB_MODE when "
    "SLEUTH_WEB_SEARCH names a provider, else off."
)


def settings() -> Settings:
    """The settings from the environment, with tracing set up as they say (once per process); invalid ones end
    the command with pydantic's message, no traceback."""
    from pydantic import ValidationError

    from sleuth.tracing import setup_tracing

    try:
        current = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            (f"SLEUTH_{str(e['loc'][0]).upper()}: " if e["loc"] else "") + e["msg"] for e in exc.errors()
        )
        fail(f"invalid settings: {problems}")
    setup_tracing(current)
    return current


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a clear error (no traceback) and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {plain(message)}", highlight=False)
    raise SystemExit(code)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning known sleuth errors into clean exits."""
    from sleuth.llm.base import LLMError
    from sleuth.llm.weights import ModelWeightsError

    try:
        return asyncio.run(coro)
    except (LLMError, ModelWeightsError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


def progress_bar(*extra: ProgressColumn, transient: bool = False, disable: bool = False) -> Progress:
    """A progress bar on stderr: the task's description, the bar, done/total, time elapsed, then `extra`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *extra,
        console=err_console,
        transient=transient,
        disable=disable,
    )


@contextmanager
def indexing_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A passing bar on stderr while something is indexed; yields the `progress(done, total)` callback."""
    with progress_bar(transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total or None)


def worker_note(link: Any) -> None:
    """Say on stderr why the warm worker a command wanted was not used (it did not start), if so."""
    note = getattr(link, "note", None)
    if note:
        err_console.print(f"[dim]note: {plain(note)}[/]", highlight=False, soft_wrap=True)


def index_demo_if_missing(current: Settings, collection: str | None) -> None:
    """Build the bundled demo collection on first use, with a bar (its vectors ship with the package, so this
    is mostly the model's load), when `collection` (default: the configured one) is the demo and is not on
    disk yet, and no stand-in retriever (a test's) is searched instead."""
    from sleuth.retrieval.base import retriever_override

    if (collection or current.collection) != "demo" or (current.indexes_dir / "demo").is_dir():
        return
    if retriever_override.get() is not None:
        return
    from sleuth.feedback.api import lazy_embedder
    from sleuth.retrieval.demo import ensure_demo_collection
    from sleuth.retrieval.worker import WorkerLink

    link = WorkerLink(current)
    with indexing_progress("indexing the demo corpus") as progress:
        ensure_demo_collection(current, progress, embedder=lazy_embedder(link.embedder)).close()
    worker_note(link)


def corrections_line(data: dict[str, Any]) -> str:
    """The live views' line for the user corrections a run was shown."""
    return f"  [magenta]user corrections[/]: {plain(', '.join(data.get('ids', [])))}"


def total_tokens(usage: dict[str, Any]) -> int:
    """Prompt and completion tokens of a run, from its per-role usage (the `total` row)."""
    total = usage.get("total")
    return total.prompt_tokens + total.completion_tokens if total else 0


def cost_line(cost_usd: float | None) -> str:
    """A run's dollars for its footer: "$0.0070", "$0" for free models, "cost n/a" for an unpriced one."""
    from sleuth.llm.pricing import format_usd

    return "cost n/a" if cost_usd is None else format_usd(cost_usd)


def print_answer(answer: Any, sources: Iterable[tuple[int, str, str, str]]) -> None:
    """An answer (markup text or a rich renderable) under a rule, then its numbered sources."""
    from rich.rule import Rule

    console.print(Rule("answer"))
    console.print(answer, highlight=False)
    print_sources(sources)


def print_sources(sources: Iterable[tuple[int, str, str, str]]) -> None:
    """Print an answer's numbered sources: (n, title, passage id, quote) each, under a rule."""
    from rich.rule import Rule

    rows = list(sources)
    if not rows:
        return
    console.print(Rule("sources"))
    for n, title, passage_id, quote in rows:
        console.print(
            f"[bold]\\[{n}][/] {plain(title or passage_id)} [dim]({plain(passage_id)})[/]: “{plain(quote)}”",
            highlight=False,
        )
