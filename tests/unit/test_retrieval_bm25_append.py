"""Appending to BM25: an index extended with new documents equals a full rebuild (the score matrix bit for
bit, so every ranking), agrees with rank-bm25, survives save/load and crashes, and a collection extends its
index when files are added and rebuilds it only when passages were changed or removed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import bm25s
import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from sleuth.config import Settings
from sleuth.retrieval.bm25 import BM25Files, BM25Index, BM25Params, Tokenizer
from sleuth.retrieval.bm25_counts import TermCounts
from sleuth.retrieval.index import Collection, open_collection
from sleuth.testing import HashEmbedder

CORPUS = Path("/work/shared/data/multihop_dev/corpus.jsonl")
DEMO = Path(__file__).parents[2] / "src" / "sleuth" / "data" / "demo" / "corpus.jsonl"


def _records(n: int = 900) -> list[dict]:
    """Real Wikipedia paragraphs: the shared multihop_dev set, else the bundled demo slice."""
    path = CORPUS if CORPUS.exists() else DEMO
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()][:n]


def _queries(records: list[dict]) -> list[str]:
    # a title and the start of another paragraph: rare and common words, some only in later batches
    return [f"{records[i]['title']} {records[-1 - i]['text'][:60]}" for i in range(0, len(records), 15)]


def _matrix(scores: dict, vocab: dict[str, int]) -> dict[tuple[int, str], bytes]:
    """(document, term) -> the float32 score's bytes, whatever order the columns are in."""
    term_of = {column: term for term, column in vocab.items()}
    out = {}
    indptr, docs, data = scores["indptr"], scores["indices"], scores["data"]
    for column in range(len(indptr) - 1):
        for at in range(indptr[column], indptr[column + 1]):
            out[(int(docs[at]), term_of[column])] = data[at].tobytes()
    return out


class LuceneIdfOkapi(BM25Okapi):
    """rank-bm25's BM25Okapi with Lucene's idf (what our default index uses; see test_retrieval_bm25)."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        self.idf = {w: math.log(1 + (self.corpus_size - f + 0.5) / (f + 0.5)) for w, f in nd.items()}


@pytest.mark.parametrize("method", ["lucene", "robertson"])
def test_an_extended_index_is_a_full_rebuild_bit_for_bit(method: str) -> None:
    records = _records()
    tokenizer = Tokenizer()
    tokens = [tokenizer(f"{r['title']}\n{r['text']}") for r in records]
    params = BM25Params(method=method)
    index = BM25Index.from_tokens(tokens[:500], params, tokenizer)
    for start, end in ((500, 501), (501, 700), (700, len(tokens))):  # one document, then batches
        index = BM25Index.from_counts(index.counts.extend(tokens[start:end]), params, tokenizer)  # type: ignore[union-attr]
    full = BM25Index.from_tokens(tokens, params, tokenizer)
    library = bm25s.BM25(k1=params.k1, b=params.b, method=method)
    library.index(tokens, show_progress=False)  # bm25s's own build from all the documents
    extended = _matrix(index._model.scores, index._model.vocab_dict)
    assert extended == _matrix(full._model.scores, full._model.vocab_dict)
    assert extended == _matrix(library.scores, library.vocab_dict)
    for query in _queries(records):
        assert index.search(query, 20) == full.search(query, 20), query  # same documents, order and scores


def test_an_extended_index_ranks_like_rank_bm25() -> None:
    records = _records(600)
    tokenizer = Tokenizer()
    tokens = [tokenizer(f"{r['title']}\n{r['text']}") for r in records]
    index = BM25Index.from_tokens(tokens[:300], BM25Params(), tokenizer)
    index = index.extend([f"{r['title']}\n{r['text']}" for r in records[300:]])
    reference = LuceneIdfOkapi(tokens, k1=1.5, b=0.75)
    compared = 0
    for query in _queries(records):
        query_tokens = tokenizer(query)
        got = index.search_tokens(query_tokens, 10)
        if not got:
            continue
        expected = np.asarray(reference.get_scores(query_tokens)) / 2.5  # bm25s leaves out Okapi's (k1 + 1)
        for doc, score in got:
            assert score == pytest.approx(expected[doc], rel=1e-4, abs=1e-4)
        worst = min(score for _, score in got)
        assert np.delete(expected, [doc for doc, _ in got]).max(initial=0) <= worst + 1e-4  # ties aside
        compared += 1
    assert compared >= 30


def test_counts_survive_save_and_load_and_old_files_are_searchable_not_extendable(tmp_path: Path) -> None:
    records = _records(200)
    texts = [f"{r['title']}\n{r['text']}" for r in records]
    index = BM25Index.build(texts[:150])
    index.save(tmp_path / "new")
    loaded = BM25Index.load(tmp_path / "new")
    assert loaded.counts is not None and loaded.counts.num_docs == 150
    assert loaded.extend(texts[150:]).search("football club", 5) == BM25Index.build(texts).search(
        "football club", 5
    )
    # an index saved before term counts were kept: searchable as it was, extending asks for a rebuild
    index.save(tmp_path / "old")
    for name in ("term_counts.npy", "doc_lengths.npy"):
        (tmp_path / "old" / name).unlink()
    old = BM25Index.load(tmp_path / "old")
    assert old.counts is None and old.search("football club", 5) == index.search("football club", 5)
    with pytest.raises(ValueError, match="rebuild"):
        old.extend(texts[150:])
    assert BM25Index.build([]).extend(texts[:3]).num_docs == 3 and TermCounts.empty().num_docs == 0


# --- collections ----------------------------------------------------------------------------------------


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _same_as_a_rebuild(collection: Collection, queries: list[str]) -> None:
    """The collection's BM25 ranks every query exactly as an index built afresh from its store."""
    mark, passages = collection.store.snapshot()
    state = collection.bm25.current()
    assert state.mark == mark and state.ids == [p.id for p in passages]
    fresh = BM25Index.build([f"{p.title}\n{p.text}" for p in passages])
    for query in queries:
        assert [(state.ids[d], s) for d, s in state.index.search(query, 10)] == [
            (state.ids[d], s) for d, s in fresh.search(query, 10)
        ], query


