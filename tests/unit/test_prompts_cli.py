"""`sleuth prompts show|diff|hash` over the built-in sets and saved directories."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.prompts.sets import load_builtin, load_prompt_set

runner = CliRunner()


def test_show_json_gives_every_role_and_the_hash_runs_record() -> None:
    result = runner.invoke(app, ["prompts", "show", "minimal", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    minimal = load_builtin("minimal")
    assert data["hash"] == minimal.hash
    assert data["prompts"] == minimal.prompts
    assert {"ask", "summarizer"} <= set(data["prompts"])


def test_show_one_role_and_a_missing_role() -> None:
    ok = runner.invoke(app, ["prompts", "show", "minimal", "--role", "ask", "--json"])
    assert list(json.loads(ok.stdout)["prompts"]) == ["ask"]
    bad = runner.invoke(app, ["prompts", "show", "minimal", "--role", "poet"])
    assert bad.exit_code == 1
    assert "no role 'poet'" in bad.output


def test_minimal_is_a_shorter_seed_than_defaults() -> None:
    minimal, defaults = load_builtin("minimal"), load_builtin("defaults")
    assert minimal.hash != defaults.hash
    for role in ("ask", "summarizer"):
        assert len(minimal[role]) < len(defaults[role])


def test_diff_names_the_changed_role_and_hash_matches_a_saved_directory(tmp_path: Path) -> None:
    changed = load_builtin("minimal").with_prompts({"ask": "Search twice, then answer."}, name="mine")
    changed.save(tmp_path / "mine")
    result = runner.invoke(app, ["prompts", "diff", "minimal", str(tmp_path / "mine"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["changed_roles"] == ["ask"]
    assert "+Search twice, then answer." in data["diff"]
    hashed = runner.invoke(app, ["prompts", "hash", str(tmp_path / "mine")])
    assert hashed.stdout.strip() == load_prompt_set(tmp_path / "mine").hash
    same = runner.invoke(app, ["prompts", "diff", "minimal", "minimal"])
    assert "identical" in same.stdout


def test_unknown_set_fails_cleanly() -> None:
    result = runner.invoke(app, ["prompts", "hash", "no-such-set"])
    assert result.exit_code == 1
    assert "neither a built-in set nor a directory" in result.output
    assert "Traceback" not in result.output
