"""`sleuth feedback ...`: the commands a user runs to correct answers, with clean errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.testing import HashEmbedder, override

runner = CliRunner()
ADD = [
    "feedback",
    "add",
    "--query",
    "Who directed the film Jaws?",
    "--answer",
    "Steven Spielberg",
    "--evidence",
    "Jaws is a 1975 film directed by Steven Spielberg.",
]


@pytest.fixture(autouse=True)
def _hash_embedder() -> Iterator[None]:
    with override(embedder=HashEmbedder()):
        yield


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, " ".join(result.stderr.split())  # rich wraps long lines


def test_add_json_prints_the_stored_patch_and_show_finds_it() -> None:
    code, out, _ = run(*ADD, "--json")
    assert code == 0
    patch = json.loads(out)
    assert patch["id"].startswith("p") and patch["answer"] == "Steven Spielberg"
    assert patch["collection"] == "demo" and patch["status"] == "active"
    code, out, _ = run("feedback", "show", patch["id"], "--json")
    assert code == 0 and json.loads(out)["query"] == "Who directed the film Jaws?"


def test_list_retract_and_list_all() -> None:
    patch_id = json.loads(run(*ADD, "--json")[1])["id"]
    assert [p["id"] for p in json.loads(run("feedback", "list", "--json")[1])] == [patch_id]
    code, _, _ = run("feedback", "retract", patch_id, "--note", "wrong")
    assert code == 0
    assert json.loads(run("feedback", "list", "--json")[1]) == []
    everything = json.loads(run("feedback", "list", "--json", "--all")[1])
    assert [(p["id"], p["status"]) for p in everything] == [(patch_id, "retracted")]


def test_unknown_ids_and_bad_patches_fail_cleanly() -> None:
    for args in (["show", "nope"], ["retract", "nope"], ["supersede", "nope", "--answer", "x"]):
        code, out, err = run("feedback", *args)
        assert code != 0 and "no patch with id 'nope'" in err and "Traceback" not in out + err
    code, _, err = run("feedback", "add", "--query", "q", "--answer", " ", "--evidence", "e")
    assert code != 0 and "blank answer" in err
    assert json.loads(run("feedback", "list", "--json", "--all")[1]) == []


def test_conflicting_add_is_reported_and_supersede_resolves_it() -> None:
    old = json.loads(run(*ADD, "--json")[1])["id"]
    code, out, err = run(
        "feedback",
        "add",
        "--query",
        "Who directed the film Jaws?",
        "--answer",
        "George Lucas",
        "--evidence",
        "Lucas directed Jaws.",
    )
    assert code == 0 and f"conflicts with active patch {old}" in err
    new = json.loads(run("feedback", "list", "--json")[1])[-1]["id"]
    code, out, _ = run("feedback", "supersede", old, "--by", new, "--json")
    assert code == 0 and json.loads(out)["status"] == "superseded"
    code, out, _ = run("feedback", "supersede", new, "--answer", "Steven Spielberg", "--evidence", "x", "--json")
    replaced = json.loads(out)
    assert code == 0 and replaced["supersedes"] == new and replaced["query"] == "Who directed the film Jaws?"


def test_evidence_file_and_passage_ids(tmp_path: Path) -> None:
    evidence = tmp_path / "ev.txt"
    evidence.write_text("Spielberg directed Jaws (1975).", encoding="utf-8")
    code, out, _ = run(
        *ADD[:6], "--evidence-file", str(evidence), "--passage-id", "wiki#1", "--passage-id", "wiki#2", "--json"
    )
    patch = json.loads(out)
    assert patch["evidence"] == "Spielberg directed Jaws (1975)."
    assert patch["evidence_passage_ids"] == ["wiki#1", "wiki#2"]
    code, _, err = run(*ADD[:6], "--evidence-file", str(tmp_path / "missing.txt"))
    assert code != 0 and "cannot read evidence file" in err


def test_export_then_import_into_a_fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    patch_id = json.loads(run(*ADD, "--json")[1])["id"]
    dump = tmp_path / "patches.jsonl"
    assert run("feedback", "export", str(dump))[0] == 0
    monkeypatch.setenv("SLEUTH_HOME", str(tmp_path / "other-home"))
    code, out, _ = run("feedback", "import", str(dump), "--json")
    assert code == 0 and json.loads(out) == {"added": 1, "skipped": 0}
    assert json.loads(run("feedback", "show", patch_id, "--json")[1])["id"] == patch_id
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    code, _, err = run("feedback", "import", str(bad))
    assert code != 0 and "bad.jsonl:1: not JSON" in err


def test_import_of_a_binary_or_non_utf8_file_is_a_clean_error(tmp_path: Path) -> None:
    binary = tmp_path / "patches.sqlite.jsonl"
    binary.write_bytes(b"SQLite format 3\x00\x10\x00\x01\x01\xff\xfe")
    code, _, err = run("feedback", "import", str(binary))
    assert code == 1 and "patches.sqlite.jsonl" in err.replace(" ", "") and "binary" in err  # rich wraps
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"query": "caf\xe9"}\n'.encode("latin-1"))
    code, _, err = run("feedback", "import", str(latin))
    assert code == 1 and "latin.jsonl" in err.replace(" ", "") and "UTF-8" in err


def test_import_scopes_patches_to_the_importers_tenant_and_author(tmp_path: Path) -> None:
    dump = tmp_path / "patches.jsonl"
    line = {"id": "p0123456789ab", "query": "Who directed Jaws?", "answer": "Spielberg", "tenant": "victim"}
    dump.write_text(json.dumps({**line, "author": "admin"}) + "\n", encoding="utf-8")
    code, _, _ = run("feedback", "import", str(dump), "--tenant", "me", "--author", "ana")
    assert code == 0
    shown = json.loads(run("feedback", "show", "p0123456789ab", "--json")[1])
    assert (shown["tenant"], shown["author"], shown["flags"]) == ("me", "ana", ["no-evidence"])
