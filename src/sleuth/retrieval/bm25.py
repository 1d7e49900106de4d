"""BM25: a `bm25s` sparse index with one shared tokeniser, built from term counts (so documents can be
appended without a rebuild, `bm25_counts.py`), saved to and loaded from a directory."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sleuth.private import private_dir
from sleuth.retrieval.base import Filter, Hit, Passage

if TYPE_CHECKING:
    import numpy as np

    from sleuth.retrieval.bm25_counts import TermCounts

NUMBA_MIN_DOCS = 50_000
"""Below this many documents numpy scoring takes about a millisecond, so the numba backend's JIT compile
(seconds, paid once per process) would cost more than it saves; above it numba is several times faster."""

_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s's own default token pattern


@dataclass(frozen=True)
class BM25Params:
    """Scoring parameters: k1 = 1.5 and b = 0.75 as rank-bm25's `BM25Okapi`, with Lucene's idf.

    Lucene's idf, log(1 + (N - df + 0.5) / (df + 0.5)), is always positive. The classic Robertson idf
    (rank-bm25's, and bm25s's method="robertson") is 0 or negative for a term in half the documents or
    more: in a small collection a word found in 2 of 4 passages would match nothing. bm25s floors that idf
    at 0, while rank-bm25 replaces it with 0.25 x the mean idf, so the two libraries only agree where no
    query term is that common. The rank-bm25 test therefore compares both variants: method="robertson"
    against stock `BM25Okapi`, and this default against `BM25Okapi` given Lucene's idf.
    """

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"
    """bm25s's "lucene", "robertson" or "atire" (its BM25L and BM25+ need arrays the term counts do not keep)."""


class Tokenizer:
    """Lowercase words of two or more characters, English stop words dropped, Snowball-stemmed.

    The same tokeniser is used for documents and queries (and by the rank-bm25 reference test).
    Stemming is memoised per word: corpora repeat a small vocabulary many times. The stop words and the
    stemmer are loaded on first use: importing bm25s takes about a second, which a collection opened only
    to be searched elsewhere (on the warm worker) need not pay.
    """

    def __init__(self, stem: bool = True) -> None:
        self._stem = stem
        self._stopwords: frozenset[str] | None = None
        self._stemmer: Any = None
        self._stems: dict[str, str] = {}

    def __call__(self, text: str) -> list[str]:
        if self._stopwords is None:
            self._load()
        assert self._stopwords is not None
        words = [w for w in _WORD.findall(text.lower()) if w not in self._stopwords]
        if self._stemmer is None:
            return words
        stems = self._stems
        missing = [w for w in set(words) if w not in stems]
        if missing:
            stems.update(zip(missing, self._stemmer.stemWords(missing), strict=True))
        return [stems[w] for w in words]

    def many(self, texts: list[str]) -> list[list[str]]:
        return [self(text) for text in texts]

    def _load(self) -> None:
        from bm25s.stopwords import STOPWORDS_EN

        if self._stem:
            import Stemmer

            self._stemmer = Stemmer.Stemmer("english")
        self._stopwords = frozenset(STOPWORDS_EN)  # last: another thread takes it as the sign all is loaded


