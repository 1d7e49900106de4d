"""Optimization jobs from the API: an `OptimizeRequest` turned into a `sleuth.optimizers.jobs` run."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from sleuth.config import Settings
from sleuth.server.schemas import OptimizeRequest

Optimizer = Callable[[OptimizeRequest, str, Callable[[Any], None]], Awaitable[Any]]
"""`await optimizer(request, job_id, emit)`: run one optimization job, reporting progress to `emit`."""


class DatasetNotFound(ValueError):
    """The request named a dataset the server does not hold."""


def dataset_path(settings: Settings, name: str) -> Path:
    """`demo` is the bundled set; any other name is a folder under `SLEUTH_HOME/datasets/` (no paths, so
    a caller cannot make the server read arbitrary files)."""
    if name == "demo":
        return Path(str(resources.files("sleuth") / "data" / "demo"))
    path = settings.home / "datasets" / name
    if not path.exists():
        raise DatasetNotFound(f"no dataset {name!r}: put it in {settings.home / 'datasets'}")
    return path


def make_optimizer(settings: Settings, sleuth: Any) -> Optimizer | None:
    """An optimizer running on the facade's model and patch store, or None without a facade."""
    if sleuth is None:
        return None
    from sleuth.optimizers import jobs  # imported late: GEPA is only loaded when a server can optimize
    from sleuth.optimizers.config import OptimizeConfig

    async def optimize(request: OptimizeRequest, job_id: str, emit: Callable[[Any], None]) -> Any:
        if getattr(sleuth, "llm", None) is None:
            raise RuntimeError("this server has no model to optimize with")
        fields = request.model_dump(exclude={"dataset"})
        config = OptimizeConfig(
            **fields, dataset=str(dataset_path(settings, request.dataset)), out=settings.home / "optimize" / job_id
        )

        def on_event(event: dict[str, Any]) -> None:
            emit({"type": "progress", "node": "optimizer", "data": event, "t": time.time()})

        patches = getattr(sleuth, "patches", None)
        result = await jobs.run_job(config, settings, sleuth.llm, patch_store=patches, on_event=on_event)
        return {"out": str(config.out), "best_prompts": str(config.out / "best"), "report": result.report}

    return optimize
