"""`sleuth ask`: JSON output a script can rely on, clean errors, and a fast failure on a dead LLM URL."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from sleuth.commands import ask as ask_cmd
from sleuth.retrieval.base import Passage
from sleuth.testing import ScriptedLLM, StaticRetriever, override

runner = CliRunner()


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # keeps `ask` a sub-command, as in the real CLI
        pass

    ask_cmd.register(app)
    return app


@pytest.fixture
def scripted() -> Iterator[ScriptedLLM]:
    llm = ScriptedLLM(
        by_agent={
            "ask": ["<search>Who directed the film Jaws?</search>", "<answer>Steven Spielberg</answer>"],
            "summarizer": '{"sentences": [1]}',
        }
    )
    passages = [Passage("p-jaws", "Jaws is a 1975 film directed by Steven Spielberg.", "Jaws")]
    with override(llm=llm, retriever=StaticRetriever(passages)):
        yield llm


def test_default_grounded_strategy_answers_from_the_passages(scripted: ScriptedLLM) -> None:
    del scripted._by_agent["ask"]  # the grounded strategy's readings are chosen by their schema
    scripted._by_schema = {"Reading": deque([{"answer": "Steven Spielberg", "next_search": ""}])}
    result = runner.invoke(make_app(), ["ask", "Who directed Jaws?", "--collection", "films", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == "Steven Spielberg" and data["strategy"] == "grounded"
    assert data["citations"][0]["passage_id"] == "p-jaws"
    assert data["search_calls"][0]["query"] == "Who directed Jaws?"  # the question itself comes first
    assert [c.schema_name for c in scripted.calls] == ["Reading"]


def test_json_output_has_answer_citations_and_searches(scripted: ScriptedLLM) -> None:
    result = runner.invoke(
        make_app(), ["ask", "Who directed Jaws?", "--collection", "films", "--strategy", "asp", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == "Steven Spielberg" and data["strategy"] == "asp"
    assert data["citations"][0]["passage_id"] == "p-jaws"
    assert "Steven Spielberg" in data["citations"][0]["quote"]
    assert data["search_calls"][0]["query"] == "Who directed the film Jaws?"


def test_closed_variant_from_the_command_line(scripted: ScriptedLLM) -> None:
    scripted._by_agent["ask"].clear()
    scripted._by_agent["ask"].append("<answer>Spielberg</answer>")
    result = runner.invoke(
        make_app(),
        ["ask", "Who directed Jaws?", "-c", "films", "--strategy", "asp", "--variant", "closed", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["search_calls"] == [] and data["variant"] == "closed"


def test_bad_variant_and_empty_question_fail_cleanly() -> None:
    bad = runner.invoke(make_app(), ["ask", "q?", "--variant", "sometimes"])
    assert bad.exit_code != 0 and "unknown variant" in bad.output
    strategy = runner.invoke(make_app(), ["ask", "q?", "--strategy", "guess"])
    assert strategy.exit_code != 0 and "unknown strategy" in strategy.output
    mixed = runner.invoke(make_app(), ["ask", "q?", "--strategy", "grounded", "--variant", "closed"])
    assert mixed.exit_code != 0 and "asp strategy" in mixed.output
    empty = runner.invoke(make_app(), ["ask", "  "])
    assert empty.exit_code != 0 and "empty" in empty.output


@pytest.mark.allow_llm
def test_unreachable_llm_fails_fast_naming_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEUTH_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("SLEUTH_LLM_MAX_RETRIES", "0")
    started = time.perf_counter()
    result = runner.invoke(make_app(), ["ask", "Who directed Jaws?", "--json"])
    assert result.exit_code != 0
    assert "http://127.0.0.1:9/v1" in result.output
    assert "Traceback" not in result.output
    assert result.stdout.strip() == ""  # --json promises JSON or nothing on stdout
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(
    "reply",
    ["I think the answer is probably 42.", "<search>Who directed Jaws?</search>", ""],
    ids=["untagged-guess", "never-answers", "empty-reply"],
)
def test_asp_without_a_grounded_answer_exits_non_zero(scripted: ScriptedLLM, reply: str) -> None:
    scripted._by_agent["ask"] = deque([reply])
    as_json = runner.invoke(
        make_app(), ["ask", "Who directed Jaws?", "-c", "films", "--strategy", "asp", "--json"]
    )
    assert as_json.exit_code == 1, as_json.output
    data = json.loads(as_json.stdout)  # the result is still printed, for a script to read why
    assert data["answer"] == "No answer found." and data["finish"] in ("refused", "fallback")
    assert data["citations"] == []
    shown = runner.invoke(make_app(), ["ask", "Who directed Jaws?", "-c", "films", "--strategy", "asp"])
    assert shown.exit_code == 1 and "No answer found." in shown.stdout
    assert "42" not in shown.stdout and "Traceback" not in shown.output


@pytest.mark.parametrize(
    "reading",
    [{"answer": "Alfred Hitchcock", "next_search": ""}, "", "{not json"],
    ids=["guess", "empty", "not-json"],
)
def test_a_refused_grounded_answer_exits_non_zero(scripted: ScriptedLLM, reading: object) -> None:
    del scripted._by_agent["ask"]
    scripted._by_schema = {"Reading": deque([reading]), "FinalReading": deque([reading])}
    result = runner.invoke(make_app(), ["ask", "Who directed Jaws?", "--collection", "films", "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert (data["answer"], data["finish"], data["citations"]) == ("No answer found.", "refused", [])
