"""The orchestrator node: plans a round of search tasks from the question, patches and what is unknown."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.nodes.base import NodeRun, chat, patch_evidence, patch_records, render_patches
from sleuth.agents.research.state import ResearchState, Task
from sleuth.llm.base import StructuredOutputError
from sleuth.llm.structured import generate
from sleuth.text import prompt_literal


class PlannedTask(BaseModel):
    # String length caps become grammar limits in llama.cpp: a small model that starts repeating itself
    # is cut off in the field instead of filling the token budget and breaking the JSON.
    query: str = Field(max_length=160, description="A full natural-language search query.")
    instructions: str = Field("", max_length=160, description="What to look for in the passages this query finds.")


class Plan(BaseModel):
    """The orchestrator's output: the searches of the next round (empty: nothing left to search)."""

    tasks: list[PlannedTask] = Field(max_length=3)
    """At most 3: small models otherwise keep listing tasks until the token cap cuts the JSON."""


def plan_prompt(state: ResearchState) -> str:
    parts = [f"QUESTION: {state['question']}"]
    patches = render_patches(state.get("patches") or [])
    if patches:
        parts.append(patches)
    # Queries, findings and unknowns are model text about passages: quoted, so none can open a section.
    for record in state.get("rounds") or []:
        queries = "; ".join(prompt_literal(t["query"]) for t in record["tasks"])
        found = prompt_literal(record["summary"]) if record["summary"] else "(nothing)"
        parts.append(f"ROUND {record['round']} searched: {queries}\nfound: {found}")
    if state.get("rounds"):
        unknown = state.get("unknown") or []
        parts.append("STILL UNKNOWN:\n" + "\n".join(f"- {prompt_literal(u)}" for u in unknown))
    return "\n\n".join(parts)


async def orchestrator(state: ResearchState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Plan the next round's tasks; the first round always gets at least one (the question itself)."""
    deps = runtime.context
    round_ = state.get("round", 0) + 1
    run = NodeRun(deps, "orchestrator", round=round_, max_tokens=256)
    update: dict[str, Any] = {"round": round_}
    if round_ == 1:
        views = deps.patches.relevant(state["question"], collection=deps.collection, tenant=deps.tenant)
        patches = patch_records(views)
        update["patches"] = patches
        update["evidence"] = patch_evidence(patches, round_)
        if patches:
            deps.events.emit("patches", "orchestrator", ids=[p["id"] for p in patches])
        state = {**state, "patches": patches}
    if round_ == 1 and deps.settings.max_tasks_per_round <= 1:
        # The question itself is round 1's only task: nothing to plan, no LLM call.
        question_only: list[Task] = [
            {"query": state["question"], "instructions": "Find passages that answer the question."}
        ]
        return run.finish({**update, "tasks": question_only}, tasks=[state["question"]])
    try:
        plan = await generate(
            run.llm,
            chat(deps.prompts["orchestrator"], plan_prompt(state)),
            Plan,
            agent="orchestrator",
            params=run.params,
        )
        tasks: list[Task] = [
            {"query": t.query.strip(), "instructions": t.instructions.strip()}
            for t in plan.tasks
            if t.query.strip()
        ]
    except StructuredOutputError as exc:
        run.log.add_error("orchestrator", str(exc), exc.raw_outputs)
        run.warn(f"plan was not valid JSON; searching the question itself ({exc})")
        tasks = []
    if round_ == 1:
        # The first round always searches the question as asked (a full natural-language query, as in
        # the ASP paper): small planners often paraphrase a question into a wrong one, and an invalid or
        # empty plan must still lead to a search.
        tasks.insert(0, {"query": state["question"], "instructions": "Find passages that answer the question."})
    seen = {call["query"].casefold() for call in state.get("search_calls") or []}
    unique: list[Task] = []
    for task in tasks:  # no query twice in a run
        if task["query"].casefold() not in seen:
            seen.add(task["query"].casefold())
            unique.append(task)
    tasks = unique[: deps.settings.max_tasks_per_round]
    update["tasks"] = tasks
    return run.finish(update, tasks=[t["query"] for t in tasks])
