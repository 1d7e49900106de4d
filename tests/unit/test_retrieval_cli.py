"""CLI: index add/stats/delete, search and eval retrieval (with the hash embedder instead of MiniLM)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.testing import HashEmbedder, override

runner = CliRunner()

DOCS = [
    {"id": "otter", "title": "Sea otter", "text": "Sea otters use rocks as tools to open shellfish."},
    {"id": "heron", "title": "Grey heron", "text": "The grey heron hunts fish in shallow water."},
    {"id": "paris", "title": "Paris", "text": "Paris is the capital of France, on the river Seine."},
]


@pytest.fixture(autouse=True)
def _hash_embedder() -> Iterator[None]:
    with override(embedder=HashEmbedder()):
        yield


def _corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    return path


def test_add_stats_search_delete(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    (tmp_path / "empty.txt").write_text("")
    result = runner.invoke(app, ["index", "add", str(corpus), str(tmp_path / "empty.txt"), "-c", "zoo"])
    assert result.exit_code == 0, result.output
    assert "3 added" in result.output and "empty file" in result.output

    stats = runner.invoke(app, ["index", "stats", "-c", "zoo", "--json"])
    info = json.loads(stats.stdout)
    assert info["passages"] == 3 and info["files"][0]["source"] == str(corpus.resolve())

    for mode in ("bm25", "dense", "hybrid"):
        found = runner.invoke(
            app, ["search", "the grey heron hunts fish", "--mode", mode, "-k", "2", "-c", "zoo", "--json"]
        )
        assert found.exit_code == 0, found.output
        hits = json.loads(found.stdout)
        assert 1 <= len(hits) <= 2 and hits[0]["id"] == "heron", mode

    gone = runner.invoke(app, ["index", "delete", "--source", str(corpus), "-c", "zoo"])
    assert gone.exit_code == 0 and "removed 3" in gone.output
    again = runner.invoke(app, ["index", "delete", "--source", str(corpus), "-c", "zoo"])
    assert again.exit_code != 0 and "no source" in again.output


def test_search_errors_are_clear(tmp_path: Path) -> None:
    empty = runner.invoke(app, ["search", "anything", "-c", "nothing-here"])
    assert empty.exit_code != 0 and "is empty" in empty.output
    runner.invoke(app, ["index", "add", str(_corpus(tmp_path)), "-c", "zoo"])
    bad_mode = runner.invoke(app, ["search", "x", "--mode", "magic", "-c", "zoo"])
    assert bad_mode.exit_code != 0 and "unknown mode" in bad_mode.output
    bad_filter = runner.invoke(app, ["search", "x", "-c", "zoo", "--where", '{"kind": {"$near": 1}}'])
    assert bad_filter.exit_code != 0 and "unknown comparison" in bad_filter.output
    assert "Traceback" not in bad_filter.output


def test_all_files_bad_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "bin.txt").write_bytes(b"\x00\x00")
    result = runner.invoke(app, ["index", "add", str(tmp_path / "bin.txt")])
    assert result.exit_code == 1 and "binary file" in result.output


def test_a_symlink_loop_named_on_the_command_line_is_only_that_files_error(tmp_path: Path) -> None:
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    result = runner.invoke(app, ["index", "add", str(loop), str(_corpus(tmp_path)), "-c", "zoo"])
    assert result.exit_code == 0, result.output
    assert "loop.txt: symlink loop" in result.output and "3 added" in result.output


def test_eval_retrieval_shared_layout_json(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps(
            {"id": "q1", "question": "Which bird hunts fish in shallow water?", "gold_passage_ids": ["heron"]}
        )
        + "\n"
        + json.dumps({"id": "q2", "question": "capital of France", "gold_passage_ids": ["paris", "otter"]})
        + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        [
            "eval",
            "retrieval",
            "--questions",
            str(questions),
            "--corpus",
            str(corpus),
            "--mode",
            "bm25",
            "--mode",
            "hybrid",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert set(scores) == {"bm25", "hybrid"}
    assert scores["bm25"]["recall@1"] == pytest.approx((1 + 0.5) / 2)
    assert scores["bm25"]["all_gold@1"] == pytest.approx(0.5)
    assert {"recall@10", "ndcg@10", "mrr@10", "all_gold@10"} <= set(scores["hybrid"])


def test_eval_retrieval_beir_layout(tmp_path: Path) -> None:
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d["id"], "title": d["title"], "text": d["text"]}) + "\n" for d in DOCS)
    )
    (beir / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "sea otters rocks tools"})
        + "\n"
        + json.dumps({"_id": "q9", "text": "not judged"})
        + "\n"
    )
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\totter\t1\n")
    result = runner.invoke(app, ["eval", "retrieval", "--beir", str(beir), "--mode", "bm25", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)["bm25"]
    assert scores["queries"] == 1 and scores["ndcg@10"] == 1.0 and scores["mrr@10"] == 1.0
    missing = runner.invoke(app, ["eval", "retrieval", "--beir", str(tmp_path)])
    assert missing.exit_code != 0 and "not a BEIR folder" in missing.output


def test_search_builds_the_demo_collection_on_first_use() -> None:
    result = runner.invoke(app, ["search", "Who designed Dragon Dice?", "--mode", "bm25", "-k", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["title"] == "Demon Dice"


def test_eval_retrieval_reports_cutoffs_past_the_default_depth(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": "heron fish", "gold_passage_ids": ["heron"]}) + "\n")
    base = ["eval", "retrieval", "--questions", str(questions), "--corpus", str(corpus), "-m", "bm25", "--json"]
    deep = runner.invoke(app, [*base, "--depth", "100"])
    assert deep.exit_code == 0, deep.output
    assert json.loads(deep.stdout)["bm25"]["recall@100"] == 1.0
    cutoffs = runner.invoke(app, [*base, "--k", "3", "--k", "50"])
    assert cutoffs.exit_code == 0, cutoffs.output
    assert {"recall@3", "recall@50", "all_gold@50"} <= set(json.loads(cutoffs.stdout)["bm25"])
    shallow = runner.invoke(app, [*base, "--k", "50", "--depth", "10"])
    assert shallow.exit_code != 0 and "--depth" in shallow.output


def test_delete_of_a_source_that_shares_all_its_passages(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(corpus.read_bytes())
    assert runner.invoke(app, ["index", "add", str(corpus), str(copy), "-c", "twins"]).exit_code == 0
    first = runner.invoke(app, ["index", "delete", "-s", str(corpus), "-c", "twins"])
    assert first.exit_code == 0, first.output
    assert "no source" not in first.output and "other sources" in first.output
    stats = json.loads(runner.invoke(app, ["index", "stats", "-c", "twins", "--json"]).stdout)
    assert (stats["sources"], stats["passages"]) == (1, 3)
    assert runner.invoke(app, ["index", "delete", "-s", str(copy), "-c", "twins"]).exit_code == 0
    again = runner.invoke(app, ["index", "delete", "-s", str(copy), "-c", "twins"])
    assert again.exit_code != 0 and "no source" in again.output


def test_add_says_a_long_record_was_chunked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLEUTH_MAX_RECORD_CHARS", "2000")
    corpus = tmp_path / "long.jsonl"
    corpus.write_text(json.dumps({"id": "long", "text": "A sentence about otters. " * 200}) + "\n")
    result = runner.invoke(app, ["index", "add", str(corpus), "-c", "long"])
    assert result.exit_code == 0, result.output
    assert "record 'long' (4,999 characters) split into 5 passages" in result.output
