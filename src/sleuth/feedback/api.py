"""Open the patch store of a sleuth home with the retrieval embedder: the Python API's entry point."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any, cast

from sleuth.config import Settings
from sleuth.feedback.policy import PatchPolicy
from sleuth.feedback.store import PatchStore
from sleuth.retrieval.base import Embedder, Vectors

log = logging.getLogger(__name__)

# Factory names the retrieval package may expose, most likely first (settings -> Embedder).
_FACTORIES = ("load_embedder", "default_embedder", "make_embedder", "build_embedder")


def default_embedder(settings: Settings) -> Embedder:
    """The retrieval embedder for `settings`, so patches and passages share one vector space.

    Falls back to the deterministic `HashEmbedder` (with a warning) when no retrieval embedder can be
    built; the store re-embeds every patch once a real embedder is used, so nothing is lost.
    """
    try:
        module = importlib.import_module("sleuth.retrieval.embedders")
    except ImportError as exc:
        log.warning("no retrieval embedder (%s); patches use the hash embedder", exc)
        module = None
    for name in _FACTORIES if module is not None else ():
        factory: Callable[[Settings], Any] | None = getattr(module, name, None)
        if factory is not None:
            return factory(settings)
    from sleuth.testing import HashEmbedder

    log.warning("sleuth.retrieval.embedders has no default factory; patches use the hash embedder")
    return HashEmbedder()


class LazyEmbedder:
    """Builds the real embedder on first use, so commands that never embed (list, show, retract, export)
    do not pay for loading a model."""

    def __init__(self, build: Callable[[], Embedder]) -> None:
        self._build = build
        self._embedder: Embedder | None = None

    @property
    def inner(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._build()
        return self._embedder

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.inner.dim

    @property
    def name(self) -> str:
        from sleuth.feedback.rows import embedder_key

        return embedder_key(self.inner).rsplit(":", 1)[0]

    def embed(self, texts: list[str]) -> Vectors:
        return self.inner.embed(texts)


def open_patch_store(settings: Settings, embedder: Embedder | None = None) -> PatchStore:
    """The patch store at `settings.patches_path`, scored and checked by the `patch_*` settings.

    Args:
        settings: where the store lives and its policy.
        embedder: the embedder to use; default: the retrieval embedder of `settings`, loaded on first use.
    """
    chosen = embedder or cast(Embedder, LazyEmbedder(lambda: default_embedder(settings)))
    return PatchStore(settings.patches_path, chosen, PatchPolicy.from_settings(settings))
