"""The `sleuth` command line: a thin typer shell over the Python API, one sub-app per command group."""

from __future__ import annotations

import typer

from sleuth.commands import agents, ask, demo, evals, feedback, index, optimize, prompts, server, worker
from sleuth.commands import config as config_cmd
from sleuth.commands import llm as llm_cmd
from sleuth.commands import mcp as mcp_cmd

app = typer.Typer(
    name="sleuth",
    help="Deep-research assistants that search, do not guess, and learn from your corrections.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(llm_cmd.app, name="llm")
eval_app = typer.Typer(help="Measure answers, retrieval, citations and correction lag.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


# `register(app)` adds a module's top-level commands, `register_eval(eval_app)` its `sleuth eval ...` ones.
for module in (index, agents, ask, feedback, prompts, optimize, evals, server, mcp_cmd, demo, worker):
    if hasattr(module, "register"):
        module.register(app)
    if hasattr(module, "register_eval"):
        module.register_eval(eval_app)


def main() -> None:
    from sleuth.database import DatabaseError

    try:
        app()
    except DatabaseError as exc:  # any command that opens a store: an unreachable database is no traceback
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
