"""`sleuth research --form report` in the terminal: the plan is shown, edited in $EDITOR or approved later with
`--resume RUN_ID --approve --plan FILE` by another process, and the edited plan is the one that runs."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.testing import PASSAGES, StaticRetriever, grounded_llm, override

runner = CliRunner()
QUESTION = "What is Lilu?"
EDITED = {
    "title": "Lilu, edited",
    "sections": [
        {"heading": "Demons", "questions": ["Alû demon Akkadian mythology"]},
        {"heading": "Films", "questions": ["Jaws film Spielberg"]},
    ],
}


def research(*args: str, input: str | None = None) -> tuple[int, str]:
    with override(llm=grounded_llm(), retriever=StaticRetriever(PASSAGES)):
        result = runner.invoke(app, ["research", *args], input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split()) if "--json" not in args else result.output


def test_a_paused_plan_is_approved_with_an_edited_plan_by_a_later_process(tmp_path: Path) -> None:
    code, out = research(QUESTION, "--form", "report", "--approve-plan", "--json")
    assert code == 0, out
    paused = json.loads(out)
    assert paused["status"] == "awaiting_approval" and paused["report"] is None
    assert [s["heading"] for s in paused["outline"]["sections"]] == ["Overview", "Details", "Other accounts"]
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(EDITED), encoding="utf-8")
    # A separate invocation: the pause lives in the checkpoint store, not in this process.
    code, out = research("--resume", paused["run_id"], "--approve", "--plan", str(plan), "--json")
    assert code == 0, out
    done = json.loads(out)
    assert done["status"] == "answered" and done["report"]["title"] == "Lilu, edited"
    assert [s["heading"] for s in done["report"]["sections"]] == ["Demons", "Films"]
    queries = [c["query"] for c in done["search_calls"]]
    assert "Alû demon Akkadian mythology" in queries and "What is Lilu details" not in queries
    assert "# Lilu, edited" in done["answer"] and "## Sources" in done["answer"]


def test_a_broken_plan_file_is_refused_before_anything_runs(tmp_path: Path) -> None:
    code, out = research(QUESTION, "--form", "report", "--approve-plan", "--json")
    run_id = json.loads(out)["run_id"]
    bad = tmp_path / "plan.yaml"
    bad.write_text("title: t\nsections: []\n", encoding="utf-8")
    code, out = research("--resume", run_id, "--approve", "--plan", str(bad))
    assert code != 0 and "not a valid report plan" in out
    code, out = research("--resume", run_id, "--json")  # still paused: nothing was lost
    assert json.loads(out)["status"] == "awaiting_approval"


@pytest.mark.skipif(sys.platform == "win32", reason="a shell-script editor")
def test_the_plan_is_edited_in_the_editor_and_the_edit_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "edited.yaml"
    source.write_text(yaml.safe_dump(EDITED), encoding="utf-8")
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\ncp "{source}" "$1"\n', encoding="utf-8")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.setenv("VISUAL", str(editor))
    code, out = research(QUESTION, "--form", "report", "--approve-plan", input="e\n")
    assert code == 0, out
    assert "Plan:" in out and "Overview" in out  # the drafted plan was shown first
    assert "Lilu, edited" in out and "Demons" in out and "Sources" in out
    assert "Details" not in out.split("Lilu, edited", 1)[1]


def test_no_keeps_the_run_paused_and_says_how_to_continue() -> None:
    code, out = research(QUESTION, "--form", "report", "--approve-plan", input="n\n")
    assert code == 0 and "--resume" in out and "--approve" in out


def test_report_options_are_checked() -> None:
    code, out = research(QUESTION, "--form", "essay")
    assert code != 0 and "--form must be one of" in out
    code, out = research(QUESTION, "--approve-plan")
    assert code != 0 and "report form" in out
    code, out = research(QUESTION, "--approve")
    assert code != 0 and "--resume" in out
    assert os.environ.get("SLEUTH_HOME")  # the conftest isolates the checkpoint store


def test_sleuth_demo_runs_the_research_command_with_its_defaults() -> None:
    # `demo` calls the research command as a Python function: every option must have a real default there.
    from sleuth.testing import HashEmbedder

    with override(llm=grounded_llm(), retriever=StaticRetriever(PASSAGES), embedder=HashEmbedder()):
        result = runner.invoke(app, ["demo", "--question", "What is Lilu?"])
    assert result.exit_code == 0, result.output
    assert "[1]" in result.output and "demo finished" in result.output
