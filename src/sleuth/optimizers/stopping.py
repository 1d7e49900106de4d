"""When a search stops: gepa's own stop conditions, built once from the job's options and used by both methods
(the baseline's loop state has the few fields gepa's stoppers read), with the name of the one that fired."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gepa.utils import (
    FileStopper,
    MaxMetricCallsStopper,
    MaxReflectionCostStopper,
    NoImprovementStopper,
    StopperProtocol,
    TimeoutStopCondition,
)

from sleuth.optimizers.config import OptimizeConfig


@dataclass
class LoopState:
    """The fields of `gepa.core.state.GEPAState` that gepa's stoppers read, for the baseline's loop."""

    total_num_evals: int = 0
    program_full_scores_val_set: list[float] = field(default_factory=list)
    program_candidates: list[dict[str, str]] = field(default_factory=list)
    i: int = -1


class Stoppers:
    """gepa's stoppers for one method's search, as one `StopperProtocol`; `fired` names the first that
    said stop. Every stopper is asked each time, so `NoImprovementStopper` counts every iteration.

    Args:
        budget: metric calls (`MaxMetricCallsStopper`).
        stop_file: a file whose presence ends the search cleanly after the current iteration.
        no_improvement: iterations without a better validation score (`NoImprovementStopper`).
        timeout_s: seconds from now (`TimeoutStopCondition`).
        max_reflection_cost: USD of reflection calls (`MaxReflectionCostStopper`, reading `reflection.total_cost`).
    """

    def __init__(
        self,
        budget: int,
        stop_file: Path,
        *,
        no_improvement: int | None = None,
        timeout_s: float | None = None,
        max_reflection_cost: float | None = None,
        reflection: Any = None,
    ) -> None:
        named: list[tuple[str, StopperProtocol]] = [
            ("budget", MaxMetricCallsStopper(budget)),
            ("stop file", FileStopper(str(stop_file))),
        ]
        if no_improvement is not None:
            named.append(("no improvement", NoImprovementStopper(no_improvement)))
        if timeout_s is not None:
            named.append(("timeout", TimeoutStopCondition(timeout_s)))
        if max_reflection_cost is not None:
            named.append(("reflection cost", MaxReflectionCostStopper(max_reflection_cost, reflection)))
        self.named = named
        self.fired: str | None = None

    @classmethod
    def for_job(cls, config: OptimizeConfig, stop_file: Path, reflection: Any = None) -> Stoppers:
        """The stoppers `config` asks for (its clock starts now)."""
        return cls(
            config.budget,
            stop_file,
            no_improvement=config.no_improvement,
            timeout_s=config.timeout_min * 60 if config.timeout_min is not None else None,
            max_reflection_cost=config.max_reflection_cost,
            reflection=reflection,
        )

    @property
    def max_metric_calls(self) -> int:
        """The budget, where gepa's engine looks for it (its progress and `on_budget_updated` events)."""
        return next(s.max_metric_calls for _, s in self.named if isinstance(s, MaxMetricCallsStopper))

    def __call__(self, gepa_state: Any) -> bool:
        said = [name for name, stopper in self.named if stopper(gepa_state)]
        if said and self.fired is None:
            self.fired = said[0]
        return bool(said)
