"""A model per role: `SLEUTH_ROLE_MODELS` is validated, shown by `sleuth config show`, and routes each role's
calls to its own server (two fake OpenAI-compatible servers here), every run recording which model served
each role."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from sleuth.api import Sleuth
from sleuth.cli import app
from sleuth.config import Settings
from sleuth.llm.clients import connect
from sleuth.llm.roles import NO_KEY, role_routes
from sleuth.llm.router import RoleRouter
from sleuth.names import ROLES
from sleuth.testing import PASSAGES, FakeOpenAIServer, StaticRetriever, openai_body_reply, override

runner = CliRunner()


def schemas(server: FakeOpenAIServer) -> set[str]:
    """The output schemas a fake server was asked for ("" for free text)."""
    return {((b.get("response_format") or {}).get("json_schema") or {}).get("name", "") for b in server.requests}


def test_role_models_come_from_json_and_from_one_variable_per_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEUTH_LLM_BASE_URL", "http://main:1/v1")
    monkeypatch.setenv("SLEUTH_ROLE_MODELS", '{"writer": {"base_url": "http://big:2/v1", "model": "big"}}')
    monkeypatch.setenv("SLEUTH_ROLE_MODELS__WRITER__API_KEY", "sk-big")
    monkeypatch.setenv("SLEUTH_ROLE_MODELS__JUDGE__MODEL", "judge-model")
    routes = role_routes(Settings())
    assert (routes["writer"].base_url, routes["writer"].model, routes["writer"].api_key) == (
        "http://big:2/v1",
        "big",
        "sk-big",
    )
    assert (routes["judge"].base_url, routes["judge"].model) == ("http://main:1/v1", "judge-model")
    assert routes["reader"].model == "local" and routes["reader"].base_url == "http://main:1/v1"


def test_an_unknown_role_is_refused_with_the_list_of_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(role_models={"writr": {"base_url": "http://x/v1"}})
    message = str(caught.value)
    assert "unknown role(s) 'writr'" in message and ", ".join(ROLES) in message
    # The command line says the same, without a traceback.
    monkeypatch.setenv("SLEUTH_ROLE_MODELS", '{"writr": {"base_url": "http://x/v1"}}')
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "SLEUTH_ROLE_MODELS" in result.output and "section_writer" in result.output


def test_a_role_must_say_where_it_goes() -> None:
    with pytest.raises(ValidationError, match="neither base_url nor model"):
        Settings(llm_base_url="http://main/v1", role_models={"writer": {}})
    with pytest.raises(ValidationError, match="extra"):  # a misspelt field is not silently dropped
        Settings(llm_base_url="http://main/v1", role_models={"writer": {"url": "http://x/v1"}})
    # The embedded server serves the local model whatever name is asked: a named model needs a URL.
    with pytest.raises(ValidationError, match=r"embedded llama\.cpp server"):
        Settings(role_models={"writer": {"model": "gpt-big"}})


def test_the_default_key_is_sent_only_to_the_default_server() -> None:
    settings = Settings(
        llm_base_url="http://main/v1/",
        llm_api_key="sk-main",
        role_models={"writer": {"base_url": "http://other/v1", "model": "w"}, "judge": {"model": "j"}},
    )
    routes = role_routes(settings)
    assert routes["writer"].api_key == NO_KEY
    assert routes["judge"].api_key == "sk-main"  # same server, another model
    assert routes["orchestrator"] == routes["reader"]  # the default route


async def test_roles_on_one_server_and_model_share_one_client() -> None:
    settings = Settings(
        llm_base_url="http://main:1/v1",
        role_models={
            "writer": {"base_url": "http://big:2/v1", "model": "big"},
            "section_writer": {"base_url": "http://big:2/v1", "model": "big"},
            "planner": {"base_url": "http://main:1/v1", "model": "local"},  # the default, said again
        },
    )
    async with connect(settings) as llm:
        assert isinstance(llm, RoleRouter)
        assert llm.route("writer").llm is llm.route("section_writer").llm
        assert llm.route("planner") is llm.default and llm.route("reader") is llm.default
        assert llm.route("writer").llm is not llm.default.llm


def test_config_show_prints_each_roles_model_server_and_price_and_hides_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLEUTH_LLM_BASE_URL", "http://main:1/v1")
    monkeypatch.setenv(
        "SLEUTH_ROLE_MODELS",
        '{"writer": {"base_url": "http://big:2/v1", "model": "big", "api_key": "sk-big-secret"}}',
    )
    as_json = runner.invoke(app, ["config", "show", "--json"])
    table = runner.invoke(app, ["config", "show"])
    assert as_json.exit_code == 0 and table.exit_code == 0, as_json.output + table.output
    data = json.loads(as_json.output)
    assert data["routing"]["writer"] == {"model": "big", "server": "http://big:2/v1", "price": None}
    assert data["routing"]["reader"]["model"] == "local"
    assert data["routing"]["reader"]["price"] == {"input": 0.0, "output": 0.0}  # the shipped table
    assert data["role_models"]["writer"]["api_key"] == "***"
    assert "sk-big-secret" not in as_json.output + table.output
    assert "model per role" in table.output and "http://big:2/v1" in table.output
    assert "n/a (not in the price table)" in table.output


@pytest.mark.allow_llm  # the real client, against two local fake servers
async def test_the_writer_goes_to_its_server_and_every_other_role_to_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeOpenAIServer(openai_body_reply) as main, FakeOpenAIServer(openai_body_reply) as big:
        monkeypatch.setenv("SLEUTH_LLM_BASE_URL", main.base_url)
        monkeypatch.setenv("SLEUTH_LLM_MODEL", "small")
        monkeypatch.setenv("SLEUTH_MAX_ROUNDS", "1")
        monkeypatch.setenv(
            "SLEUTH_ROLE_MODELS", json.dumps({"writer": {"base_url": big.base_url, "model": "big"}})
        )
        with override(retriever=StaticRetriever(PASSAGES)):
            async with Sleuth.open(Settings()) as sleuth:
                report = await sleuth.research("What is Lilu?")
    assert report.status == "answered", report.answer
    assert schemas(big) == {"WriterOutput"} and {b["model"] for b in big.requests} == {"big"}
    assert "WriterOutput" not in schemas(main) and {"Plan", "ReaderOutput", "Reading"} <= schemas(main)
    assert {b["model"] for b in main.requests} == {"small"}
    # The run records which model served each role, per node and for the run.
    assert report.usage["writer"].models == {"writer": "big"}
    assert report.usage["direct"].models == {"ask": "small"}  # the grounded reading is the ask role
    assert report.usage["total"].models == {
        "orchestrator": "small",
        "reader": "small",
        "ask": "small",
        "writer": "big",
    }
    assert report.usage["writer"].calls == len(big.requests)
    assert report.model_dump(mode="json")["usage"]["writer"]["models"] == {"writer": "big"}


@pytest.mark.allow_llm
async def test_the_ask_loop_sends_its_summarizer_to_its_own_server() -> None:
    with FakeOpenAIServer(openai_body_reply) as main, FakeOpenAIServer(openai_body_reply) as other:
        settings = Settings(
            llm_base_url=main.base_url,
            role_models={"summarizer": {"base_url": other.base_url, "model": "summary-model"}},
        )
        with override(retriever=StaticRetriever(PASSAGES)):
            async with Sleuth.open(settings) as sleuth:
                result = await sleuth.ask("What is Lilu?", strategy="asp")
    last: list[Any] = [b["messages"][-1]["content"] for b in other.requests]
    assert other.requests and all("Search query:" in text for text in last)  # summariser calls only
    assert not any("Search query:" in b["messages"][-1]["content"] for b in main.requests)
    assert result.usage["summarizer"].models == {"summarizer": "summary-model"}
    assert result.usage["ask"].models == {"ask": "local"}
    assert result.usage["total"].models == {"ask": "local", "summarizer": "summary-model"}
