"""Structured output: validation, the single repair turn, and the error that keeps raw text."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from sleuth.llm import MeteredModel, StructuredOutputError, UsageLog, generate
from sleuth.testing import ScriptedLLM


class Plan(BaseModel):
    queries: list[str]


async def test_valid_json_is_parsed_and_schema_is_sent() -> None:
    llm = ScriptedLLM(['{"queries": ["who", "what"]}'])
    plan = await generate(llm, [{"role": "user", "content": "plan"}], Plan, agent="orchestrator")
    assert plan.queries == ["who", "what"]
    assert llm.calls[0].json_schema is not None and llm.calls[0].schema_name == "Plan"
    assert llm.calls[0].agent == "orchestrator"


async def test_code_fence_around_json_is_tolerated() -> None:
    llm = ScriptedLLM(['```json\n{"queries": ["a"]}\n```'])
    assert (await generate(llm, [{"role": "user", "content": "x"}], Plan)).queries == ["a"]


async def test_one_repair_turn_shows_the_error_and_recovers() -> None:
    llm = ScriptedLLM(["not json at all", '{"queries": ["fixed"]}'], repeat_last=False)
    plan = await generate(llm, [{"role": "user", "content": "plan"}], Plan)
    assert plan.queries == ["fixed"]
    assert len(llm.calls) == 2
    repair = llm.calls[1].messages
    assert repair[-2] == {"role": "assistant", "content": "not json at all"}
    assert "not valid JSON" in repair[-1]["content"]


async def test_invalid_twice_raises_with_both_raw_outputs() -> None:
    llm = ScriptedLLM(["nope", '{"queries": "not a list"}'], repeat_last=False)
    with pytest.raises(StructuredOutputError) as info:
        await generate(llm, [{"role": "user", "content": "plan"}], Plan, agent="orchestrator")
    assert info.value.raw_outputs == ["nope", '{"queries": "not a list"}']
    assert "orchestrator" in str(info.value) and "Plan" in str(info.value)


async def test_metered_model_counts_usage_per_agent(tmp_path) -> None:
    log = UsageLog()
    llm = MeteredModel(ScriptedLLM(['{"queries": []}'], prompt_tokens=7), log)
    await generate(llm, [{"role": "user", "content": "a"}], Plan, agent="orchestrator")
    await llm.complete([{"role": "user", "content": "b"}], agent="reader")
    await llm.complete([{"role": "user", "content": "c"}], agent="reader")
    totals = log.by_agent()
    assert totals["reader"].calls == 2 and totals["orchestrator"].calls == 1
    assert totals["total"].prompt_tokens == 21
    log.add_error("writer", "bad json", ["raw reply"])
    log.write(tmp_path / "run.jsonl")
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    assert len(lines) == 4 and '"raw reply"' in lines[-1]
