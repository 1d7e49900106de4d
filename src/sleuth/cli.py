"""The `sleuth` command line: a thin typer shell over the Python API, one sub-app per command group."""

from __future__ import annotations

import typer

from sleuth.commands import config as config_cmd
from sleuth.commands import llm as llm_cmd

app = typer.Typer(
    name="sleuth",
    help="Deep-research assistants that search, do not guess, and learn from your corrections.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(llm_cmd.app, name="llm")


def _register_optional() -> None:
    """Attach the command groups of each sub-package (each module exposes `register(app)`)."""
    import importlib

    for module in ("index", "agents", "feedback", "prompts", "optimize", "evals", "server"):
        try:
            mod = importlib.import_module(f"sleuth.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"sleuth.commands.{module}":
                raise
            continue
        mod.register(app)


_register_optional()


def main() -> None:
    app()