def test_adding_files_extends_the_index_and_changing_one_rebuilds_it(tmp_path: Path) -> None:
    records = _records(400)
    queries = _queries(records)
    with open_collection(Settings(), "grow", embedder=HashEmbedder()) as collection:
        collection.add([_jsonl(tmp_path / "a.jsonl", records[:200])])
        assert (collection.bm25.rebuilt, collection.bm25.extended) == (1, 0)
        collection.add([_jsonl(tmp_path / "b.jsonl", records[200:300])])
        collection.add([_jsonl(tmp_path / "c.jsonl", records[300:])])
        assert (collection.bm25.rebuilt, collection.bm25.extended) == (1, 2)
        _same_as_a_rebuild(collection, queries)
        # a changed file updates and removes passages: the index is rebuilt, not extended
        collection.add([_jsonl(tmp_path / "b.jsonl", records[200:250])])
        assert collection.bm25.rebuilt == 2
        _same_as_a_rebuild(collection, queries)
        collection.add([_jsonl(tmp_path / "d.jsonl", records[250:300])])
        assert (collection.bm25.rebuilt, collection.bm25.extended) == (2, 3)
        collection.delete_source(tmp_path / "c.jsonl")
        _same_as_a_rebuild(collection, queries)
        assert collection.bm25.rebuilt == 3
        filtered = collection.retriever("bm25").search(queries[0], 5, where={"source": str(tmp_path / "d.jsonl")})
        assert filtered and all(hit.passage.source == str(tmp_path / "d.jsonl") for hit in filtered)


def test_another_process_extends_from_the_files_on_disk(tmp_path: Path) -> None:
    records = _records(300)
    with open_collection(Settings(), "shared", embedder=HashEmbedder()) as first:
        first.add([_jsonl(tmp_path / "a.jsonl", records[:150])])
        with open_collection(Settings(), "shared", embedder=HashEmbedder()) as second:
            second.add([_jsonl(tmp_path / "b.jsonl", records[150:])])
            assert (second.bm25.rebuilt, second.bm25.extended) == (0, 1)  # read a.jsonl's index, extended it
        # the first process sees the files the second wrote: current already, neither extended nor rebuilt
        _same_as_a_rebuild(first, _queries(records))
        assert (first.bm25.rebuilt, first.bm25.extended) == (1, 0)


def test_a_crash_while_writing_the_extended_index_leaves_a_consistent_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _records(300)
    with open_collection(Settings(), "crash", embedder=HashEmbedder()) as collection:
        collection.add([_jsonl(tmp_path / "a.jsonl", records[:200])])

        def power_cut(self: BM25Index, directory: Path) -> None:
            (directory / "data.csc.index.npy").write_bytes(b"half a file")
            raise OSError("disk full")

        with monkeypatch.context() as patch, pytest.raises(OSError):
            patch.setattr(BM25Index, "save", power_cut)
            collection.add([_jsonl(tmp_path / "b.jsonl", records[200:])])
    files = BM25Files(Settings().indexes_dir / "crash" / "bm25")
    assert files.generation() == 1  # still the first add's index
    with open_collection(Settings(), "crash", embedder=HashEmbedder()) as reopened:
        assert reopened.count == 300  # the passages were committed before the index write failed
        _same_as_a_rebuild(reopened, _queries(records))
        assert (reopened.bm25.rebuilt, reopened.bm25.extended) == (0, 1)  # extended the last complete index
        assert files.generation() == reopened.store.generation


def test_files_from_before_term_counts_are_rebuilt_once_then_extended(tmp_path: Path) -> None:
    records = _records(200)
    with open_collection(Settings(), "old", embedder=HashEmbedder()) as collection:
        collection.add([_jsonl(tmp_path / "a.jsonl", records[:100])])
        pointer = collection.path / "bm25" / "CURRENT"
        current = json.loads(pointer.read_text())
        for name in ("term_counts.npy", "doc_lengths.npy"):
            (collection.path / "bm25" / current["folder"] / name).unlink()
        pointer.write_text(json.dumps({"folder": current["folder"], "generation": current["generation"]}))
    with open_collection(Settings(), "old", embedder=HashEmbedder()) as reopened:
        assert reopened.retriever("bm25").search(records[0]["title"], 1)  # the old files are searched as they are
        reopened.add([_jsonl(tmp_path / "b.jsonl", records[100:150])])
        reopened.add([_jsonl(tmp_path / "c.jsonl", records[150:])])
        assert (reopened.bm25.rebuilt, reopened.bm25.extended) == (1, 1)
        _same_as_a_rebuild(reopened, _queries(records))
