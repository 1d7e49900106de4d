"""How many model calls an optimization job makes, counted on fakes, to budget a real run (no model is run).

    .venv/bin/python bench/optimize_calls.py [DATASET] [--budget 300] [--seed-prompts minimal] [--roles a,b]

Runs `sleuth optimize --method both` (GEPA then the TextGrad-style baseline, same splits and budget) on the
dataset's real questions and corpus (BM25, as the job does) with the default splits, but with two fakes: a
reader whose answers depend on the candidate prompt (right on a pseudo-random 30% of (prompt, question) pairs,
so candidates differ, some win minibatches and cost validation runs, as real ones do), and a reflection model
that adds a numbered rule and, one time in four, pastes a training answer (refused by the guard and re-asked,
as a real small model's copies are). Prints one JSON object: per method the metric calls, agent runs (what the
eval cache did not spare), reading calls, reflection calls and accepted candidates, and the time those counts
take at the given per-call costs (defaults: a 0.5B grounded rollout ~5 s, a 1.5B reflection call ~15 s, on
2 cores). The search itself is seeded, so the counts are those of this dataset, seed and budget.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sleuth.config import Settings
from sleuth.evals.datasets import load_dataset
from sleuth.optimizers.config import OptimizeConfig
from sleuth.optimizers.jobs import run_job
from sleuth.testing import Call, ScriptedLLM

_QUESTION = re.compile(r"Question: (.+)")
_GOLD = re.compile(r"the gold answer is '([^'|]+)")


def fake_models(golds: dict[str, str]) -> tuple[ScriptedLLM, ScriptedLLM]:
    """The prompt-sensitive reader and the reflection model (see the module docstring)."""
    rules = {"n": 0}

    def read(call: Call) -> dict[str, Any]:
        user = str(call.messages[-1]["content"])
        question = (_QUESTION.findall(user) or [""])[-1].strip()
        key = f"{call.messages[0]['content']}\n{user.rsplit(chr(10), 1)[-1]}\n{question}"
        right = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 100 < 30
        passages = user.split("Passages:\n", 1)[-1]
        answer = golds.get(question, "") if right else (passages.split("\n")[1][:40] if "\n" in passages else "")
        return {"answer": answer} if call.schema_name == "FinalReading" else {"answer": answer, "next_search": ""}

    def reflect(call: Call) -> str:
        prompt = call.prompt
        if "Write a short critique" in prompt:
            return "The instructions do not say how short the answer must be."
        rules["n"] += 1
        current = re.search(r"```\n(.*?)\n```", prompt, re.DOTALL)
        text = current.group(1).strip() if current else ""
        gold = _GOLD.search(prompt)
        if rules["n"] % 4 == 0 and gold:
            return f"```\n{text}\n{rules['n']}. When unsure, answer {gold.group(1)}.\n```"
        return f"```\n{text}\n{rules['n']}. Copy the shortest span of a passage that answers (rule {rules['n']}).\n```"

    return ScriptedLLM(fn=read), ScriptedLLM(fn=reflect)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    dataset = load_dataset(args.dataset)
    golds = {e.question.strip(): e.answers[0] for e in dataset.examples if e.answers}
    reader, reflection = fake_models(golds)
    with tempfile.TemporaryDirectory() as tmp:
        config = OptimizeConfig(
            dataset=args.dataset,
            out=Path(tmp) / "job",
            budget=args.budget,
            method="both",
            metric="f1",
            seed_prompts=args.seed_prompts,
            roles=args.roles.split(",") if args.roles else None,
        )
        events: list[dict[str, Any]] = []
        started = time.perf_counter()
        result = await run_job(config, Settings(), reader, reflection_llm=reflection, on_event=events.append)
        wall = time.perf_counter() - started
    report = result.report
    methods = {}
    for name, method in report["methods"].items():
        runs, reflections = method["agent_runs"], method["reflection_calls"]
        methods[name] = {
            "metric_calls": method["metric_calls_used"],
            "agent_runs": runs,
            "reflection_calls": reflections,
            "accepted_candidates": len(method["candidates"]) - 1,
            "refused_proposals": method["refused_proposals"],
            "stopped_by": method["stopped_by"],
            "hours_at_cost": round((runs * args.rollout_s + reflections * args.reflection_s) / 3600, 2),
        }
    runs = sum(m["agent_runs"] for m in methods.values())
    reflections = sum(m["reflection_calls"] for m in methods.values())
    return {
        "dataset": args.dataset,
        "seed_prompts": args.seed_prompts,
        "roles": report["roles"],
        "budget_per_method": args.budget,
        "split": {k: report["split"][k] for k in ("train", "val", "test")},
        "warnings": report["warnings"],
        "methods": methods,
        "reading_calls": len(reader.calls),
        "reading_calls_per_agent_run": round(len(reader.calls) / max(1, runs), 2),
        "total_agent_runs": runs,
        "total_reflection_calls": reflections,
        "per_call_cost_s": {"rollout": args.rollout_s, "reflection": args.reflection_s},
        "total_hours_at_cost": round((runs * args.rollout_s + reflections * args.reflection_s) / 3600, 2),
        "fake_run_wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default="/work/shared/data/multihop_dev")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--seed-prompts", default="minimal")
    parser.add_argument("--roles", default="")
    parser.add_argument("--rollout-s", type=float, default=5.0)
    parser.add_argument("--reflection-s", type=float, default=15.0)
    print(json.dumps(asyncio.run(measure(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
