"""CLI of the LLM layer: vllm command building without vllm, config show, unreachable URL."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.llm import vllm

runner = CliRunner()


def test_vllm_command_is_built_with_passthrough_args() -> None:
    argv = vllm.build_vllm_command(
        "Qwen/Qwen2.5-7B-Instruct", port=8010, extra_args=["-tp", "2"], executable="/opt/bin/vllm"
    )
    assert argv == [
        "/opt/bin/vllm",
        "serve",
        "Qwen/Qwen2.5-7B-Instruct",
        "--host",
        "127.0.0.1",
        "--port",
        "8010",
        "-tp",
        "2",
    ]


def test_vllm_command_falls_back_to_module_when_no_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm.shutil, "which", lambda name: None)
    argv = vllm.build_vllm_command("m")
    assert argv[:4] == [sys.executable, "-m", "vllm.entrypoints.cli.main", "serve"]


def test_serve_vllm_without_vllm_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm, "vllm_available", lambda: False)
    result = runner.invoke(app, ["llm", "serve", "--backend", "vllm", "--model", "m", "--", "-tp", "2"])
    assert result.exit_code != 0
    assert "pip install vllm" in result.output


def test_config_show_reflects_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SLEUTH_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("SLEUTH_PATCH_LAMBDA", "0.7")
    monkeypatch.setenv("SLEUTH_LLM_API_KEY", "secret")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    values = json.loads(result.output)
    assert values["home"] == str(tmp_path / "h") and values["patch_lambda"] == 0.7
    assert values["llm_api_key"] == "***"


def test_config_show_hides_every_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEUTH_REFLECTION_API_KEY", "sk-reflect-secret")
    monkeypatch.setenv("SLEUTH_SERVER_TOKEN", "slt_search-secret")
    as_json = runner.invoke(app, ["config", "show", "--json"])
    table = runner.invoke(app, ["config", "show"])
    assert json.loads(as_json.output)["reflection_api_key"] == "***"
    assert json.loads(as_json.output)["server_token"] == "***"
    assert json.loads(as_json.output)["llm_api_key"] == "sk-no-key"  # the placeholder is no secret
    assert "sk-reflect-secret" not in as_json.output + table.output
    assert "slt_search-secret" not in as_json.output + table.output


@pytest.mark.allow_llm
def test_llm_status_against_unreachable_url_exits_nonzero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEUTH_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    result = runner.invoke(app, ["llm", "status", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["reachable"] is False and "127.0.0.1:9" in report["error"]
