"""Term counts behind a BM25 index: how often each term occurs in each document, and each document's length,
kept beside the bm25s score matrix so that appending documents recomputes every score without re-reading
or re-tokenising the documents already indexed.

BM25 cannot be updated score by score: a new document changes the collection size and the average length
(every document's length normalisation) and the document frequency of its terms (their idf). The weights
therefore all move, but they are a closed formula of (term count, document length, document frequency,
document count, average length), which these counts hold. `TermCounts.extend` appends the new documents'
counts to the sparse matrix (O(postings), vectorised) and `bm25_scores` evaluates bm25s's own scoring
functions on every posting at once: the result is the matrix bm25s builds from all the documents, bit for
bit (`tests/unit/test_retrieval_bm25_append.py`), at a fraction of the cost.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_COUNTS_FILE = "term_counts.npy"
_LENGTHS_FILE = "doc_lengths.npy"
_NONOCCURRENCE_METHODS = ("bm25l", "bm25+")  # need a per-term correction array these counts do not keep

IntArray = npt.NDArray[np.integer[Any]]


@dataclass(frozen=True)
class TermCounts:
    """A term x document count matrix in bm25s's CSC layout, with each document's length in tokens.

    The postings of term `vocab[t]` are `docs[indptr[t]:indptr[t + 1]]` (ascending document numbers) with
    `counts` occurrences each: the same `vocab`, `indptr` and `docs` (bm25s's `indices`) as the score matrix.
    """

    vocab: dict[str, int]
    indptr: IntArray
    docs: IntArray
    counts: IntArray
    doc_lengths: IntArray

    @classmethod
    def empty(cls) -> TermCounts:
        none = np.zeros(0, dtype=np.int32)
        return cls({}, np.zeros(1, dtype=np.int64), none, none.astype(np.uint8), none)

    @property
    def num_docs(self) -> int:
        return len(self.doc_lengths)

    def extend(self, documents: Iterable[list[str]]) -> TermCounts:
        """These counts with `documents` (token lists, read once, one at a time) appended as documents
        num_docs, num_docs + 1, ...

        Returns a new object: the old one (and an index built on it) stays valid for concurrent searches.
        """
        vocab = dict(self.vocab)
        # Compact machine integers, not lists of Python ints: a million documents make ~10^8 postings.
        terms, docs, counts, lengths = array("i"), array("i"), array("I"), array("i")
        for number, tokens in enumerate(documents, start=self.num_docs):
            lengths.append(len(tokens))
            for token, count in Counter(tokens).items():
                terms.append(vocab.setdefault(token, len(vocab)))
                docs.append(number)
                counts.append(count)
        new_terms, new_docs = np.frombuffer(terms, dtype=np.int32), np.frombuffer(docs, dtype=np.int32)
        new_counts, new_lengths = np.frombuffer(counts, dtype=np.uint32), np.frombuffer(lengths, dtype=np.int32)
        old_terms = np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int32), np.diff(self.indptr))
        all_terms = np.concatenate([old_terms, new_terms])
        # Stable: a term's old postings (already in document order) stay ahead of its new ones, which come in
        # document order too. The old part is one sorted run, so the sort is close to linear.
        order = np.argsort(all_terms, kind="stable")
        all_counts = np.concatenate([np.asarray(self.counts, dtype=np.uint32), new_counts])[order]
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(all_terms, minlength=len(vocab)), out=indptr[1:])
        return TermCounts(
            vocab=vocab,
            indptr=indptr,
            docs=np.concatenate([np.asarray(self.docs, dtype=np.int32), new_docs])[order],
            counts=all_counts.astype(np.min_scalar_type(int(all_counts.max(initial=0)))),
            doc_lengths=np.concatenate([np.asarray(self.doc_lengths, dtype=np.int32), new_lengths]),
        )

    def bm25_scores(self, k1: float, b: float, method: str, delta: float = 0.5) -> dict[str, Any]:
        """The bm25s score matrix (its `scores` dict) of these documents, as `bm25s.BM25.index` computes it.

        Raises:
            ValueError: for bm25s's BM25L and BM25+ methods, which these counts cannot serve.
        """
        from bm25s.scoring import _select_idf_scorer, _select_tfc_scorer  # bm25s's own formulas (pinned)

        if method in _NONOCCURRENCE_METHODS:
            raise ValueError(f"term counts cannot build a {method} index")
        frequencies = np.diff(self.indptr)
        idf_of = _select_idf_scorer(method)
        # Scalar, as bm25s does (math.log in double, then stored as float32): np.log may differ by an ulp.
        idf = np.array([idf_of(df, N=self.num_docs) for df in frequencies.tolist()], dtype=np.float32)
        average = np.asarray(self.doc_lengths, dtype=np.int64).mean()
        tfc = _select_tfc_scorer(method)(
            tf_array=np.asarray(self.counts, dtype=np.float32),
            l_d=np.asarray(self.doc_lengths)[self.docs],
            l_avg=average,
            k1=k1,
            b=b,
            delta=delta,
        )
        posting_terms = np.repeat(np.arange(len(frequencies)), frequencies)
        return {
            "data": (idf[posting_terms] * tfc).astype(np.float32),
            "indices": np.asarray(self.docs, dtype=np.int32),
            "indptr": np.asarray(self.indptr, dtype=np.int64),
            "num_docs": self.num_docs,
        }

    def save(self, directory: Path) -> None:
        """Write the counts and lengths (vocab, indptr and docs are the score matrix's, saved by bm25s)."""
        np.save(directory / _COUNTS_FILE, np.asarray(self.counts), allow_pickle=False)
        np.save(directory / _LENGTHS_FILE, np.asarray(self.doc_lengths), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, scores: dict[str, Any], vocab: dict[str, int]) -> TermCounts | None:
        """The counts saved beside a bm25s index in `directory`, or None when it has none (an index from
        before counts were kept: it can be searched, and is rebuilt rather than extended)."""
        if not (directory / _COUNTS_FILE).exists() or not (directory / _LENGTHS_FILE).exists():
            return None
        counts = np.load(directory / _COUNTS_FILE, mmap_mode="r", allow_pickle=False)  # read only to extend
        lengths = np.load(directory / _LENGTHS_FILE, allow_pickle=False)
        if len(counts) != len(scores["indices"]) or len(lengths) != scores["num_docs"]:
            return None
        return cls(vocab, scores["indptr"], scores["indices"], counts, lengths)
