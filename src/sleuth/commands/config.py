"""`sleuth config`: show the effective settings, which model serves each role, and what it costs."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from sleuth.commands.common import console, fail, plain, settings
from sleuth.config import Settings

app = typer.Typer(help="Inspect settings (environment variables SLEUTH_*).", no_args_is_help=True)


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every setting with its effective value, then the model and price of each role."""
    current = settings()
    values = _masked(current.model_dump(mode="json"))
    routing = _routing(current)
    if as_json:
        print(json.dumps({**values, "routing": routing}, indent=2))
        return
    table = Table("setting", "env variable", "value")
    for key, value in values.items():
        table.add_row(key, f"SLEUTH_{key.upper()}", plain(value))
    console.print(table)
    roles = Table("role", "model", "server", "USD per M tokens in / out", title="model per role")
    for role, route in routing.items():
        price = route["price"]
        shown = "n/a (not in the price table)" if price is None else f"{price['input']:g} / {price['output']:g}"
        roles.add_row(role, plain(route["model"]), plain(route["server"]), shown)
    console.print(roles)


def _masked(values: dict[str, Any]) -> dict[str, Any]:
    """Every API key and token, the reflection model's and each role's too, and the database password: never
    printed."""
    for key, value in values.items():
        if key.endswith(("api_key", "_token")) and value not in (None, "sk-no-key"):
            values[key] = "***"
    if values.get("database_url"):
        from sleuth.database import redact_url

        values["database_url"] = redact_url(values["database_url"])
    for route in (values.get("role_models") or {}).values():
        if route.get("api_key") not in (None, "sk-no-key"):
            route["api_key"] = "***"
    return values


def _routing(current: Settings) -> dict[str, dict[str, Any]]:
    """Role -> the model that serves it, its server and its price (None: the price table does not name it)."""
    from sleuth.llm.pricing import PriceError, load_prices
    from sleuth.llm.roles import role_routes

    try:
        prices = load_prices(current.prices_path)
    except PriceError as exc:
        fail(str(exc))
    rows: dict[str, dict[str, Any]] = {}
    for role, route in role_routes(current).items():
        price = prices.price(route.model)
        rows[role] = {
            "model": route.model,
            "server": route.where,
            "price": None if price is None else price.model_dump(),
        }
    return rows
