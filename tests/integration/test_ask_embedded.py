"""The ask agent on the real embedded Qwen2.5-0.5B: it emits the tags, searches first, cites what it read."""

from __future__ import annotations

import pytest

from sleuth.agents.ask import run_ask
from sleuth.agents.deps import AgentDeps
from sleuth.agents.events import EventLog
from sleuth.config import Settings
from sleuth.llm import connect
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Passage
from sleuth.testing import StaticRetriever

pytestmark = pytest.mark.integration

PASSAGES = [
    Passage(
        "p-halley",
        "Halley's Comet is visible from Earth every 75 to 79 years. Its last appearance was in "
        "1986 and it will next appear in mid-2061.",
        "Halley's Comet",
    ),
    Passage("p-venus", "Venus is the second planet from the Sun. It has no moons.", "Venus"),
    Passage("p-mars", "Mars is the fourth planet from the Sun. It has two moons, Phobos and Deimos.", "Mars"),
]


async def test_real_model_searches_then_answers_from_the_passage() -> None:
    settings = Settings(search_k=2, llm_timeout_s=600, llm_request_timeout_s=600)
    retriever = StaticRetriever(PASSAGES)
    async with connect(settings) as llm:
        deps = AgentDeps(
            llm=llm, retriever=retriever, prompts=load_prompt_set(), settings=settings, events=EventLog()
        )
        result = await run_ask("How many moons does Mars have?", deps, max_turns=3)

    print(result.model_dump_json(indent=1, include={"answer", "search_calls", "turns", "finish", "usage"}))
    assert result.search_calls, "always-search: the real model must search before answering"
    assert retriever.queries, "the search went to the retriever"
    assert result.finish in ("answer", "time_up")
    assert "two" in result.answer.lower() or "2" in result.answer
    hit_ids = {pid for call in result.search_calls for pid in call.hit_ids}
    assert {c.passage_id for c in result.citations} <= hit_ids
    assert any(c.passage_id == "p-mars" for c in result.citations)
