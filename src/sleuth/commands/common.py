"""Helpers shared by the command modules: settings, the console, and clean error exits."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine, Iterable
from typing import Any, NoReturn, TypeVar

from rich.console import Console

from sleuth.config import Settings

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    return Settings()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a clear error (no traceback) and exit non-zero."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
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


def print_sources(sources: Iterable[tuple[int, str, str, str]]) -> None:
    """Print an answer's numbered sources: (n, title, passage id, quote) each, under a rule."""
    from rich.rule import Rule

    rows = list(sources)
    if not rows:
        return
    console.print(Rule("sources"))
    for n, title, passage_id, quote in rows:
        console.print(f"[bold]\\[{n}][/] {title or passage_id} [dim]({passage_id})[/]: “{quote}”", highlight=False)
