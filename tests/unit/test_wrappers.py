"""The shared bases of the decorators around a model (`ModelWrapper`) and a retriever (`RecordingRetriever`):
a call goes through whole, and each decorator adds only its one thing."""

from __future__ import annotations

import time

from sleuth.llm.base import ChatRequest, Completion, GenParams, ModelWrapper
from sleuth.llm.usage import MeteredModel
from sleuth.optimizers.tasks import RecordingModel
from sleuth.retrieval.base import Passage, RecordingRetriever
from sleuth.testing import ScriptedLLM, SlowModel, StaticRetriever


class Shouting(ModelWrapper):
    async def respond(self, request: ChatRequest) -> Completion:
        completion = await self.forward(request)
        completion.text = completion.text.upper()
        return completion


async def test_a_wrapper_forwards_every_argument_and_changes_only_what_it_adds() -> None:
    inner = ScriptedLLM(["quiet"])
    params, schema = GenParams(temperature=0.3, max_tokens=7, stop=("x",), seed=4), {"title": "Plan"}
    reply = await Shouting(inner).complete(
        [{"role": "user", "content": "hi"}], params=params, json_schema=schema, agent="r"
    )
    assert reply.text == "QUIET"
    call = inner.calls[0]
    assert (call.messages, call.params, call.json_schema, call.agent) == (
        [{"role": "user", "content": "hi"}],
        params,
        schema,
        "r",
    )
    await Shouting(inner).complete([{"role": "user", "content": "again"}])
    assert inner.calls[1].params == GenParams() and inner.calls[1].json_schema is None


async def test_the_project_wrappers_stack() -> None:
    inner = ScriptedLLM(["a", "b"])
    recorded = RecordingModel(inner)
    metered = MeteredModel(SlowModel(recorded, 0.05))
    started = time.perf_counter()
    await metered.complete([{"role": "user", "content": "q"}], agent="reader")
    assert time.perf_counter() - started >= 0.05
    assert [(c.role, c.output) for c in recorded.calls] == [("reader", "a")]
    assert metered.log.by_agent()["reader"].calls == 1


def test_the_recording_retriever_keeps_each_search_and_the_ids_once() -> None:
    passages = [Passage("p1", "otters use rocks"), Passage("p2", "otters float")]
    recorder = RecordingRetriever(StaticRetriever(passages))
    recorder.search("otters rocks", 2)
    recorder.search("float", 2)
    assert recorder.queries == ["otters rocks", "float"]
    assert recorder.hit_ids == ["p1", "p2"]  # p2 was found twice, listed once
    assert [[h.passage.id for h in hits] for _, hits in recorder.searches] == [["p1", "p2"], ["p2"]]
