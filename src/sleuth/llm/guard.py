"""The switch that refuses real model calls: tests turn it on (`sleuth.testing.block_real_models`), so a call
that should have gone to a fake fails loudly instead of reaching a model server or starting the local model.

The switch is process-wide, not per task: model calls also come from worker threads and from servers run in
a background thread, and none of them may slip through.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field


class RealModelBlockedError(RuntimeError):
    """A real model was called while real models are blocked. Not an `LLMError`: nothing that reports model
    failures gently (the CLI, an eval's per-question errors) should turn it into an ordinary failure."""


@dataclass(eq=False)  # blocks are told apart by identity when one ends
class ModelBlock:
    """One `block_real_models` (or `allow_real_models`) block: whether and why calls are refused, and each
    call that was (so a caller can fail even when the error was caught and swallowed on the way)."""

    reason: str
    blocking: bool = True
    refused: list[str] = field(default_factory=list)


_blocks: list[ModelBlock] = []
"""The blocks in force, innermost last."""


@contextmanager
def _push(block: ModelBlock) -> Iterator[ModelBlock]:
    _blocks.append(block)
    try:
        yield block
    finally:
        _blocks.remove(block)


def block_real_models(reason: str = "real models are blocked") -> AbstractContextManager[ModelBlock]:
    """Refuse every real model call inside the block with `RealModelBlockedError`; yields the record of the
    refused calls."""
    return _push(ModelBlock(reason))


def allow_real_models() -> AbstractContextManager[ModelBlock]:
    """Let real model calls through inside the block, even within a `block_real_models` block."""
    return _push(ModelBlock("real models are allowed", blocking=False))


def real_models_blocked() -> bool:
    """Whether a real model call would be refused here."""
    return bool(_blocks) and _blocks[-1].blocking


def check_real_model_call(what: str) -> None:
    """Raise `RealModelBlockedError` naming `what` (the server or model about to be used) when blocked."""
    block = _blocks[-1] if _blocks else None
    if block is None or not block.blocking:
        return
    block.refused.append(what)
    raise RealModelBlockedError(
        f"{what} refused: {block.reason}. Use a fake model (sleuth.testing.ScriptedLLM, SchemaLLM, or "
        "sleuth.testing.override(llm=...)), or mark the test that means to call a real model."
    )
