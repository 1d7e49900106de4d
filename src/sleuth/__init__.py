"""sleuth: deep-research assistants that search, do not guess, learn from corrections and tune their prompts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sleuth.config import Settings

if TYPE_CHECKING:
    from sleuth.api import Sleuth

__version__ = "0.1.0"
__all__ = ["Settings", "Sleuth", "__version__"]


def __getattr__(name: str) -> Any:
    # `Sleuth` pulls in LangGraph and the retrieval stack: load it on first use, so `sleuth --help` stays fast.
    if name == "Sleuth":
        from sleuth.api import Sleuth

        return Sleuth
    raise AttributeError(name)
