"""Collections: incremental, idempotent ingest, delete, search modes, filters, persistence, crash safety."""

import json
import os
from pathlib import Path

import pytest

from sleuth.config import Settings
from sleuth.retrieval.demo import ensure_demo_collection
from sleuth.retrieval.index import Collection, CollectionError, open_collection
from sleuth.testing import HashEmbedder

DOCS = [
    {
        "id": "otter",
        "title": "Sea otter",
        "text": "Sea otters use rocks as tools to open shellfish.",
        "kind": "animal",
    },
    {
        "id": "heron",
        "title": "Grey heron",
        "text": "The grey heron hunts fish in shallow water.",
        "kind": "animal",
    },
    {
        "id": "paris",
        "title": "Paris",
        "text": "Paris is the capital of France, on the river Seine.",
        "kind": "city",
    },
    {"id": "rome", "title": "Rome", "text": "Rome is the capital of Italy, built on seven hills.", "kind": "city"},
]


def _jsonl(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture
def collection() -> Collection:
    return open_collection(Settings(), "test", embedder=HashEmbedder())


def test_add_search_and_get(collection: Collection, tmp_path: Path) -> None:
    calls = []
    report = collection.add([_jsonl(tmp_path / "docs.jsonl", DOCS)], progress=lambda d, t: calls.append((d, t)))
    assert (report.added, report.skipped, report.errors) == (4, 0, [])
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)
    assert collection.count == 4
    for mode in ("bm25", "dense", "hybrid"):
        hits = collection.retriever(mode).search("which capital city is on the river Seine", 2)
        assert hits[0].passage.id == "paris", mode
        assert hits[0].passage.metadata == {"kind": "city"}
    otter = collection.get("otter")
    assert (
        otter is not None
        and otter.title == "Sea otter"
        and otter.source == str((tmp_path / "docs.jsonl").resolve())
    )
    assert collection.get("nope") is None


def test_re_adding_is_idempotent_and_a_changed_file_replaces_its_old_version(
    collection: Collection, tmp_path: Path
) -> None:
    path = _jsonl(tmp_path / "docs.jsonl", DOCS)
    collection.add([path])
    generation = collection.store.generation
    again = collection.add([path])
    assert (again.added, again.skipped) == (0, 4)
    assert collection.store.generation == generation  # nothing rebuilt
    _jsonl(path, [*DOCS[:3], {"id": "oslo", "title": "Oslo", "text": "Oslo is the capital of Norway."}])
    changed = collection.add([path])
    assert (changed.added, changed.files[0].removed, changed.skipped) == (1, 1, 3)
    assert collection.get("rome") is None and collection.count == 4
    for mode in ("bm25", "dense"):
        ids = [h.passage.id for h in collection.retriever(mode).search("capital of Italy seven hills", 4)]
        assert "rome" not in ids
    # a record whose text changed under the same id is updated, in BM25 and in the vectors
    _jsonl(path, [*DOCS[:2], {"id": "paris", "title": "Paris", "text": "Paris hosts the Louvre museum."}])
    report = collection.add([path])
    assert report.files[0].updated == 1
    assert collection.retriever("bm25").search("Louvre museum", 1)[0].passage.id == "paris"
    assert collection.retriever("dense").search("Louvre museum", 1)[0].passage.id == "paris"


def test_bad_files_are_reported_and_the_rest_is_indexed(collection: Collection, tmp_path: Path) -> None:
    good = _jsonl(tmp_path / "good.jsonl", DOCS)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "bad.txt").write_bytes("caf\xe9".encode("latin-1"))
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps({"id": "ok", "text": "a fine line"}) + "\n{broken\n", encoding="utf-8")
    report = collection.add([tmp_path / "empty.txt", good, tmp_path / "bad.txt", mixed])
    errors = {Path(f.source).name: f.error for f in report.errors}
    assert set(errors) == {"empty.txt", "bad.txt"}
    assert "UTF-8" in errors["bad.txt"]
    assert report.files[3].warnings == [
        "line 2: invalid JSON (Expecting property name enclosed in double quotes at column 2)"
    ]
    assert collection.count == 5


