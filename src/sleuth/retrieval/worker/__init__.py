"""The warm worker: one local process per home that keeps the embedding model and opened collections loaded,
so CLI commands embed and search through it instead of loading the model on every call.

`process.py` runs, starts and stops it; `app.py` is its HTTP app (loopback, one token); `client.py` finds it
and gives the `Embedder` and `Retriever` that use it, falling back to in-process work; `protocol.py` is what
they exchange. `WorkerLink(settings)` is the entry point for a command.
"""

from sleuth.retrieval.worker.client import (
    WorkerClient,
    WorkerEmbedder,
    WorkerLink,
    WorkerRetriever,
    WorkerUnavailable,
    connect_worker,
    probe_worker,
)

__all__ = [
    "WorkerClient",
    "WorkerEmbedder",
    "WorkerLink",
    "WorkerRetriever",
    "WorkerUnavailable",
    "connect_worker",
    "probe_worker",
]
