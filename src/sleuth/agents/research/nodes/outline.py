"""The report's plan: the outline node drafts it from the first round's findings, the approve node pauses the
run (a LangGraph `interrupt`) until a person accepts or edits it."""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import BaseModel, Field, ValidationError, field_validator

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.nodes.base import NodeRun, chat
from sleuth.agents.research.state import Outline, OutlineSection, ResearchState
from sleuth.llm.base import StructuredOutputError
from sleuth.llm.structured import generate
from sleuth.text import STOPWORDS, prompt_literal

MAX_SECTIONS = 6
MAX_QUESTIONS = 3


class PlannedSection(BaseModel):
    # Length caps become grammar limits in llama.cpp, so a small model that starts repeating is cut off.
    heading: str = Field(min_length=1, max_length=80, description="A few words.")
    questions: list[str] = Field(min_length=1, max_length=MAX_QUESTIONS, description="Full search questions.")

    @field_validator("heading")
    @classmethod
    def _one_line(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("a section needs a heading")
        return value

    @field_validator("questions")
    @classmethod
    def _questions(cls, value: list[str]) -> list[str]:
        kept = list(dict.fromkeys(" ".join(q.split())[:200] for q in value if q.strip()))
        if not kept:
            raise ValueError("a section needs at least one search question")
        return kept


class PlannedOutline(BaseModel):
    """A report plan: its title and 2-6 sections. Also the shape of a plan a person sends back edited."""

    title: str = Field(min_length=1, max_length=120)
    sections: list[PlannedSection] = Field(min_length=2, max_length=MAX_SECTIONS)

    @field_validator("title")
    @classmethod
    def _titled(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a report needs a title")
        return value

    def state(self) -> Outline:
        return {
            "title": " ".join(self.title.split()),
            "sections": [{"heading": s.heading, "questions": list(s.questions)} for s in self.sections],
        }


class PlanError(ValueError):
    """An edited plan that is not a plan (no sections, an empty heading, too many sections, ...)."""


def parse_plan(value: Any) -> Outline:
    """Validate a plan a person approved or edited (a dict from the CLI, the API or the page)."""
    try:
        return PlannedOutline.model_validate(value).state()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}" for e in exc.errors())
        raise PlanError(f"not a valid report plan: {problems}") from exc


FACETS = (
    ("Background", "What is known about {topic}?"),
    ("Main findings", "{question}"),
    ("Evidence and methods", "Which studies and methods address {topic}?"),
    ("Limitations and open questions", "What are the limitations and open questions of {topic}?"),
)
"""The plan when the model gives none usable: the usual facets of a research report, each searched with the
report's topic."""


def fallback_outline(state: ResearchState, title: str = "") -> Outline:
    """A plan made in code from `FACETS`, for when the planner's output is invalid or all repetition."""
    question = state["question"]
    topic = (title or question).strip().rstrip("?")
    sections: list[OutlineSection] = [
        {"heading": heading, "questions": [query.format(topic=topic, question=question)]}
        for heading, query in FACETS
    ]
    return {"title": title or question, "sections": sections}


def outline_prompt(state: ResearchState) -> str:
    # The first round's findings as the titles of the passages it read: a small model shown the aggregator's
    # notes copied them into every heading; titles say what the collection holds without inviting a copy.
    parts = [f"QUESTION: {state['question']}"]
    titles = list(dict.fromkeys(p["title"] for p in (state.get("passages") or {}).values() if p["title"].strip()))
    if titles:
        parts.append("SOURCES FOUND:\n" + "\n".join(f"- {prompt_literal(t, 160)}" for t in titles[:8]))
    return "\n\n".join(parts)


def _key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def distinct_sections(plan: Outline, question: str) -> Outline:
    """The plan as a small model's repetitions leave it usable: a heading seen before, or the question's or
    the title's own words as a heading, is dropped; a search question asked before (or the report's question itself) is
    replaced by the heading joined to the report's question, so a distinct section still searches its own
    angle; a question sharing under two content words with the report's question gets the title appended
    ("What are the limitations?" says nothing to a retriever)."""
    headings: set[str] = set()
    asked: set[str] = {_key(question)}
    topic = _words(question)
    sections: list[OutlineSection] = []
    for section in plan["sections"]:
        heading = _key(section["heading"])
        if not heading or heading in headings or heading in (_key(question), _key(plan["title"])):
            continue
        headings.add(heading)
        questions = []
        for q in section["questions"]:
            if _key(q) in asked:
                continue
            asked.add(_key(q))
            questions.append(q if len(_words(q) & topic) >= 2 else f"{q} ({plan['title']})")
        questions = questions or [f"{section['heading']}: {question}"]
        sections.append({"heading": section["heading"], "questions": questions})
    return {"title": plan["title"], "sections": sections}


def _words(text: str) -> set[str]:
    return {w for w in _key(text).split() if w not in STOPWORDS and len(w) > 2}


async def outline(state: ResearchState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Plan the report's sections from the question and what the first round found.

    Repeated headings and questions are dropped in code; when fewer than two sections are left, the
    report's usual facets fill the plan up (`fallback_outline`).
    """
    deps = runtime.context
    run = NodeRun(deps, "outline", max_tokens=512)
    try:
        planned = await generate(
            run.llm,
            chat(deps.prompts["planner"], outline_prompt(state)),
            PlannedOutline,
            agent="planner",
            params=run.params,
        )
        plan = distinct_sections(planned.state(), state["question"])
    except StructuredOutputError as exc:
        run.log.add_error("planner", str(exc), exc.raw_outputs)
        run.warn("the planner gave no valid outline: the usual facets of a report instead")
        plan = {"title": state["question"], "sections": []}
    if len(plan["sections"]) < 2:
        if not run.log.errors:
            run.warn("the planner's sections repeat each other or the question: filled up with the usual facets")
        known = {_key(s["heading"]) for s in plan["sections"]}
        extra = [s for s in fallback_outline(state, plan["title"])["sections"] if _key(s["heading"]) not in known]
        plan = {"title": plan["title"], "sections": [*plan["sections"], *extra][:MAX_SECTIONS]}
    deps.events.emit("outline", "outline", title=plan["title"], sections=plan["sections"])
    return run.finish({"outline": plan}, sections=len(plan["sections"]))


async def approve(state: ResearchState, runtime: Runtime[AgentDeps]) -> dict[str, Any]:
    """Pause until the plan is approved; the value the run is resumed with is the plan that runs.

    The pause is a checkpoint like any other, so a paused run survives a restart of the process. Resuming
    with `True` accepts the plan as drafted; a dict is an edited plan and must validate.
    """
    deps = runtime.context
    answer = interrupt({"kind": "approve_plan", "outline": state["outline"]})
    if answer is True:
        plan = state["outline"]
        edited = False
    else:
        plan = parse_plan(answer)
        edited = plan != state["outline"]
    deps.events.emit("plan_approved", "approve", edited=edited, sections=len(plan["sections"]))
    return {"outline": plan}
