"""A TextGrad-style baseline: critique a role's prompt from feedback ("textual gradient"), rewrite it, keep
one candidate, and accept a rewrite only when it improves, under the same metric-call budget as GEPA.

Differences from GEPA, on purpose: no population or Pareto front (always the current best), and the
rewrite goes through an explicit critique step. The same guard refuses proposals, and the same gepa stop
conditions end it (`stopping.Stoppers`). Resumable: its state is a JSON file in the run dir;
`touch RUN_DIR/textgrad.stop` ends it cleanly after the current iteration.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from sleuth.agents.events import ProgressSink
from sleuth.evals.datasets import QAExample
from sleuth.optimizers.base import Outcome
from sleuth.optimizers.briefs import brief, rewrite_rules
from sleuth.optimizers.events import prompt_lengths
from sleuth.optimizers.gepa_adapter import SleuthAdapter, shown_texts
from sleuth.optimizers.guards import ProposalGuard
from sleuth.optimizers.reflective import role_records
from sleuth.optimizers.replies import first_new_text, tidy_reflection, with_refusal
from sleuth.optimizers.stopping import LoopState, Stoppers

CRITIC_PROMPT = """You review the instructions of {job}.

Its current instructions:
```
{text}
```

How it did with them on some questions (its input, its output, and feedback):

{records}

Write a short critique: the two to four problems in these instructions that most likely caused the errors
above (look for: {mistakes}), and how to fix each one. Do not rewrite the instructions yet."""

REWRITE_PROMPT = """You improve the instructions of {job}.

Its current instructions:
```
{text}
```

A critique of them:
{critique}

