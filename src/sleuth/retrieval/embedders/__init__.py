"""Embedders: build the configured one (a local FlagEmbedding model folder, MiniLM by default)."""

from __future__ import annotations

from sleuth.config import Settings
from sleuth.retrieval.base import Embedder, embedder_override
from sleuth.retrieval.embedders.flag import EmbedderError, FlagEmbedder, default_model_path

__all__ = ["EmbedderError", "FlagEmbedder", "default_model_path", "load_embedder"]


def load_embedder(settings: Settings) -> Embedder:
    """The embedder `settings` asks for: `embedder_path` if set, else the bundled all-MiniLM-L6-v2 (or the
    stand-in in `embedder_override`)."""
    standin = embedder_override.get()
    if standin is not None:
        return standin
    path = settings.embedder_path or default_model_path()
    return FlagEmbedder(path, batch_size=settings.embedder_batch_size)