class BM25Index:
    """A BM25 index over documents numbered 0..n-1 (callers keep the number -> passage id map).

    It keeps the term counts it was scored from, so `extend` appends documents and yields the index a full
    build over all of them would (bit for bit) without re-reading the earlier ones. An index loaded from
    files written before counts were kept has none: it can be searched, not extended.
    """

    def __init__(
        self, model: Any, tokenizer: Tokenizer, params: BM25Params, num_docs: int, counts: TermCounts | None = None
    ) -> None:
        self._model = model
        self.tokenizer = tokenizer
        self.params = params
        self.num_docs = num_docs
        self.counts = counts

    @classmethod
    def build(
        cls,
        texts: list[str],
        params: BM25Params | None = None,
        tokenizer: Tokenizer | None = None,
        backend: str = "auto",
    ) -> BM25Index:
        """Index `texts` (an empty list gives an index that finds nothing).

        Args:
            backend: "numpy", "numba", or "auto" (numba from `NUMBA_MIN_DOCS` documents when installed).
        """
        from sleuth.retrieval.bm25_counts import TermCounts  # numpy: loaded by an index, not by opening one

        tokenizer = tokenizer or Tokenizer()
        params = params or BM25Params()
        counts = TermCounts.empty().extend(tokenizer(text) for text in texts)  # one document's tokens at a time
        return cls.from_counts(counts, params, tokenizer, backend)

    @classmethod
    def from_tokens(
        cls, tokens: list[list[str]], params: BM25Params, tokenizer: Tokenizer, backend: str = "auto"
    ) -> BM25Index:
        from sleuth.retrieval.bm25_counts import TermCounts

        return cls.from_counts(TermCounts.empty().extend(tokens), params, tokenizer, backend)

    @classmethod
    def from_counts(
        cls, counts: TermCounts, params: BM25Params, tokenizer: Tokenizer, backend: str = "auto"
    ) -> BM25Index:
        if counts.num_docs == 0:
            return cls(None, tokenizer, params, 0, counts)
        model = _new_model(params, counts.num_docs, backend)
        # What `bm25s.BM25.load` sets up, with the score matrix computed from the counts.
        model.scores = counts.bm25_scores(params.k1, params.b, params.method)
        model.vocab_dict = counts.vocab
        model.unique_token_ids_set = set(counts.vocab.values())
        model.nonoccurrence_array = None
        return cls(model, tokenizer, params, counts.num_docs, counts)

    def extend(self, texts: list[str], backend: str = "auto") -> BM25Index:
        """A new index over these documents followed by `texts` (numbered from `num_docs` on), equal to a
        build over all of them; this one is left as it is for searches under way.

        Raises:
            ValueError: the index has no term counts (loaded from files of an earlier version): rebuild it.
        """
        if self.counts is None:
            raise ValueError("this BM25 index keeps no term counts to extend: rebuild it")
        grown = self.counts.extend(self.tokenizer(text) for text in texts)
        return BM25Index.from_counts(grown, self.params, self.tokenizer, backend)

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The top `k` (document number, score) pairs with a positive score, best first.

        Args:
            mask: optional 0/1 weights per document; documents weighted 0 are never returned.
        """
        return self.search_tokens(self.tokenizer(query), k, mask)

    def search_tokens(
        self,
        tokens: list[str],
        k: int,
        mask: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        if self._model is None or k <= 0:
            return []
        weights = None if mask is None else mask.astype("float32")
        docs, scores = self._model.retrieve(
            [tokens], k=min(k, self.num_docs), show_progress=False, weight_mask=weights
        )
        return [(int(d), float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"params": asdict(self.params), "num_docs": self.num_docs}
        if self._model is not None:
            self._model.save(str(directory), show_progress=False)
            if self.counts is not None:
                self.counts.save(directory)
        (directory / "sleuth-bm25.json").write_text(json.dumps(meta))

    @classmethod
    def load(
        cls, directory: Path, tokenizer: Tokenizer | None = None, mmap: bool = False, backend: str = "auto"
    ) -> BM25Index:
        import bm25s

        from sleuth.retrieval.bm25_counts import TermCounts

        meta = json.loads((directory / "sleuth-bm25.json").read_text())
        params = BM25Params(**meta["params"])
        tokenizer = tokenizer or Tokenizer()
        if meta["num_docs"] == 0:
            return cls(None, tokenizer, params, 0, TermCounts.empty())
        model = bm25s.BM25.load(
            str(directory), mmap=mmap, show_progress=False, backend=_backend(meta["num_docs"], backend)
        )
        counts = TermCounts.load(directory, model.scores, model.vocab_dict)
        return cls(model, tokenizer, params, meta["num_docs"], counts)


class PassageBM25:
    """A `Retriever`: BM25 over passages held in memory (a dataset's own corpus, for one job)."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self.index = BM25Index.build([f"{p.title}\n{p.text}" for p in passages])

    def search(self, query: str, k: int, *, where: Filter | None = None) -> list[Hit]:
        return [Hit(self.passages[i], score, "bm25") for i, score in self.index.search(query, k)]


def _backend(num_docs: int, choice: str = "auto") -> str:
    if choice == "numpy" or (choice == "auto" and num_docs < NUMBA_MIN_DOCS):
        return "numpy"
    try:
        import numba  # noqa: F401
    except ImportError:
        return "numpy"
    return "numba"


def _new_model(params: BM25Params, num_docs: int, backend: str = "auto") -> Any:
    import bm25s

    return bm25s.BM25(k1=params.k1, b=params.b, method=params.method, backend=_backend(num_docs, backend))


@dataclass(frozen=True)
class SavedBM25:
    """A BM25 index read back from disk, with what was saved beside it."""

    index: BM25Index
    ids: list[str]
    """The passage id of each document number."""
    generation: int
    """The store generation it was built from."""
    mark: dict[str, int]
    """The caller's note of where its source stood (the passage store's `StoreMark`); {} if none."""


class BM25Files:
    """The BM25 index of a collection on disk, with the passage ids it numbers and the store generation it
    was built from.

    Each build goes to a fresh folder `gen-<generation>`; a small `CURRENT` file, replaced atomically, names
    the folder in use. A crash mid-build leaves `CURRENT` pointing at the previous complete index.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, index: BM25Index, ids: list[str], generation: int, mark: dict[str, int] | None = None) -> None:
        import os
        import shutil
        import tempfile

        private_dir(self.root)
        folder = self.root / f"gen-{generation}"
        if folder.exists():
            shutil.rmtree(folder)
        staging = Path(tempfile.mkdtemp(prefix=".build-", dir=self.root))
        index.save(staging)
        (staging / "ids.json").write_text(json.dumps(ids))
        os.replace(staging, folder)
        pointer = self.root / ".CURRENT.tmp"
        pointer.write_text(json.dumps({"folder": folder.name, "generation": generation, "mark": mark or {}}))
        os.replace(pointer, self.root / "CURRENT")
        for old in self.root.iterdir():  # earlier builds and abandoned staging folders
            if old.is_dir() and old != folder:
                shutil.rmtree(old, ignore_errors=True)

    def generation(self) -> int | None:
        """The store generation of the index in use; None when there is none (or its pointer is damaged)."""
        try:
            return int(json.loads((self.root / "CURRENT").read_text())["generation"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def read(
        self,
        tokenizer: Tokenizer | None = None,
        backend: str = "auto",
    ) -> SavedBM25 | None:
        pointer = self.root / "CURRENT"
        if not pointer.exists():
            return None
        try:
            current = json.loads(pointer.read_text())
            folder = self.root / current["folder"]
            index = BM25Index.load(folder, tokenizer, backend=backend)
            ids = json.loads((folder / "ids.json").read_text())
        except (OSError, ValueError, KeyError):  # damaged files: the caller rebuilds from the store
            return None
        return SavedBM25(index, ids, int(current["generation"]), dict(current.get("mark") or {}))