def test_a_bad_name_a_symlink_loop_or_a_bad_record_spoils_only_itself(
    collection: Collection, tmp_path: Path
) -> None:
    good = _jsonl(tmp_path / "good.jsonl", DOCS)
    folder = tmp_path / "folder"
    folder.mkdir()
    # Not valid UTF-8: Python hands the byte over as a lone surrogate, which cannot be hashed or stored.
    (folder / os.fsdecode(b"caf\xe9.txt")).write_text("A file whose name is Latin-1.", encoding="utf-8")
    (folder / "fine.txt").write_text("A fine text file.", encoding="utf-8")
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    records = tmp_path / "records.jsonl"
    lines = [
        json.dumps({"id": "dollar", "text": "Chroma rejects this key.", "$where": 1}),
        json.dumps({"id": "blank", "text": "Chroma rejects an empty key.", "": 2}),
        json.dumps({"title": "\ud800", "text": "A lone surrogate in the title."}),
        json.dumps({"id": "kept", "text": "The one good record.", "tag": "ok"}),
    ]
    records.write_text("\n".join(lines), encoding="utf-8")

    report = collection.add([good, folder, loop, records])

    errors = {f.source.rsplit("/", 1)[-1]: f.error for f in report.errors}
    assert errors == {
        "caf\\xe9.txt": "the file name is not valid UTF-8: rename the file",
        "loop.txt": "symlink loop",
    }
    warnings = next(f.warnings for f in report.files if f.source.endswith("records.jsonl"))
    assert warnings == [
        "line 1: metadata key '$where' starts with '$', which the vector store reserves",
        "line 2: metadata key '' is empty",
        "line 3: text that is not valid Unicode (a lone surrogate such as \\ud800)",
    ]
    assert collection.count == len(DOCS) + 2  # fine.txt and the one good record
    assert [h.passage.id for h in collection.retriever("dense").search("the one good record", 1)] == ["kept"]


def test_delete_source(collection: Collection, tmp_path: Path) -> None:
    first = _jsonl(tmp_path / "a.jsonl", DOCS[:2])
    _jsonl(tmp_path / "b.jsonl", DOCS[2:])
    collection.add([tmp_path])
    assert collection.stats()["sources"] == 2
    assert collection.delete_source(first) == 2
    assert collection.delete_source(first) is None
    assert collection.count == 2
    for mode in ("bm25", "dense", "hybrid"):
        assert {h.passage.id for h in collection.retriever(mode).search("otters heron fish rocks", 4)} <= {
            "paris",
            "rome",
        }


def test_where_filters_in_every_mode(collection: Collection, tmp_path: Path) -> None:
    collection.add([_jsonl(tmp_path / "docs.jsonl", DOCS)])
    for mode in ("bm25", "dense", "hybrid"):
        hits = collection.retriever(mode).search("capital city fish", 4, where={"kind": "animal"})
        assert hits and {h.passage.id for h in hits} <= {"otter", "heron"}, mode
        both = collection.retriever(mode).search("capital", 4, where={"kind": {"$in": ["city"]}, "title": "Rome"})
        assert [h.passage.id for h in both] == ["rome"], mode


def test_collection_persists_across_processes(tmp_path: Path) -> None:
    with open_collection(Settings(), "kept", embedder=HashEmbedder()) as first:
        first.add([_jsonl(tmp_path / "docs.jsonl", DOCS)])
    reopened = open_collection(Settings(), "kept", embedder=HashEmbedder())
    assert reopened.count == 4
    assert reopened.retriever("hybrid").search("grey heron fish", 1)[0].passage.id == "heron"


