"""What the warm worker and its clients exchange: its record file, what must match for a client to use it,
and the bodies of its HTTP calls (pydantic models, validated on both sides)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sleuth.config import Settings
from sleuth.private import FILE_MODE, private_dir
from sleuth.retrieval.base import Filter, Hit, Passage, Vectors, embedder_identity, embedder_override

PROTOCOL = 1
"""Bumped when a call's shape changes: a worker of another version is not used (the client works in-process)."""


class WorkerKey(BaseModel):
    """What makes a worker's searches and vectors the same as this process's own: the home and every setting
    that shapes a ranking or a vector. A client uses a worker only when their keys are equal."""

    model_config = ConfigDict(frozen=True)

    protocol: int = PROTOCOL
    home: str
    embedder: str
    """The embedding model folder (resolved), or `standin:<identity>` for a test's stand-in embedder."""
    embedder_batch_size: int
    reranker: str | None
    chroma_url: str | None
    dense_exact_max: int
    bm25_backend: str

    @classmethod
    def of(cls, settings: Settings) -> WorkerKey:
        """This process's key, without loading any model.

        Raises:
            EmbedderError: the default embedding model is not installed (nothing a worker could serve).
        """
        from sleuth.retrieval.embedders.flag import default_model_path

        standin = embedder_override.get()
        if standin is not None:
            embedder = f"standin:{embedder_identity(standin)}"
        else:
            embedder = str(Path(settings.embedder_path or default_model_path()).expanduser().resolve())
        return cls(
            home=str(settings.home.expanduser().resolve()),
            embedder=embedder,
            embedder_batch_size=settings.embedder_batch_size,
            reranker=str(settings.reranker_path.expanduser().resolve()) if settings.reranker_path else None,
            chroma_url=settings.chroma_url,
            dense_exact_max=settings.dense_exact_max,
            bm25_backend=settings.bm25_backend,
        )


class WorkerRecord(BaseModel):
    """The file a running worker keeps in `SLEUTH_HOME` (owner-only): where it listens and its secret."""

    url: str
    pid: int
    token: str
    key: WorkerKey


class EmbedderInfo(BaseModel):
    """What a client needs to stand in for the worker's embedder: its identity and the settings that shape its
    vectors (what a collection and the shipped vectors check an embedder against)."""

    name: str
    dim: int
    pooling: str | None = None
    max_length: int | None = None


class WorkerStatus(BaseModel):
    """The worker's answer to `GET /v1/status`."""

    pid: int
    key: WorkerKey
    embedder: EmbedderInfo
    started_at: float
    idle_s: float
    """Exits after this many seconds without a request (0: never)."""
    collections: list[str] = Field(default_factory=list)
    """The collections it holds open."""
    searches: int = 0
    embeds: int = 0
    runs: int = 0
    """Research runs CLIs sent here."""
    runs_running: int = 0
    """Of those, the ones running now."""


class EmbedRequest(BaseModel):
    texts: list[str] = Field(max_length=4096)


class EmbedReply(BaseModel):
    rows: int
    dim: int
    vectors: str
    """The float32 matrix, little-endian, base64: exact, unlike decimal text."""


class SearchRequest(BaseModel):
    collection: str
    mode: Literal["bm25", "dense", "hybrid"]
    query: str
    k: int = Field(ge=1, le=10_000)
    where: Filter | None = None


class WireHit(BaseModel):
    """A hit as it travels: every field of the passage, the score and the retriever that found it."""

    id: str
    text: str
    title: str
    source: str
    metadata: dict[str, Any]
    score: float
    retriever: str

    @classmethod
    def of(cls, hit: Hit) -> WireHit:
        p = hit.passage
        return cls(
            id=p.id,
            text=p.text,
            title=p.title,
            source=p.source,
            metadata=p.metadata,
            score=hit.score,
            retriever=hit.retriever,
        )

    def hit(self) -> Hit:
        return Hit(Passage(self.id, self.text, self.title, self.source, self.metadata), self.score, self.retriever)


class SearchReply(BaseModel):
    hits: list[WireHit]


class WorkerError(BaseModel):
    """A refused call: `kind` names the error the client raises again (a search that cannot run as asked
    fails the same way in the worker as in-process)."""

    kind: Literal["collection", "filter", "request"]
    detail: str


def encode_vectors(vectors: Vectors) -> EmbedReply:
    import numpy as np  # a client that only searches never loads it

    matrix = np.ascontiguousarray(vectors, dtype="<f4")
    rows, dim = matrix.shape
    return EmbedReply(rows=rows, dim=dim, vectors=base64.b64encode(matrix.tobytes()).decode("ascii"))


def decode_vectors(reply: EmbedReply) -> Vectors:
    raw = base64.b64decode(reply.vectors)
    if len(raw) != reply.rows * reply.dim * 4:
        raise ValueError(f"{len(raw)} bytes are not {reply.rows} x {reply.dim} float32 values")
    import numpy as np

    return np.frombuffer(raw, dtype="<f4").reshape(reply.rows, reply.dim).astype(np.float32)


def read_record(path: Path) -> WorkerRecord | None:
    """The worker record at `path`; None when there is none or it cannot be read as one."""
    try:
        return WorkerRecord.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def write_record(path: Path, record: WorkerRecord) -> None:
    """Write `record` owner-only and atomically: a reader sees the old file or the new one, never half."""
    private_dir(path.parent)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(record.model_dump(mode="json")))
    os.replace(partial, path)


def remove_record(path: Path, pid: int) -> None:
    """Remove the record at `path` if it is the worker `pid`'s (a newer worker's record stays)."""
    record = read_record(path)
    if record is not None and record.pid == pid:
        with contextlib.suppress(OSError):
            path.unlink()
