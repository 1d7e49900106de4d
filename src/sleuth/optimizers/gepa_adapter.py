"""GEPA over sleuth's prompt roles: the `GEPAAdapter`, the reflection model as gepa's `str -> str` callable,
and `run_gepa`, which calls `gepa.optimize` with GEPA's defaults.

gepa is synchronous and our models are async: the job runs gepa in a worker thread and the adapter sends
each batch to the job's event loop, where its rollouts run concurrently under a semaphore.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from gepa import EvaluationBatch

from sleuth.evals.datasets import QAExample
from sleuth.evals.jobs import EventSink
from sleuth.llm.base import ChatModel, GenParams, Message
from sleuth.optimizers.base import Metric, Outcome, Rollout, Score, Task
from sleuth.optimizers.cache import EvalCache
from sleuth.optimizers.reflective import (
    Trace,
    first_new_text,
    reflection_template,
    reflective_dataset,
    tidy_reflection,
)
from sleuth.prompts.sets import PromptSet

T = TypeVar("T")


def run_on_loop(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on `loop` (owned by another thread) and wait for its result."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError("the optimizer must run in a worker thread, not on the event loop it drives")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def prompt_lengths(candidate: dict[str, str]) -> dict[str, int]:
    """Characters per role: how much each prompt grew."""
    return {role: len(text) for role, text in sorted(candidate.items())}


class SleuthAdapter:
    """A `gepa.GEPAAdapter` whose candidate is a partial prompt set (role -> text) for one agent.

    Args:
        task: runs the agent on one example (`AskTask` or `ResearchTask`).
        metric: scores a rollout and writes feedback.
        base: the full prompt set the candidate's roles are laid over.
        loop: the event loop the rollouts run on (the model clients belong to it).
        concurrency: rollouts of one batch in flight at once.
        max_prompt_chars: reject (score 0, no model calls) a candidate with a longer prompt in any role.
        cache: scores kept across a resume.
    """

    propose_new_texts: Proposer | None = None
    """Set by `run_gepa`: gepa's own proposal step, re-asked when a reply is empty or a copy."""

    def __init__(
        self,
        task: Task,
        metric: Metric,
        base: PromptSet,
        loop: asyncio.AbstractEventLoop,
        *,
        concurrency: int = 4,
        max_prompt_chars: int | None = None,
        cache: EvalCache | None = None,
    ) -> None:
        self.task, self.metric, self.base, self.loop = task, metric, base, loop
        self.concurrency = max(1, concurrency)
        self.max_prompt_chars = max_prompt_chars
        self.cache = cache or EvalCache(None)
        self.rollouts_run = 0
        """Agent runs actually made (cache hits and capped candidates excluded)."""

    def over_cap(self, candidate: dict[str, str]) -> list[str]:
        if self.max_prompt_chars is None:
            return []
        return [role for role, text in candidate.items() if len(text) > self.max_prompt_chars]

    def evaluate(
        self, batch: list[QAExample], candidate: dict[str, str], capture_traces: bool = False
    ) -> EvaluationBatch[Trace, dict[str, Any]]:
        """Score `candidate` on `batch`. Never raises for an example: a failure scores 0 with its error."""
        traces = run_on_loop(self.loop, self.evaluate_async(batch, candidate, capture_traces))
        outputs = [self._output(t) for t in traces]
        return EvaluationBatch(
            outputs=outputs,
            scores=[t.score.value for t in traces],
            trajectories=traces if capture_traces else None,
        )

    async def evaluate_async(
        self, batch: Sequence[QAExample], candidate: dict[str, str], capture_traces: bool = True
    ) -> list[Trace]:
        too_long = self.over_cap(candidate)
        if too_long:
            reason = (
                f"rejected without running: the prompt of {', '.join(too_long)} is over the cap of "
                f"{self.max_prompt_chars} characters"
            )
            return [Trace(Rollout(ex, error=reason), Score(0.0, reason, {"over_cap": 1.0})) for ex in batch]
        prompts = self.base.with_prompts(candidate, name="candidate")
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(example: QAExample) -> Trace:
            key = self.cache.key(candidate, example)
            cached = self.cache.get(key)
            # A row written before rollouts were kept has only the score: reflection needs the whole run.
            if cached is not None and (not capture_traces or "rollout" in cached):
                rollout = Rollout.from_json(example, cached.get("rollout") or cached)
                return Trace(rollout, Score(cached["score"], cached.get("feedback", ""), cached.get("parts", {})))
            async with semaphore:
                trace = await self._rollout(example, prompts)
            if trace.rollout.error is None:  # a timeout may pass: never keep a failure for a resume
                self.cache.put(key, self._cache_row(trace))
            return trace

        return list(await asyncio.gather(*(one(example) for example in batch)))

    async def _rollout(self, example: QAExample, prompts: PromptSet) -> Trace:
        self.rollouts_run += 1
        try:
            rollout = await self.task.run(example, prompts)
        except Exception as exc:  # the adapter never raises: a failed run scores 0 and says why
            rollout = Rollout(example, error=f"{type(exc).__name__}: {exc}")
        try:
            score = await self.metric.score(rollout)
        except Exception as exc:
            score = Score(0.0, f"The metric failed: {type(exc).__name__}: {exc}", {"error": 1.0})
        return Trace(rollout, score)

    @staticmethod
    def _output(trace: Trace) -> dict[str, Any]:
        return {
            "id": trace.rollout.example.id,
            "answer": trace.rollout.answer,
            "score": trace.score.value,
            "feedback": trace.score.feedback,
            "error": trace.rollout.error,
        }

    @classmethod
    def _cache_row(cls, trace: Trace) -> dict[str, Any]:
        """The output plus the whole rollout: gepa re-runs the parent on each minibatch with traces for
        reflection, and at temperature 0 on one server slot that run would repeat the cached one."""
        return {**cls._output(trace), "parts": trace.score.parts, "rollout": trace.rollout.to_json()}

    def make_reflective_dataset(
        self,
        candidate: dict[str, str],
        eval_batch: EvaluationBatch[Trace, dict[str, Any]],
        components_to_update: list[str],
    ) -> dict[str, list[dict[str, Any]]]:
        """Each role's own inputs, outputs and feedback (see `sleuth.optimizers.reflective`)."""
        return reflective_dataset(list(eval_batch.trajectories or []), components_to_update)