def test_crash_before_commit_leaves_the_collection_consistent(
    collection: Collection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection.add([_jsonl(tmp_path / "a.jsonl", DOCS[:2])])

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    # the vectors of the second file are written, then the process dies before the passage store commits
    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(collection.store, "replace_source", crash)
        collection.add([_jsonl(tmp_path / "b.jsonl", DOCS[2:])])
    reopened = open_collection(Settings(), "test", embedder=HashEmbedder())
    assert reopened.count == 2
    for mode in ("bm25", "dense", "hybrid"):
        ids = {h.passage.id for h in reopened.retriever(mode).search("capital of France Paris", 4)}
        assert ids <= {"otter", "heron"}, mode
    report = reopened.add([tmp_path / "b.jsonl"])
    assert report.added == 2 and reopened.count == 4
    assert reopened._vector_store().ids() == {"otter", "heron", "paris", "rome"}  # orphans cleaned


def test_crash_while_writing_bm25_is_repaired_on_next_search(
    collection: Collection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection.add([_jsonl(tmp_path / "a.jsonl", DOCS[:2])])
    from sleuth.retrieval.bm25 import BM25Index

    def crash(self: object, directory: Path) -> None:
        (directory / "partial.npy").write_bytes(b"half")
        raise OSError("disk full")

    with monkeypatch.context() as patch, pytest.raises(OSError):
        patch.setattr(BM25Index, "save", crash)
        collection.add([_jsonl(tmp_path / "b.jsonl", DOCS[2:])])
    reopened = open_collection(Settings(), "test", embedder=HashEmbedder())
    assert reopened.count == 4  # the passages were committed; the stale BM25 files are rebuilt
    assert reopened.retriever("bm25").search("capital of Italy", 1)[0].passage.id == "rome"


def test_other_embedder_is_refused(collection: Collection, tmp_path: Path) -> None:
    collection.add([_jsonl(tmp_path / "docs.jsonl", DOCS)])
    other = open_collection(Settings(), "test", embedder=HashEmbedder(dim=64))
    assert other.retriever("bm25").search("otter", 1)  # BM25 needs no embedder
    with pytest.raises(CollectionError, match="HashEmbedder:256"):
        other.retriever("dense").search("otter", 1)


def test_bad_collection_name() -> None:
    with pytest.raises(CollectionError, match="invalid collection name"):
        open_collection(Settings(), "../escape", embedder=HashEmbedder())


def test_chroma_never_uses_its_default_embedding_function(
    collection: Collection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.api import types
    from chromadb.utils.embedding_functions import onnx_mini_lm_l6_v2

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("Chroma tried to use its default embedding function (downloads a model)")

    monkeypatch.setattr(onnx_mini_lm_l6_v2.ONNXMiniLM_L6_V2, "_download_model_if_not_exists", no_download)
    monkeypatch.setattr(onnx_mini_lm_l6_v2.ONNXMiniLM_L6_V2, "__call__", no_download)
    monkeypatch.setattr(types.DefaultEmbeddingFunction, "__call__", no_download)
    collection.add([_jsonl(tmp_path / "docs.jsonl", DOCS)])
    assert collection.retriever("dense").search("sea otters", 1)[0].passage.id == "otter"
    collection.delete_source(tmp_path / "docs.jsonl")
    assert collection._vector_store().count() == 0


def test_demo_collection_is_indexed_once() -> None:
    demo = ensure_demo_collection(Settings(), embedder=HashEmbedder())
    assert demo.name == "demo" and demo.count == 396
    embedder = HashEmbedder()
    calls = []
    embedder.embed = lambda texts: calls.append(texts)  # type: ignore[method-assign]
    again = ensure_demo_collection(Settings(), embedder=embedder)
    assert again.count == 396 and calls == []  # nothing embedded the second time
    assert again.retriever("bm25").search("Dragon Dice designer", 1)[0].passage.title == "Demon Dice"


def test_threads_can_search_one_collection_at_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with open_collection(Settings(), "shared", embedder=HashEmbedder()) as writer:
        writer.add([_jsonl(tmp_path / "docs.jsonl", DOCS)])
    reader = open_collection(Settings(), "shared", embedder=HashEmbedder())  # cold: BM25 and Chroma load lazily
    queries = ["capital of Italy seven hills", "grey heron fish", "sea otters rocks", "Paris Seine"] * 4
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda q: reader.retriever("hybrid").search(q, 1)[0].passage.id, queries))
    assert results == ["rome", "heron", "otter", "paris"] * 4


def test_a_passage_two_sources_hold_stays_until_neither_has_it(collection: Collection, tmp_path: Path) -> None:
    first = _jsonl(tmp_path / "a.jsonl", DOCS[:3])  # otter heron paris
    second = _jsonl(tmp_path / "b.jsonl", DOCS[1:])  # heron paris rome
    collection.add([first, second])
    assert collection.count == 4
    assert collection.delete_source(first) == 1  # only otter was a's alone
    assert collection.count == 3 and collection.get("otter") is None
    heron = collection.get("heron")
    assert heron is not None and heron.source == str(second.resolve())  # b now answers for it
    for mode in ("bm25", "dense"):
        assert collection.retriever(mode).search("grey heron hunts fish", 1)[0].passage.id == "heron", mode
    hits = collection.retriever("dense").search("heron", 4, where={"source": str(second.resolve())})
    assert {h.passage.id for h in hits} == {"heron", "paris", "rome"}
    assert collection.stats()["files"][0]["passages"] == collection.count == 3
    assert collection.add([first]).added == 1  # re-adding a restores its own passage
    assert collection.delete_source(second) == 1  # rome; heron and paris are a's too
    assert collection.delete_source(second) is None  # gone: not "0 removed"
    assert {p.id for p in collection.store.iter_passages()} == {"otter", "heron", "paris"}
    assert collection._vector_store().ids() == {"otter", "heron", "paris"}


def test_deleting_a_source_whose_passages_are_all_shared_is_still_a_delete(
    collection: Collection, tmp_path: Path
) -> None:
    first = _jsonl(tmp_path / "a.jsonl", DOCS)
    second = _jsonl(tmp_path / "copy.jsonl", DOCS)
    collection.add([first, second])
    assert collection.delete_source(first) == 0  # removed the source, no passage: copy.jsonl has them all
    assert collection.stats()["sources"] == 1 and collection.count == 4
    assert collection.delete_source(second) == 4 and collection.count == 0


def test_a_symlink_to_an_added_file_is_reported_as_its_duplicate(collection: Collection, tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    real = _jsonl(folder / "docs.jsonl", DOCS)
    (folder / "link.jsonl").symlink_to(real)
    totals: list[int] = []
    report = collection.add([folder], progress=lambda done, total: totals.append(total))
    assert [Path(f.source).name for f in report.files] == ["docs.jsonl", "link.jsonl"]
    link = report.files[1]
    assert link.duplicate_of == str(real.resolve()) and (link.added, link.skipped, link.error) == (0, 0, None)
    assert totals[0] == 4 and report.added == 4  # embedded and counted once
    assert collection.stats()["sources"] == 1


def test_an_old_store_learns_which_passages_each_source_shares(tmp_path: Path) -> None:
    import sqlite3

    first = _jsonl(tmp_path / "a.jsonl", DOCS[:3])
    second = _jsonl(tmp_path / "b.jsonl", DOCS[1:])
    with open_collection(Settings(), "old", embedder=HashEmbedder()) as old:
        old.add([first, second])
        path = old.store.path
    # what a store written before the link table holds: heron and paris under a alone
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE passage_sources")
        db.execute("DELETE FROM _migrations WHERE name = '002_passage_sources'")
    upgraded = open_collection(Settings(), "old", embedder=HashEmbedder())
    # which passages b shared with a was never recorded: b is re-read on its next add, not skipped
    assert upgraded.add([first]).skipped == 3
    assert upgraded.add([second]).files[0].skipped == 3
    assert upgraded.delete_source(first) == 1
    assert {p.id for p in upgraded.store.iter_passages()} == {"heron", "paris", "rome"}
