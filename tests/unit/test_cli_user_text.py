"""User text on the terminal: file names, passages, titles, questions, ids and error messages print as
they are, never read as rich markup (`[/]` used to crash the command) or as terminal escapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.commands.common import plain, printable
from sleuth.retrieval.base import Passage
from sleuth.testing import HashEmbedder, ScriptedLLM, StaticRetriever, grounded_llm, hostile_passages, override

runner = CliRunner()
MARKUP = "[/][red]x[/red]"
"""Closes a tag that was never opened (MarkupError), then a tag rich would silently eat."""
ESCAPE = "\x1b[2J\x1b]0;pwned\x07"
"""Clear the screen, then set the terminal title: must never reach the terminal raw."""


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Table cells hold each text on one line, so the test can look for it whole."""
    from sleuth.commands import common

    for console in (common.console, common.err_console):
        monkeypatch.setattr(console, "width", 200)


@pytest.fixture(autouse=True)
def _hash_embedder() -> Iterator[None]:
    with override(embedder=HashEmbedder()):
        yield


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def assert_shown_plainly(output: str, *texts: str) -> None:
    assert "Traceback" not in output and "\x1b" not in output and "\x07" not in output
    for text in texts:
        assert text in output, f"{text!r} not shown in:\n{output}"


def test_printable_escapes_control_characters_and_keeps_ordinary_text() -> None:
    assert printable("a\tb\nc [/] é") == "a\tb\nc [/] é"
    assert printable(ESCAPE) == "\\x1b[2J\\x1b]0;pwned\\x07"
    assert printable("bad\udcffname") == "bad\\xffname"  # an undecodable byte of a file name
    assert printable("\u202eevil") == "\\u202eevil"  # a bidi override would reorder what follows
    assert plain(3) == "3"


@pytest.mark.parametrize("text", ["[/]", "[bold]x", "ends in a backslash \\", "a\\[b]", "[[x]]", "x[@click=quit]"])
def test_plain_text_inside_markup_renders_as_written(text: str) -> None:
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    Console(file=out, width=200).print(f"[bold]{plain(text)}[/] and after")
    assert out.getvalue() == f"{text} and after\n"


def test_index_add_stats_search_and_delete_show_names_and_text_plainly(tmp_path: Path) -> None:
    # A file name cannot hold "/": the `[/]` is where a folder "odd[" meets its file "][red]x[/red].txt".
    odd = tmp_path / "odd[" / "][red]x.txt"
    odd.parent.mkdir()
    odd.write_text(f"Otters use rocks {MARKUP} as tools.", encoding="utf-8")
    evil = tmp_path / f"evil{ESCAPE}.txt"
    evil.write_text("The grey heron hunts fish.", encoding="utf-8")
    broken = odd.parent / "][red]bin.txt"
    broken.write_bytes(b"\x00\x01")

    code, out = invoke("index", "add", str(odd), str(evil), str(broken), "-c", "zoo")
    assert code == 0
    assert_shown_plainly(out, "odd[/][red]x.txt: 1 added", "evil\\x1b[2J\\x1b]0;pwned\\x07.txt", "odd[/][red]bin")

    code, out = invoke("index", "stats", "-c", "zoo")
    assert code == 0
    assert_shown_plainly(out, "odd[/][red]x.txt", "evil\\x1b[2J")

    code, out = invoke("search", "otters rocks", "-c", "zoo", "--mode", "bm25", "-k", "1")
    assert code == 0
    assert_shown_plainly(out, "][red]x", f"Otters use rocks {MARKUP} as tools.")

    code, out = invoke("index", "delete", "--source", str(odd), "-c", "zoo")
    assert code == 0
    assert_shown_plainly(out, "odd[/][red]x.txt")
    code, out = invoke("index", "delete", "--source", f"gone{MARKUP}", "-c", "zoo")
    assert code == 1
    assert_shown_plainly(out, f"no source 'gone{MARKUP}'")


def test_feedback_list_and_show_print_the_correction_as_given() -> None:
    code, out = invoke(
        "feedback", "add", "-q", f"What is {MARKUP}?", "-a", f"A {MARKUP}", "-e", f"It is {ESCAPE}.", "--json"
    )
    assert code == 0
    patch_id = json.loads(out)["id"]

    code, out = invoke("feedback", "list")
    assert code == 0
    assert_shown_plainly(out, f"What is {MARKUP}?", f"A {MARKUP}")
    code, out = invoke("feedback", "show", patch_id)
    assert code == 0
    assert_shown_plainly(out, f"What is {MARKUP}?", "It is \\x1b[2J")
    code, out = invoke("feedback", "show", f"p{MARKUP}")
    assert code == 1
    assert_shown_plainly(out, f"p{MARKUP}")


PASSAGE = Passage("p-lilu[/]", f"Lilu is a {MARKUP} wind spirit.", f"Lilu {MARKUP}")


def test_ask_prints_question_answer_and_sources_plainly() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": [f"<search>What is {MARKUP}?</search>", f"<answer>a {MARKUP} wind spirit</answer>"],
            "summarizer": '{"sentences": [1]}',
        }
    )
    with override(llm=llm, retriever=StaticRetriever([PASSAGE])):
        code, out = invoke("ask", f"What is {MARKUP}?", "-c", "films", "--strategy", "asp")
    assert code == 0
    assert_shown_plainly(out, f"search “What is {MARKUP}?”", f"a {MARKUP} wind spirit", "p-lilu[/]")


def test_ask_over_the_hostile_corpus_prints_its_sources_plainly() -> None:
    llm = ScriptedLLM(
        by_agent={
            "ask": ["<search>What does the wren do?</search>", "<answer>The wren sings loudly</answer>"],
            "summarizer": '{"sentences": [1, 2, 3]}',
        }
    )
    with override(llm=llm, retriever=StaticRetriever(hostile_passages())):
        code, out = invoke("ask", "What does the wren do?", "-c", "zoo", "--strategy", "asp")
    assert code == 0
    assert_shown_plainly(out, "The wren sings loudly", "h-ansi", "Wren \\x1b[31mred")


def test_research_prints_question_evidence_and_sources_plainly() -> None:
    with override(llm=grounded_llm(), retriever=StaticRetriever([PASSAGE])):
        code, out = invoke("research", f"What is Lilu {MARKUP}?", "--max-rounds", "1")
    assert code == 0
    assert_shown_plainly(out, f"What is Lilu {MARKUP}?", f"evidence Lilu {MARKUP}", "(p-lilu[/])")


def test_an_error_message_is_printed_plainly(tmp_path: Path) -> None:
    code, out = invoke("prompts", "show", str(tmp_path / f"no{MARKUP}"))
    assert code == 1
    assert_shown_plainly(out, f"no{MARKUP}")
