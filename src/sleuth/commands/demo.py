"""`sleuth demo`: the newcomer's first run, a cited research answer on the bundled corpus."""

from __future__ import annotations

import time

import typer

from sleuth.commands.common import console, plain

DEMO_QUESTION = "Which band was formed first, The Exies or Circus Diablo?"
"""A two-hop comparison from the bundled HotpotQA slice: both bands' paragraphs are in the demo corpus."""


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    question: str = typer.Option(DEMO_QUESTION, "--question", "-q", help="Ask something else of the demo corpus."),
    max_rounds: int = typer.Option(2, "--max-rounds", min=1, help="Search rounds at most."),
) -> None:
    """Index the bundled demo corpus (first run) and answer one research question with citations."""
    from sleuth.commands.agents import research

    console.rule("[bold]sleuth demo")
    console.print(
        f"question: [bold]{plain(question)}[/]\ncorpus: bundled demo (396 Wikipedia paragraphs, HotpotQA/MuSiQue)\n"
        "model: embedded Qwen2.5-Coder-0.5B-Instruct on llama.cpp (unless SLEUTH_LLM_BASE_URL is set)\n"
    )
    start = time.perf_counter()
    research(question=question, collection="demo", prompts=None, as_json=False, resume=None, max_rounds=max_rounds)
    console.print(f"\n[dim]demo finished in {time.perf_counter() - start:.1f}s[/]")
