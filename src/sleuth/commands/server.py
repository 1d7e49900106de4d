"""`sleuth serve` (the HTTP API and web page) and `sleuth token create|list|revoke` (API tokens)."""

from __future__ import annotations

import importlib
import json
import logging

import typer

from sleuth.commands.common import console, fail, plain, settings
from sleuth.server.access_log import RedactTokens

token_app = typer.Typer(
    help="Create, list and revoke API tokens (stored hashed in the server database).", no_args_is_help=True
)

ROLES = ("reader", "corrector", "admin")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")


def serve(
    host: str = typer.Option(None, help="Interface to listen on (default: SLEUTH_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default: SLEUTH_PORT, 8000)."),
    fake_llm: bool = typer.Option(
        False,
        "--fake-llm",
        help="Answer with the built-in grounded fake model "
        "over a tiny collection (demos and UI work; no model needed).",
    ),
) -> None:
    """Run the HTTP API and web page: research/ask jobs with live progress, corrections, tokens."""
    import uvicorn

    from sleuth.heap import freeze_loaded
    from sleuth.server.app import create_app

    config = settings()
    app_kwargs = {}
    if fake_llm:
        from sleuth.feedback import open_patch_store
        from sleuth.testing import fake_sleuth

        # SQLite checkpoints: a report paused for plan approval can be approved after a restart.
        app_kwargs["sleuth"] = fake_sleuth(config, patches=open_patch_store(config), checkpoints="sqlite")
    app = create_app(config, **app_kwargs)
    host, port = host or config.host, port if port is not None else config.port
    console.print(
        f"sleuth API on http://{host}:{port}  (docs: /docs; MCP tools: /mcp; create a token: sleuth token create)"
    )
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    # The agents load now rather than in the app's start (where tests build apps): then the heap is frozen.
    importlib.import_module("sleuth.agents.research.run")
    freeze_loaded()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc}")


@token_app.command("create")
def create(
    role: str = typer.Option(..., help="reader (ask, research, read), corrector (+ corrections), admin (all)."),
    tenant: str = typer.Option(
        None, help="Tenant whose patches the token reads and writes (default: 'default'; admins: every tenant)."
    ),
    name: str = typer.Option("", help="A label shown in `token list` and recorded as the patch author."),
) -> None:
    """Create a token; its secret is printed once, as the last line (only a hash is stored)."""
    from sleuth.server.auth import Role, TokenStore
    from sleuth.server.db import ServerDB

    if role not in ROLES:
        fail(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if tenant is None and role != "admin":
        tenant = "default"
    info, secret = TokenStore(ServerDB.from_settings(settings())).create(Role(role), tenant=tenant, name=name)
    console.print(
        f"created token {info.id} (role {info.role.value}, tenant {plain(info.tenant or 'all')}). "
        "Keep the secret below; it cannot be shown again.",
        highlight=False,
    )
    print(secret)


@token_app.command("list")
def list_tokens(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List tokens (ids, roles, tenants; never secrets)."""
    from rich.table import Table

    from sleuth.server.auth import TokenStore
    from sleuth.server.db import ServerDB

    tokens = TokenStore(ServerDB.from_settings(settings())).list()
    if as_json:
        print(json.dumps([t.to_json() for t in tokens], indent=2))
        return
    table = Table("id", "role", "tenant", "name", "created", "revoked")
    for t in tokens:
        cells = (t.id, t.role.value, t.tenant or "(all)", t.name, t.created_at[:19], (t.revoked_at or "")[:19])
        table.add_row(*map(plain, cells))
    console.print(table)


@token_app.command("revoke")
def revoke(token_id: str = typer.Argument(..., help="The token's id (from `sleuth token list`).")) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from sleuth.server.auth import TokenStore
    from sleuth.server.db import ServerDB

    if not TokenStore(ServerDB.from_settings(settings())).revoke(token_id):
        fail(f"no live token with id {token_id!r} (see `sleuth token list`)")
    console.print(f"revoked {plain(token_id)}")
