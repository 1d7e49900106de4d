"""One method's part of a job: its guarded, stoppable search over the shared splits, then its winner and the
seed scored on the held-out test questions and the correction questions, with the paired bootstrap interval."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleuth.agents.events import ProgressSink
from sleuth.evals.datasets import QAExample
from sleuth.evals.stats import PairedDelta, paired_bootstrap
from sleuth.llm.base import ChatModel, GenParams
from sleuth.llm.pricing import PriceTable
from sleuth.optimizers.base import Outcome
from sleuth.optimizers.config import Method, OptimizeConfig
from sleuth.optimizers.gepa_adapter import ReflectionModel, SleuthAdapter, run_gepa
from sleuth.optimizers.guards import LeakGuard, ProposalGuard
from sleuth.optimizers.splits import Split
from sleuth.optimizers.stopping import Stoppers
from sleuth.optimizers.textgrad import run_textgrad


@dataclass
class Scored:
    """Seed and winner scored per question on one set of questions, and the winner-minus-seed interval."""

    ids: list[str]
    seed: list[float]
    best: list[float]
    delta: PairedDelta | None
    """None for no questions."""

    @property
    def regressed(self) -> list[str]:
        """Questions the winner scores below the seed on."""
        return [i for i, a, b in zip(self.ids, self.seed, self.best, strict=True) if b < a]

    @property
    def improved(self) -> list[str]:
        """Questions the winner scores above the seed on. With `regressed`, this says how much of the agent's
        behaviour the prompts reach: a mean gain from 3 answers up and 3 down is not a rule that works."""
        return [i for i, a, b in zip(self.ids, self.seed, self.best, strict=True) if b > a]

    def to_json(self) -> dict[str, Any]:
        mean = _mean(self.seed), _mean(self.best)
        return {
            "questions": len(self.ids),
            "seed": mean[0],
            "best": mean[1],
            "delta": self.delta.to_json() if self.delta else None,
            "regressed": self.regressed,
            "improved": self.improved,
            "per_question": {i: [a, b] for i, a, b in zip(self.ids, self.seed, self.best, strict=True)},
        }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass
class MethodResult:
    """What one method found and how its winner did on questions the search never saw."""

    method: Method
    outcome: Outcome
    best: dict[str, str]
    test: Scored
    corrections: Scored
    counts: dict[str, Any] = field(default_factory=dict)
    """This method's agent runs, reflection calls, reflection cost and guard refusals over all sessions."""


async def score_each(adapter: SleuthAdapter, examples: list[QAExample], candidate: dict[str, str]) -> list[float]:
    """`candidate`'s score on each of `examples`, in order (cached runs are not repeated)."""
    if not examples:
        return []
    traces = await adapter.evaluate_async(examples, candidate, capture_traces=False)
    return [t.score.value for t in traces]


async def held_out(
    adapter: SleuthAdapter, examples: list[QAExample], seed: dict[str, str], best: dict[str, str], rng_seed: int
) -> Scored:
    """Seed and winner on `examples`, with the paired bootstrap interval of the difference."""
    seed_scores = await score_each(adapter, examples, seed)
    best_scores = seed_scores if best == seed else await score_each(adapter, examples, best)
    delta = paired_bootstrap(seed_scores, best_scores, seed=rng_seed) if examples else None
    return Scored([e.id for e in examples], seed_scores, best_scores, delta)


def add_counts(path: Path, method: str, **session: Any) -> dict[str, Any]:
    """This session's counts added to those of earlier sessions of the job (a resumed job reports its whole
    cost, not just the last session's); nested counts (guard refusals by reason) are added key by key."""
    totals = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    mine = totals.setdefault(method, {})
    for key, value in session.items():
        if isinstance(value, dict):
            inner = mine.setdefault(key, {})
            for k, v in value.items():
                inner[k] = inner.get(k, 0) + v
        else:
            mine[key] = mine.get(key, 0) + value
    path.write_text(json.dumps(totals), encoding="utf-8")
    return mine


@dataclass
class MethodRun:
    """What every method of a job shares: the adapter over one task and cache, the splits, the seed and
    its length caps, the training material the leak guard checks, and the job's event log."""

    config: OptimizeConfig
    adapter: SleuthAdapter
    split: Split
    corrections: list[QAExample]
    seed: dict[str, str]
    caps: dict[str, int]
    leaks: Callable[[], LeakGuard]
    """A fresh leak guard per method: what one method's reflection was shown must not judge the other's."""
    reflection_llm: ChatModel
    params: GenParams
    prices: PriceTable
    record: ProgressSink

    async def run(self, method: Method) -> MethodResult:
        config, adapter = self.config, self.adapter
        run_dir = config.out / method
        run_dir.mkdir(parents=True, exist_ok=True)
        stop_file = run_dir / f"{method}.stop"
        stop_file.unlink(missing_ok=True)  # a stop file ended the last run; running the job again means "go on"
        loop = asyncio.get_running_loop()
        reflection = ReflectionModel(
            self.reflection_llm, loop, self.params, log_path=run_dir / "reflections.jsonl", prices=self.prices
        )

        def record(event: dict[str, Any]) -> None:
            self.record({"method": method, **event})

        guard = ProposalGuard(self.seed, self.caps, self.leaks(), on_reject=record)
        stoppers = Stoppers.for_job(config, stop_file, reflection)
        options: dict[str, Any] = {
            "reflection_lm": reflection,
            "stoppers": stoppers,
            "run_dir": run_dir,
            "guard": guard,
            "minibatch_size": config.minibatch_size,
            "accept_ties": config.accept_ties,
            "seed_value": config.seed,
            "on_event": record,
        }
        if method == "gepa":
            options.update(merge=config.merge, max_merges=config.max_merges, skip_perfect=config.skip_perfect)
        runner: Callable[..., Outcome] = run_gepa if method == "gepa" else run_textgrad
        runs_before = adapter.rollouts_run
        try:
            outcome = await asyncio.to_thread(
                runner, adapter, self.seed, self.split.train, self.split.val + self.corrections, **options
            )
            best = outcome.candidates[outcome.best_idx]
            record({"event": "test", "questions": len(self.split.test)})
            test = await held_out(adapter, self.split.test, self.seed, best, config.seed)
            corrections = await held_out(adapter, self.corrections, self.seed, best, config.seed)
        finally:  # a session that crashes has still spent its runs: the resumed job's report counts them
            counts = add_counts(
                config.out / "counts.json",
                method,
                agent_runs=adapter.rollouts_run - runs_before,
                reflection_calls=reflection.calls,
                reflection_cost_usd=reflection.total_cost,
                reflection_unpriced=reflection.unpriced,
                guard=dict(guard.rejected),
            )
        return MethodResult(method, outcome, best, test, corrections, counts)
