"""User corrections (PatchRAG patches): the store, their scoring, their rendering into prompts.

Names are loaded on first use, so `import sleuth.feedback.base` (which the agents do) stays light and
cannot form an import cycle.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "open_patch_store": "sleuth.feedback.api",
    "NoPatches": "sleuth.feedback.base",
    "PatchSource": "sleuth.feedback.base",
    "PatchView": "sleuth.feedback.base",
    "AddResult": "sleuth.feedback.models",
    "Patch": "sleuth.feedback.models",
    "PatchError": "sleuth.feedback.models",
    "PatchInput": "sleuth.feedback.models",
    "PatchNotFound": "sleuth.feedback.models",
    "PatchStatus": "sleuth.feedback.models",
    "PatchPolicy": "sleuth.feedback.policy",
    "render_patches": "sleuth.feedback.render",
    "PatchStore": "sleuth.feedback.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sleuth.feedback' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
