"""`sleuth config`: show the effective settings and where they came from."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from sleuth.commands.common import console, plain, settings

app = typer.Typer(help="Inspect settings (environment variables SLEUTH_*).", no_args_is_help=True)


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every setting with its effective value."""
    current = settings()
    values = current.model_dump(mode="json")
    for key, value in values.items():  # every API key and token, the reflection model's too: never printed
        if key.endswith(("api_key", "_token")) and value not in (None, "sk-no-key"):
            values[key] = "***"
    if as_json:
        print(json.dumps(values, indent=2))
        return
    table = Table("setting", "env variable", "value")
    for key, value in values.items():
        table.add_row(key, f"SLEUTH_{key.upper()}", plain(value))
    console.print(table)