{rules}"""

STATE_FILE = "textgrad_state.json"


def _propose(reflection_lm: Callable[[str], str], prompt: str, refusal: str | None) -> str:
    return extract_instruction(reflection_lm(with_refusal(prompt, refusal)))


def _render(records: list[dict[str, Any]]) -> str:
    parts = []
    for i, record in enumerate(records, 1):
        inputs = "; ".join(f"{k}: {v}" for k, v in record["Inputs"].items())
        parts.append(
            f"Example {i}\nInput: {inputs}\nOutput: {record['Generated Outputs']}\nFeedback: {record['Feedback']}"
        )
    return "\n\n".join(parts)


def extract_instruction(text: str) -> str:
    """The text inside the reply's ``` block (gepa's own extractor, so both methods parse alike)."""
    from gepa.strategies.instruction_proposal import InstructionProposalSignature

    return InstructionProposalSignature.output_extractor(tidy_reflection(text))["new_instruction"]


def _load_state(path: Path, seed: dict[str, str]) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {
        "candidates": [seed],
        "parents": [[None]],
        "val_scores": [],
        "val_subscores": [],
        "discovered_at": [0],
        "calls": 0,
        "iteration": 0,
        "current": 0,
    }


def run_textgrad(
    adapter: SleuthAdapter,
    seed: dict[str, str],
    train: list[QAExample],
    val: list[QAExample],
    *,
    reflection_lm: Callable[[str], str],
    stoppers: Stoppers,
    run_dir: Path,
    guard: ProposalGuard | None = None,
    minibatch_size: int = 3,
    accept_ties: bool = False,
    seed_value: int = 0,
    on_event: ProgressSink | None = None,
) -> Outcome:
    """Critique-then-rewrite one role per iteration (round-robin), keeping a single current candidate, until
    one of `stoppers` fires.

    A rewrite must pass `guard` (re-asked up to 3 times, as GEPA's proposals are); it is then scored on the
    same minibatch as the current prompt; only a strict improvement there (or a tie, with `accept_ties`) earns
    a validation run, and only a strictly better validation score makes it the current candidate.
    """
    emit = on_event or (lambda event: None)
    run_dir.mkdir(parents=True, exist_ok=True)
    state_path = run_dir / STATE_FILE
    state = _load_state(state_path, seed)
    roles = sorted(seed)

    def spend(n: int) -> None:
        state["calls"] += n
        remaining = max(0, stoppers.max_metric_calls - state["calls"])
        emit({"event": "budget", "used": state["calls"], "remaining": remaining})

    def stop() -> bool:
        view = LoopState(state["calls"], state["val_scores"], state["candidates"], state["iteration"])
        return stoppers(view)

    def save() -> None:
        state_path.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")

    def score_val(candidate: dict[str, str], parent: int | None) -> float:
        traces = adapter.evaluate(val, candidate).scores
        spend(len(val))
        index = len(state["val_scores"])
        state["val_scores"].append(sum(traces) / len(traces))
        state["val_subscores"].append({str(i): s for i, s in enumerate(traces)})
        emit(
            {
                "event": "valset",
                "iteration": state["iteration"],
                "candidate": index,
                "score": state["val_scores"][-1],
                "parents": [parent],
                "lengths": prompt_lengths(candidate),
            }
        )
        return state["val_scores"][-1]

    if not state["val_scores"]:
        score_val(seed, None)
        save()
    while not stop():
        state["iteration"] += 1
        current = state["candidates"][state["current"]]
        role = roles[(state["iteration"] - 1) % len(roles)]
        batch = random.Random(seed_value * 100_003 + state["iteration"]).sample(
            train, min(minibatch_size, len(train))
        )
        before = adapter.evaluate(batch, current, capture_traces=True)
        spend(len(batch))
        records = role_records(role, list(before.trajectories or []), current[role])
        role_brief = brief(role)
        critique = reflection_lm(
            CRITIC_PROMPT.format(
                job=role_brief.job, text=current[role], records=_render(records), mistakes=role_brief.mistakes
            )
        )
        rewrite = REWRITE_PROMPT.format(
            job=role_brief.job, text=current[role], critique=critique, rules=rewrite_rules(role)
        )
        check = None
        if guard is not None:
            if guard.leaks is not None:
                guard.leaks.observe(shown_texts(records))

            def check(
                text: str, guard: ProposalGuard = guard, role: str = role, current: dict[str, str] = current
            ) -> str | None:
                return guard.check(role, text, current)

        new_text = first_new_text(partial(_propose, reflection_lm, rewrite), current[role], check)
        if new_text is None:
            emit(
                {
                    "event": "rejected",
                    "iteration": state["iteration"],
                    "reason": "no proposal passed the guard",
                    "critique": critique,
                }
            )
            save()
            continue
        emit(
            {
                "event": "proposal",
                "iteration": state["iteration"],
                "lengths": {role: len(new_text)},
                "texts": {role: new_text},
                "critique": critique,
            }
        )
        candidate = {**current, role: new_text}
        if candidate in state["candidates"]:
            # Tried before (a tie let through, or a rewrite that lost on validation): its score is known.
            emit({"event": "rejected", "iteration": state["iteration"], "reason": "already validated"})
            save()
            continue
        after = adapter.evaluate(batch, candidate).scores
        spend(len(batch))
        old_sum, new_sum = sum(before.scores), sum(after)
        if new_sum < old_sum or (new_sum == old_sum and not accept_ties):
            emit(
                {
                    "event": "rejected",
                    "iteration": state["iteration"],
                    "before": old_sum,
                    "after": new_sum,
                    "reason": "worse than the current prompt on the minibatch"
                    if new_sum < old_sum
                    else "no strict improvement on the minibatch",
                }
            )
            save()
            continue
        state["candidates"].append(candidate)
        state["parents"].append([state["current"]])
        state["discovered_at"].append(state["calls"])
        best_so_far = state["val_scores"][state["current"]]
        if score_val(candidate, state["current"]) > best_so_far:
            state["current"] = len(state["candidates"]) - 1
            emit(
                {
                    "event": "accepted",
                    "iteration": state["iteration"],
                    "candidate": state["current"],
                    "minibatch_score": new_sum,
                }
            )
        else:
            emit(
                {
                    "event": "rejected",
                    "iteration": state["iteration"],
                    "before": best_so_far,
                    "after": state["val_scores"][-1],
                    "reason": "no improvement on the validation set",
                }
            )
        save()
    subscores = [{int(k): v for k, v in s.items()} for s in state["val_subscores"]]
    return Outcome(
        method="textgrad",
        candidates=state["candidates"],
        parents=state["parents"],
        val_scores=state["val_scores"],
        val_subscores=subscores,
        discovered_at=state["discovered_at"],
        total_metric_calls=state["calls"],
        pareto=_instance_front(subscores),
        stopped_by=stoppers.fired,
    )


def _instance_front(subscores: list[dict[int, float]]) -> dict[int, set[int]]:
    """Per validation example, the candidates with the best score on it."""
    front: dict[int, set[int]] = {}
    for example in sorted({k for s in subscores for k in s}):
        best = max(s.get(example, 0.0) for s in subscores)
        front[example] = {i for i, s in enumerate(subscores) if s.get(example, 0.0) == best}
    return front
