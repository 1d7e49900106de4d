"""GEPA over sleuth's prompt roles: the `GEPAAdapter`, the reflection model as gepa's `str -> str` callable,
and `run_gepa`, which calls `gepa.optimize` with GEPA's defaults plus merge, gepa's stop conditions and a
guarded proposal step.

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

from sleuth.agents.events import ProgressSink
from sleuth.evals.datasets import QAExample
from sleuth.llm.base import ChatModel, GenParams, Message
from sleuth.llm.pricing import PriceTable
from sleuth.optimizers.base import Metric, Outcome, Rollout, Score, Task
from sleuth.optimizers.briefs import reflection_template
from sleuth.optimizers.cache import EvalCache
from sleuth.optimizers.events import EventRecorder, FileLogger
from sleuth.optimizers.guards import ProposalGuard
from sleuth.optimizers.reflective import Trace, reflective_dataset
from sleuth.optimizers.replies import first_new_text, tidy_reflection, with_refusal
from sleuth.optimizers.stopping import Stoppers
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


class SleuthAdapter:
    """A `gepa.GEPAAdapter` whose candidate is a partial prompt set (role -> text) for one agent.

    Args:
        task: runs the agent on one example (`AskTask` or `ResearchTask`).
        metric: scores a rollout and writes feedback.
        base: the full prompt set the candidate's roles are laid over.
        loop: the event loop the rollouts run on (the model clients belong to it).
        concurrency: rollouts of one batch in flight at once.
        cache: scores kept across a resume.
    """

    propose_new_texts: Proposer | None = None
    """Set by `run_gepa`: gepa's own proposal step, re-asked when a reply fails the job's guard."""

    def __init__(
        self,
        task: Task,
        metric: Metric,
        base: PromptSet,
        loop: asyncio.AbstractEventLoop,
        *,
        concurrency: int = 4,
        cache: EvalCache | None = None,
    ) -> None:
        self.task, self.metric, self.base, self.loop = task, metric, base, loop
        self.concurrency = max(1, concurrency)
        self.cache = cache or EvalCache(None)
        self.rollouts_run = 0
        """Agent runs actually made (cache hits excluded)."""

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
        return reflective_dataset(list(eval_batch.trajectories or []), components_to_update, candidate)


class Proposer:
    """gepa's default proposal (the role's reflection template rendered and parsed by gepa's
    `InstructionProposalSignature`) with one change: each reply must pass the job's `ProposalGuard` (not empty,
    not a copy, not over the growth cap, no training data copied in) and is re-asked while it fails
    (`first_new_text`), as the baseline's rewrite is. A role with no acceptable reply is left out; with none
    at all gepa skips the iteration without running the candidate."""

    def __init__(self, reflection_lm: Callable[[str], str], guard: ProposalGuard | None = None) -> None:
        self.reflection_lm = reflection_lm
        self.guard = guard

    def __call__(
        self,
        candidate: dict[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components_to_update: list[str],
    ) -> dict[str, str]:
        from gepa.strategies.instruction_proposal import InstructionProposalSignature as Signature

        texts = {}
        for role in components_to_update:
            records = reflective_dataset[role]
            prompt = Signature.prompt_renderer(
                {
                    "current_instruction_doc": candidate[role],
                    "dataset_with_feedback": records,
                    "prompt_template": reflection_template(role),
                }
            )
            assert isinstance(prompt, str)  # a list comes back only for image records, which sleuth has none of

            def ask(refusal: str | None, prompt: str = prompt) -> str:
                reply = tidy_reflection(self.reflection_lm(with_refusal(prompt, refusal)))
                return Signature.output_extractor(reply)["new_instruction"]

            check = None
            if self.guard is not None:
                if self.guard.leaks is not None:  # what the reflection model reads is training material too
                    self.guard.leaks.observe(shown_texts(records))

                def check(text: str, role: str = role, guard: ProposalGuard = self.guard) -> str | None:
                    return guard.check(role, text, candidate)

            text = first_new_text(ask, candidate[role], check)
            if text is not None:
                texts[role] = text
        return texts


def shown_texts(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The inputs and outputs of reflective records (passages, transcripts), not the feedback we wrote."""
    texts = []
    for record in records:
        inputs = record.get("Inputs", {})
        texts += [str(v) for v in (inputs.values() if isinstance(inputs, Mapping) else [inputs])]
        texts.append(str(record.get("Generated Outputs", "")))
    return texts


class ReflectionModel:
    """Our async `ChatModel` as gepa's `reflection_lm`: a blocking `prompt -> text` callable."""

    def __init__(
        self,
        llm: ChatModel,
        loop: asyncio.AbstractEventLoop,
        params: GenParams,
        log_path: Path | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.llm, self.loop, self.params = llm, loop, params
        self.log_path = log_path
        """Each raw reply is appended here: what a weak reflection model wrote explains an odd proposal."""
        self.prices = prices or PriceTable()
        self.calls = 0
        self.total_cost = 0.0
        """USD spent, as gepa's `MaxReflectionCostStopper` reads it (a model the price table lacks adds 0)."""
        self.unpriced = 0
        """Calls whose model the price table does not name (their cost is unknown, not 0)."""

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
        completion = run_on_loop(self.loop, self.llm.complete(messages, params=self.params, agent="reflection"))
        text = completion.text
        cost = (
            0.0
            if completion.cached
            else self.prices.cost(completion.model, completion.prompt_tokens, completion.completion_tokens)
        )
        if cost is None:
            self.unpriced += 1
        else:
            self.total_cost += cost
        if self.log_path is not None:
            latency = round(time.perf_counter() - started, 1)
            row = {"call": self.calls, "prompt": messages[-1]["content"], "reply": text, "latency_s": latency}
            with self.log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return text


def run_gepa(
    adapter: SleuthAdapter,
    seed: dict[str, str],
    train: list[QAExample],
    val: list[QAExample],
    *,
    reflection_lm: ReflectionModel,
    stoppers: Stoppers,
    run_dir: Path,
    guard: ProposalGuard | None = None,
    minibatch_size: int = 3,
    accept_ties: bool = False,
    seed_value: int = 0,
    merge: bool = True,
    max_merges: int = 5,
    skip_perfect: bool = True,
    on_event: ProgressSink | None = None,
) -> Outcome:
    """Optimize `seed` with `gepa.optimize`: Pareto selection, round-robin over roles, strict improvement on
    the minibatch (a tie too with `accept_ties`), perfect minibatches skipped (unless not `skip_perfect`), merges of candidates that improved different roles (`merge`),
    until one of `stoppers` fires; resumes when `run_dir` holds a saved state (`gepa.stop` there ends it)."""
    import gepa

    run_dir.mkdir(parents=True, exist_ok=True)
    adapter.propose_new_texts = Proposer(reflection_lm, guard)
    result: Any = gepa.optimize(
        seed_candidate=seed,
        trainset=train,
        valset=val,
        adapter=cast(Any, adapter),  # structurally a GEPAAdapter; gepa's generics cannot see it
        reflection_lm=None,  # the adapter's proposer calls `reflection_lm`
        candidate_selection_strategy="pareto",
        module_selector="round_robin",
        reflection_minibatch_size=minibatch_size,
        skip_perfect_score=skip_perfect,
        acceptance_criterion="improvement_or_equal" if accept_ties else "strict_improvement",
        use_merge=merge and len(seed) > 1,  # a merge combines roles: with one role there is nothing to combine
        max_merge_invocations=max_merges,
        stop_callbacks=stoppers,
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
        stopped_by=stoppers.fired,
    )
