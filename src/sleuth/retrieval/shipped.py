"""Shipped vectors: passage vectors computed ahead of time and packaged beside a corpus (the demo's), used at
indexing for every passage they still match, so a fresh home need not embed it.

A vector is used only when all of these hold, and the passage is embedded as usual otherwise:
- the collection's embedder has the identity the file was made with (`embedder_identity`: name and
  dimension, what a collection checks its embedder against) and the same declared settings (pooling,
  token limit), and it gives the file's vectors for the probe texts (so another model behind the same name,
  or the same model pooled or truncated otherwise, is caught);
- the passage's id is in the file, with the hash of the very text that would be embedded (title and text).

The file is one `.npz` (no pickles): `meta` (JSON), `ids`, `hashes`, `vectors` (float16, L2-normalised again
when read), `probe_texts` and `probe_vectors` (float32).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.retrieval.base import Embedder, Passage, Vectors, embedder_identity

FORMAT = 1

PROBE_TEXTS = (
    "Sea otters use rocks as tools to open shellfish.",
    # Longer than any embedder's token limit here (256): a model that truncates elsewhere gives another vector.
    " ".join(
        f"In {1800 + n} the river town of Elsworth counted {n * 37 % 1000} houses and a mill." for n in range(60)
    ),
)
"""Texts the embedder must give the file's vectors for; not passages, so they never count as embedded ones."""

PROBE_TOLERANCE = 1e-3
"""Largest difference allowed in any component of a probe's vector: far above what another CPU or batch
makes (about 1e-6), far below what another model, pooling or token limit makes."""

_SETTINGS = ("pooling", "max_length")
"""Embedder attributes that change its vectors without changing its name; recorded and compared."""


def embedding_text(passage: Passage) -> str:
    """What is embedded for a passage: its title (when it has one) above its text."""
    return f"{passage.title}\n{passage.text}" if passage.title else passage.text


def text_hash(text: str) -> str:
    """The hash a shipped vector carries of the text it was made from (sha256, first 16 bytes, hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class ShippedVectors:
    """Vectors for passages, made by one embedder, to use instead of embedding the passages again.

    Args:
        embedder: the identity of the embedder that made them (`embedder_identity`).
        settings: that embedder's pooling and token limit (None for an embedder that has none).
        ids, hashes: each vector's passage id and `text_hash` of its `embedding_text`.
        vectors: one row a passage (any float dtype; stored as float16).
        probe_vectors: the embedder's vectors for `PROBE_TEXTS`.
    """

    embedder: str
    settings: dict[str, Any]
    ids: list[str]
    hashes: list[str]
    vectors: np.ndarray
    probe_vectors: np.ndarray
    used: int = 0
    """Passages given a shipped vector since this object was made (for reports and tests)."""
    _rows: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._rows = {pid: row for row, pid in enumerate(self.ids)}

    @classmethod
    def build(cls, embedder: Embedder, passages: list[Passage], batch: int = 256) -> ShippedVectors:
        """Embed `passages` (and the probes) with `embedder`."""
        texts = [embedding_text(p) for p in passages]
        parts = [embedder.embed(texts[start : start + batch]) for start in range(0, len(texts), batch)]
        return cls(
            embedder=embedder_identity(embedder),
            settings=_settings_of(embedder),
            ids=[p.id for p in passages],
            hashes=[text_hash(t) for t in texts],
            vectors=np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32),
            probe_vectors=embedder.embed(list(PROBE_TEXTS)),
        )

    @classmethod
    def load(cls, path: Path) -> ShippedVectors | None:
        """The vectors in `path`; None when there is no such file or it is not one this version reads (then
        everything is embedded as usual)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != FORMAT:
                    return None
                return cls(
                    embedder=str(meta["embedder"]),
                    settings=dict(meta["settings"]),
                    ids=[str(i) for i in data["ids"]],
                    hashes=[str(h) for h in data["hashes"]],
                    vectors=data["vectors"],
                    probe_vectors=data["probe_vectors"].astype(np.float32),
                )
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            return None

    def save(self, path: Path) -> None:
        """Write the file (compressed npz; vectors as float16)."""
        meta = {"format": FORMAT, "embedder": self.embedder, "settings": self.settings, "normalized": True}
        with path.open("wb") as out:
            np.savez_compressed(
                out,
                meta=np.array(json.dumps(meta, sort_keys=True)),
                ids=np.array(self.ids, dtype=str),
                hashes=np.array(self.hashes, dtype=str),
                vectors=np.asarray(self.vectors, dtype=np.float16),
                probe_texts=np.array(PROBE_TEXTS, dtype=str),
                probe_vectors=np.asarray(self.probe_vectors, dtype=np.float32),
            )

    def fits(self, embedder: Embedder) -> bool:
        """Whether these vectors are `embedder`'s: same identity and settings, and the same probe vectors
        (embedding the probes is the only cost, and only when identity and settings agree)."""
        if embedder_identity(embedder) != self.embedder or _settings_of(embedder) != self.settings:
            return False
        probes = embedder.embed(list(PROBE_TEXTS))
        return probes.shape == self.probe_vectors.shape and bool(
            np.max(np.abs(probes - self.probe_vectors)) <= PROBE_TOLERANCE
        )

    def vectors_for(self, passages: list[Passage], embed: Callable[[list[Passage]], Vectors]) -> Vectors:
        """A vector for each passage: the shipped one when its id and text hash match, else from `embed`
        (called once, with the passages left, or not at all). Call only after `fits` said yes."""
        rows = [self._row(p) for p in passages]
        out = np.zeros((len(passages), self.vectors.shape[1]), dtype=np.float32)
        found = [i for i, row in enumerate(rows) if row is not None]
        if found:
            shipped = self.vectors[[row for row in rows if row is not None]].astype(np.float32)
            out[found] = shipped / np.linalg.norm(shipped, axis=1, keepdims=True).clip(min=1e-12)
            self.used += len(found)
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            out[missing] = embed([passages[i] for i in missing])
        return out

    def _row(self, passage: Passage) -> int | None:
        row = self._rows.get(passage.id)
        if row is None or self.hashes[row] != text_hash(embedding_text(passage)):
            return None
        return row


def _settings_of(embedder: Embedder) -> dict[str, Any]:
    return {name: getattr(embedder, name, None) for name in _SETTINGS}
