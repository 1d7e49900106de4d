"""Loading eval datasets in the three layouts, slicing and seeded shuffles."""

import json
from pathlib import Path

import pytest

from sleuth.evals.datasets import DatasetError, load_dataset


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    d = tmp_path / "mini"
    _jsonl(
        d / "questions.jsonl",
        [
            {
                "id": f"q{i}",
                "question": f"Question {i}?",
                "answers": [f"a{i}", f"alias{i}"],
                "gold_passage_ids": [f"p{i}"],
                "type": "bridge",
            }
            for i in range(10)
        ],
    )
    _jsonl(d / "corpus.jsonl", [{"id": f"p{i}", "title": f"T{i}", "text": f"text {i}"} for i in range(10)])
    return d


def test_shared_layout_reads_questions_and_corpus(shared: Path):
    ds = load_dataset(shared)
    assert ds.name == "mini" and ds.layout == "shared" and len(ds.examples) == 10
    first = ds.examples[0]
    assert (first.id, first.answers, first.gold_passage_ids) == ("q0", ["a0", "alias0"], ["p0"])
    assert first.meta["type"] == "bridge"
    assert ds.passage_map({"p3"})["p3"].title == "T3"


def test_slicing_and_seeded_shuffle(shared: Path):
    assert [e.id for e in load_dataset(shared, offset=2, limit=3).examples] == ["q2", "q3", "q4"]
    a = [e.id for e in load_dataset(shared, seed=7, limit=5).examples]
    b = [e.id for e in load_dataset(shared, seed=7, limit=5).examples]
    c = [e.id for e in load_dataset(shared, seed=8, limit=5).examples]
    assert a == b and a != c and a != ["q0", "q1", "q2", "q3", "q4"]


def test_beir_layout_takes_gold_from_qrels(tmp_path: Path):
    d = tmp_path / "beir"
    _jsonl(d / "queries.jsonl", [{"_id": "1", "text": "what is x"}, {"_id": "2", "text": "no qrels"}])
    _jsonl(d / "corpus.jsonl", [{"_id": "d1", "title": "", "text": "x is y"}])
    (d / "qrels").mkdir()
    (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t0\n")
    ds = load_dataset(d)
    assert ds.layout == "beir"
    assert [(e.id, e.question, e.gold_passage_ids) for e in ds.examples] == [("1", "what is x", ["d1"])]
    assert next(ds.passages()).id == "d1"


def test_plain_jsonl_accepts_common_answer_fields(tmp_path: Path):
    f = _jsonl(
        tmp_path / "qs.jsonl", [{"query": "q?", "golden_answers": ["x"]}, {"question": "r?", "answer": "y"}]
    )
    ds = load_dataset(f)
    assert [(e.id, e.answers) for e in ds.examples] == [("line1", ["x"]), ("line2", ["y"])]
    assert ds.corpus_path is None and list(ds.passages()) == []


def test_rubric_fields(tmp_path: Path):
    f = _jsonl(
        tmp_path / "lf.jsonl",
        [
            {
                "question": "q",
                "ingredients": {"most_important": [{"criterion": "must say A"}], "nice_to_have": ["could say B"]},
            }
        ],
    )
    items = load_dataset(f).examples[0].rubric
    assert [(i.criterion, i.important) for i in items] == [("must say A", True), ("could say B", False)]


def test_bad_input_names_the_file_and_line(tmp_path: Path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"question": "ok?"}\n{not json\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl:2"):
        load_dataset(f)
    with pytest.raises(DatasetError, match="no such"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DatasetError, match=r"expected questions\.jsonl"):
        load_dataset(tmp_path / "empty_dir")
    _jsonl(tmp_path / "noq.jsonl", [{"answers": ["x"]}])
    with pytest.raises(DatasetError, match="non-empty 'question'"):
        load_dataset(tmp_path / "noq.jsonl")


def test_real_multihop_dev_layout():
    path = Path("/work/shared/data/multihop_dev")
    if not path.exists():
        pytest.skip("shared data not present")
    ds = load_dataset(path, limit=3)
    assert len(ds.examples) == 3 and all(e.answers and e.gold_passage_ids for e in ds.examples)
