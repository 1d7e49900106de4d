"""The heap of a long-lived process (the API server, the warm worker): what it loaded at start is frozen out
of the garbage collector's scans, so a full collection does not stall a run.

A full collection walks every tracked object: the modules, the compiled graph, pydantic's schemas and, in
the worker, the embedding model. In `bench/fanout.py` one landed in about one run of ten between the plan and
the readers' requests and took 60-70 ms of a 20 ms fan-out; objects that live as long as the process gain
nothing from being scanned.
"""

from __future__ import annotations

import gc


def freeze_loaded() -> None:
    """Collect once (no garbage is kept forever), then move every object alive now to the collector's
    permanent generation (`gc.freeze`): later collections scan only what was made after."""
    gc.collect()
    gc.freeze()
