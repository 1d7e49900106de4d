"""Stand-ins for the parts sleuth builds from settings (the model, a retriever, the embedder): context-local
slots each building function consults first, so a test swaps a part without patching private names.

`sleuth.testing.override(llm=..., retriever=..., embedder=...)` fills the slots, which live beside what
they stand in for (`sleuth.llm.base.model_override`, `sleuth.retrieval.base.retriever_override`,
`sleuth.retrieval.base.embedder_override`). A slot is a `ContextVar`, as pydantic-ai's `Agent.override` is:
it holds in the block's task and in what that task starts (`asyncio.run`, tasks, `asyncio.to_thread`), and
concurrent tests cannot see each other's stand-ins.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

T = TypeVar("T")


class Override(Generic[T]):
    """One swappable part: `get()` is the stand-in in force here, or None (build the real one)."""

    def __init__(self, name: str) -> None:
        self._slot: ContextVar[T | None] = ContextVar(f"sleuth.override.{name}", default=None)

    def get(self) -> T | None:
        return self._slot.get()

    @contextmanager
    def use(self, value: T) -> Iterator[T]:
        """Put `value` in place of the real part for the duration of the block."""
        token = self._slot.set(value)
        try:
            yield value
        finally:
            self._slot.reset(token)
