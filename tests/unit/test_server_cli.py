"""`sleuth token create|list|revoke`: the secret is printed once, stored only as a hash, and revocable."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.config import Settings
from sleuth.server.auth import Role, TokenStore
from sleuth.server.db import ServerDB


def test_token_create_prints_the_secret_last_and_stores_only_its_hash() -> None:
    result = CliRunner().invoke(
        app, ["token", "create", "--role", "corrector", "--tenant", "acme", "--name", "ann"]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("slt_") and len(secret) > 30
    store = TokenStore(ServerDB.for_home(Settings().home))
    principal = store.authenticate(secret)
    assert principal is not None and principal.role is Role.corrector and principal.tenant == "acme"
    with sqlite3.connect(Settings().home / "server.sqlite") as conn:
        stored = conn.execute("SELECT hash FROM tokens").fetchall()
        dump = "\n".join(conn.iterdump())
    assert stored == [(hashlib.sha256(secret.encode()).hexdigest(),)]
    assert secret not in dump

    listed = CliRunner().invoke(app, ["token", "list", "--json"])
    tokens = json.loads(listed.stdout)
    assert [(t["role"], t["tenant"], t["name"]) for t in tokens] == [("corrector", "acme", "ann")]
    assert secret not in listed.stdout

    revoked = CliRunner().invoke(app, ["token", "revoke", tokens[0]["id"]])
    assert revoked.exit_code == 0
    assert store.authenticate(secret) is None
    again = CliRunner().invoke(app, ["token", "revoke", tokens[0]["id"]])
    assert again.exit_code != 0 and "no live token" in again.output


def test_token_create_refuses_an_unknown_role_and_defaults_tenants() -> None:
    bad = CliRunner().invoke(app, ["token", "create", "--role", "root"])
    assert bad.exit_code != 0 and "unknown role" in bad.output
    reader = CliRunner().invoke(app, ["token", "create", "--role", "reader"]).stdout.strip().splitlines()[-1]
    admin = CliRunner().invoke(app, ["token", "create", "--role", "admin"]).stdout.strip().splitlines()[-1]
    store = TokenStore(ServerDB.for_home(Settings().home))
    assert store.authenticate(reader).tenant == "default"  # never silently every tenant
    assert store.authenticate(admin).tenant is None


def test_the_access_log_hides_the_token_however_its_name_is_spelled() -> None:
    import logging

    from starlette.datastructures import QueryParams

    from sleuth.server.access_log import RedactTokens

    for query in (
        "token=SECRET",
        "%74oken=SECRET",
        "to%6Ben=SECRET&after=2",
        "after=1&tok%65n=SECRET",
        "tok%65n=S%45CRET",
    ):
        assert QueryParams(query).get("token") == "SECRET"  # the server reads each one as the token
        args = ("127.0.0.1:5000", "GET", f"/v1/jobs/r1/events?{query}", "1.1", 200)
        record = logging.LogRecord(
            "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
        )
        assert RedactTokens().filter(record)
        line = record.getMessage()
        assert "SECRET" not in line and "S%45CRET" not in line and "/v1/jobs/r1/events?" in line, line
        assert ("after=" in line) == ("after=" in query)
    untouched = "/v1/jobs?tokens=1&limit=5"  # only the parameter the server reads as the token
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "%s", (untouched,), None)
    RedactTokens().filter(record)
    assert record.getMessage() == untouched


def test_serve_fake_llm_keeps_runs_in_sqlite_so_a_paused_plan_outlives_a_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append(app))
    result = CliRunner().invoke(app, ["serve", "--fake-llm", "--port", "0"])
    assert result.exit_code == 0, result.output
    [server] = served
    assert server.state.sleuth.runner.sleuth.checkpoints == "sqlite"


def test_serve_loads_the_agents_and_freezes_them_out_of_garbage_collection_before_it_listens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    import uvicorn

    scanned_at_start: list[bool] = []

    def run(app: Any, **kwargs: Any) -> None:
        from sleuth.agents.research import run as research_run

        # gc.get_objects() lists what collections scan; frozen objects are not among them.
        scanned_at_start.append(any(o is research_run.run_research for o in gc.get_objects()))

    monkeypatch.setattr(uvicorn, "run", run)
    gc.unfreeze()
    try:
        result = CliRunner().invoke(app, ["serve", "--fake-llm", "--port", "0"])
    finally:
        gc.unfreeze()  # the rest of the test session collects as before
    assert result.exit_code == 0, result.output
    assert scanned_at_start == [False]
