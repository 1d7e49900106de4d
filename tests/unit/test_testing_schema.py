"""The schema-driven fake model: valid data for any JSON schema, checked against the project's own pydantic
models (what the agents, judges, jobs and server ask for) and against hand-written constraints."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field, TypeAdapter

from sleuth.agents.ask.grounded import FinalReading, Reading
from sleuth.agents.ask.loop import SummaryPicks
from sleuth.agents.research.nodes.aggregator import RoundSummary
from sleuth.agents.research.nodes.orchestrator import Plan
from sleuth.agents.research.nodes.reader import ReaderOutput
from sleuth.agents.research.nodes.writer import WriterOutput
from sleuth.agents.results import AskResult, ResearchReport
from sleuth.api import Sleuth
from sleuth.config import Settings
from sleuth.evals.citations import SupportVerdict
from sleuth.evals.jobs import DistillJob, LongformEval, QAEval
from sleuth.evals.judge import ReferenceVerdict, RubricVerdict
from sleuth.feedback.models import PatchInput
from sleuth.feedback.policy import PatchPolicy
from sleuth.llm.structured import generate, schema_for
from sleuth.optimizers.config import OptimizeConfig
from sleuth.retrieval.base import Passage
from sleuth.server.schemas import JobCreated
from sleuth.testing import SchemaError, SchemaLLM, StaticRetriever, fake_from_schema

PROJECT_MODELS: list[type[BaseModel]] = [
    Plan,
    ReaderOutput,
    RoundSummary,
    WriterOutput,
    SummaryPicks,
    Reading,
    FinalReading,
    RubricVerdict,
    ReferenceVerdict,
    SupportVerdict,
    AskResult,
    ResearchReport,
    PatchInput,
    PatchPolicy,
    OptimizeConfig,
    QAEval,
    LongformEval,
    DistillJob,
    JobCreated,
]


@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m.__name__)
def test_the_data_validates_against_the_project_models(model: type[BaseModel]) -> None:
    data = fake_from_schema(schema_for(model))
    model.model_validate_json(json.dumps(data))  # the JSON a model server would send
    assert set(data) == set(model.model_fields)  # optional fields too: more of the model is exercised


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Leaf(BaseModel):
    name: str = Field(min_length=3, max_length=5)
    code: str = Field(pattern=r"^[A-Z]$")
    when: str = Field(json_schema_extra={"format": "date-time"})


class Tree(BaseModel):
    title: Literal["oak", "elm"]
    colour: Colour
    height: float = Field(gt=2.5, le=3.0)
    rings: int = Field(ge=-10, lt=-3, multiple_of=3)
    leaves: list[Leaf] = Field(min_length=2, max_length=4)
    tags: Annotated[list[Annotated[str, Field(max_length=2)]], Field(max_length=0)]
    unique: set[int] = Field(min_length=3)
    pair: tuple[int, str]
    counts: dict[str, int]
    parent: Tree | None = None
    children: list[Tree] = Field(default_factory=list)
    note: str | None = None
    weights: list[float] = Field(default_factory=list)
    ok: bool = True


def test_nested_objects_enums_unions_and_constraints_are_met() -> None:
    data = fake_from_schema(Tree.model_json_schema())
    tree = Tree.model_validate_json(json.dumps(data))
    assert tree.title == "oak" and tree.colour is Colour.RED and 2.5 < tree.height <= 3.0
    assert tree.rings in (-9, -6) and len(tree.leaves) == 2 and tree.tags == [] and len(tree.unique) == 3
    assert 3 <= len(tree.leaves[0].name) <= 5 and tree.leaves[0].code == "A"
    assert tree.parent is None and tree.children == []  # a recursive model stops at its first way out
    assert TypeAdapter(dict[str, Any]).validate_python(data)["ok"] is False


def test_an_unsatisfiable_schema_is_refused_clearly() -> None:
    with pytest.raises(SchemaError, match="pattern"):
        fake_from_schema({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"})
    with pytest.raises(SchemaError, match="cannot resolve"):
        fake_from_schema({"$ref": "#/$defs/Missing"})


async def test_structured_output_validates_on_the_first_reply() -> None:
    llm = SchemaLLM()
    for model in (Plan, ReaderOutput, WriterOutput, Reading):
        assert isinstance(await generate(llm, [{"role": "user", "content": "q"}], model), model)
    assert len(llm.calls) == 4  # no repair turn was needed
    free = await llm.complete([{"role": "user", "content": "hi"}])
    assert free.text == "<answer>a</answer>" and llm.calls[-1].json_schema is None


async def test_both_agents_run_end_to_end_on_the_schema_fake() -> None:
    llm = SchemaLLM()
    passages = [Passage("p1", "A is the first letter. It starts the alphabet.", "A")]
    sleuth = Sleuth(Settings(), llm=llm, retriever=StaticRetriever(passages), checkpoints="memory")
    report = await sleuth.research("What is a?", max_rounds=1)
    assert report.status in ("answered", "no_evidence") and {"orchestrator", "reader"} <= {
        c.agent for c in llm.calls
    }
    assert (await sleuth.ask("What is a?")).answer
    assert {c.schema_name for c in llm.calls} >= {"Plan", "ReaderOutput", "Reading"}
    assert not any("not valid JSON" in c.prompt for c in llm.calls)  # every reply validated at once