class Proposer:
    """gepa's default proposal (the role's reflection template rendered and parsed by gepa's
    `InstructionProposalSignature`) with one change: a reply that is empty or a copy of the current text is
    re-asked (`first_new_text`), as the baseline's rewrite is, instead of spending a minibatch on it."""

    def __init__(self, reflection_lm: Callable[[str], str]) -> None:
        self.reflection_lm = reflection_lm

    def __call__(
        self,
        candidate: dict[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components_to_update: list[str],
    ) -> dict[str, str]:
        from gepa.strategies.instruction_proposal import InstructionProposalSignature as Signature

        texts = {}
        for role in components_to_update:
            prompt = Signature.prompt_renderer(
                {
                    "current_instruction_doc": candidate[role],
                    "dataset_with_feedback": reflective_dataset[role],
                    "prompt_template": reflection_template(role),
                }
            )
            assert isinstance(prompt, str)  # a list comes back only for image records, which sleuth has none of

            def ask(prompt: str = prompt) -> str:
                reply = tidy_reflection(self.reflection_lm(prompt))
                return Signature.output_extractor(reply)["new_instruction"]

            texts[role] = first_new_text(ask, candidate[role])
        return texts


class ReflectionModel:
    """Our async `ChatModel` as gepa's `reflection_lm`: a blocking `prompt -> text` callable."""

    def __init__(
        self, llm: ChatModel, loop: asyncio.AbstractEventLoop, params: GenParams, log_path: Path | None = None
    ) -> None:
        self.llm, self.loop, self.params = llm, loop, params
        self.log_path = log_path
        """Each raw reply is appended here: what a weak reflection model wrote explains an odd proposal."""
        self.calls = 0

    def __call__(self, prompt: str | list[dict[str, Any]]) -> str:
        messages: list[Message]
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        else:  # gepa sends a message list only for images; keep the text parts
            messages = [
                {
                    "role": m.get("role", "user"),
                    "content": m["content"]
                    if isinstance(m["content"], str)
                    else " ".join(p.get("text", "") for p in m["content"]),
                }
                for m in prompt
            ]
        self.calls += 1
        started = time.perf_counter()
        text = run_on_loop(self.loop, self.llm.complete(messages, params=self.params, agent="reflection")).text
        if self.log_path is not None:
            latency = round(time.perf_counter() - started, 1)
            row = {"call": self.calls, "prompt": messages[-1]["content"], "reply": text, "latency_s": latency}
            with self.log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return text


class FileLogger:
    """gepa's logger, writing to a file only (gepa's own `Logger` swaps `sys.stdout`, which breaks progress
    bars and `--json` output)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def log(self, *args: Any, **kwargs: Any) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(" ".join(str(a) for a in args) + "\n")


class EventRecorder:
    """A gepa callback that turns gepa's events into sleuth's job events (see `sleuth.optimizers.jobs`)."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    def on_budget_updated(self, event: Any) -> None:
        self.sink(
            {"event": "budget", "used": event["metric_calls_used"], "remaining": event["metric_calls_remaining"]}
        )

    def on_valset_evaluated(self, event: Any) -> None:
        self.sink(
            {
                "event": "valset",
                "iteration": event["iteration"],
                "candidate": event["candidate_idx"],
                "score": event["average_score"],
                "parents": list(event["parent_ids"]),
                "lengths": prompt_lengths(event["candidate"]),
            }
        )

    def on_candidate_accepted(self, event: Any) -> None:
        self.sink(
            {
                "event": "accepted",
                "iteration": event["iteration"],
                "candidate": event["new_candidate_idx"],
                "minibatch_score": event["new_score"],
            }
        )

    def on_candidate_rejected(self, event: Any) -> None:
        self.sink(
            {
                "event": "rejected",
                "iteration": event["iteration"],
                "before": event["old_score"],
                "after": event["new_score"],
                "reason": event["reason"],
            }
        )

    def on_proposal_end(self, event: Any) -> None:
        self.sink(
            {
                "event": "proposal",
                "iteration": event["iteration"],
                "lengths": prompt_lengths(event["new_instructions"]),
                "texts": dict(event["new_instructions"]),
            }
        )


class CappedAcceptance:
    """GEPA's strict-improvement acceptance, plus: a candidate with a prompt over the cap is refused."""

    def __init__(self, max_prompt_chars: int | None) -> None:
        self.max_prompt_chars = max_prompt_chars

    def _too_long(self, proposal: Any) -> bool:
        limit = self.max_prompt_chars
        return limit is not None and any(len(t) > limit for t in proposal.candidate.values())

    def should_accept(self, proposal: Any, state: Any) -> bool:
        if self._too_long(proposal):
            return False
        return sum(proposal.subsample_scores_after or []) > sum(proposal.subsample_scores_before or [])

    def reject_reason(self, proposal: Any, state: Any) -> str:
        if self._too_long(proposal):
            return f"a prompt is over the cap of {self.max_prompt_chars} characters"
        return "no strict improvement on the minibatch"


def run_gepa(
    adapter: SleuthAdapter,
    seed: dict[str, str],
    train: list[QAExample],
    val: list[QAExample],
    *,
    reflection_lm: ReflectionModel,
    budget: int,
    run_dir: Path,
    minibatch_size: int = 3,
    seed_value: int = 0,
    on_event: EventSink | None = None,
) -> Outcome:
    """Optimize `seed` with `gepa.optimize` (Pareto selection, round-robin over roles, strict improvement,
    skip perfect minibatches) until `budget` metric calls; resumes when `run_dir` holds a saved state."""
    import gepa

    run_dir.mkdir(parents=True, exist_ok=True)
    adapter.propose_new_texts = Proposer(reflection_lm)
    result: Any = gepa.optimize(
        seed_candidate=seed,
        trainset=train,
        valset=val,
        adapter=cast(Any, adapter),  # structurally a GEPAAdapter; gepa's generics cannot see it
        reflection_lm=None,  # the adapter's proposer calls `reflection_lm`
        candidate_selection_strategy="pareto",
        module_selector="round_robin",
        reflection_minibatch_size=minibatch_size,
        skip_perfect_score=True,
        acceptance_criterion=CappedAcceptance(adapter.max_prompt_chars),
        max_metric_calls=budget,
        run_dir=str(run_dir),
        callbacks=[cast(Any, EventRecorder(on_event))] if on_event else None,
        logger=FileLogger(run_dir / "gepa_log.txt"),
        seed=seed_value,
        display_progress_bar=False,
    )
    return Outcome(
        method="gepa",
        candidates=[dict(c) for c in result.candidates],
        parents=[list(p) for p in result.parents],
        val_scores=list(result.val_aggregate_scores),
        val_subscores=[{int(k): float(v) for k, v in s.items()} for s in result.val_subscores],
        discovered_at=list(result.discovery_eval_counts),
        total_metric_calls=int(result.total_metric_calls or 0),
        pareto={int(k): set(v) for k, v in result.per_val_instance_best_candidates.items()},
    )
