"""Open the patch store of a sleuth home with the retrieval embedder: the Python API's entry point."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from sleuth.config import Settings
from sleuth.feedback.policy import PatchPolicy
from sleuth.retrieval.base import Embedder, Vectors

if TYPE_CHECKING:
    from sleuth.feedback.store import PatchStore


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


def lazy_embedder(build: Callable[[], Embedder]) -> Embedder:
    """An embedder that calls `build` on first use (a `LazyEmbedder`, typed as the `Embedder` it stands for)."""
    return cast(Embedder, LazyEmbedder(build))


def open_patch_store(settings: Settings, embedder: Embedder | None = None) -> PatchStore:
    """The patch store in `settings.patches_database` (`SLEUTH_DATABASE_URL`, else `patches.sqlite` under
    `SLEUTH_HOME`), scored and checked by the `patch_*` settings.

    Args:
        settings: where the store lives and its policy.
        embedder: the embedder to use; default: the retrieval embedder of `settings` (so patches and
            passages share one vector space), loaded on first use.
    """
    from sleuth.feedback.store import PatchStore  # with numpy: a run with no store (`lazy_embedder`) skips it
    from sleuth.retrieval.embedders import load_embedder  # imported late: commands that never embed skip it

    chosen = embedder or lazy_embedder(lambda: load_embedder(settings))
    return PatchStore(settings.patches_database, chosen, PatchPolicy.from_settings(settings))
