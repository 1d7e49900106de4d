"""Reader fan-out: a round's readers reach a remote server all at once under the default concurrency, and
the embedded server gets as many calls at once as it has slots."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from sleuth.agents.deps import AgentDeps
from sleuth.agents.research.run import run_research
from sleuth.config import Settings
from sleuth.llm.clients import connect, embedded_concurrency
from sleuth.prompts.sets import load_prompt_set
from sleuth.retrieval.base import Passage
from sleuth.testing import FakeOpenAIServer, StaticRetriever, fake_from_schema

READERS = 16


class InFlight:
    """A fake server's reply function that counts the reader requests it holds at once."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.lock = threading.Lock()
        self.now = self.peak = self.readers = 0

    def __call__(self, body: dict[str, Any]) -> str:
        schema = body["response_format"]["json_schema"]
        if schema["name"] != "ReaderOutput":
            return json.dumps(fake_from_schema(schema["schema"]))
        with self.lock:
            self.now += 1
            self.readers += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.hold_s)  # each reader's call takes a while, as a model's does
        with self.lock:
            self.now -= 1
        return json.dumps({"evidence": [{"passage": 1, "sentence": 1, "claim": "a fact"}]})


@pytest.mark.allow_llm  # the real client, against a local fake server
async def test_a_remote_server_gets_all_16_readers_of_a_round_at_once_by_default(tmp_path) -> None:
    passages = [Passage(f"p{i}", f"The topic fact number {i} is stated here.", f"Doc {i}") for i in range(READERS)]
    server = InFlight(hold_s=1.0)
    with FakeOpenAIServer(server) as fake:
        settings = Settings(
            home=tmp_path,
            llm_base_url=fake.base_url,
            max_rounds=1,
            reader_batch_size=1,
            search_k=READERS,
            research_direct_answer=False,
        )
        async with connect(settings) as llm:
            deps = AgentDeps(
                llm=llm, retriever=StaticRetriever(passages), prompts=load_prompt_set(), settings=settings
            )
            report = await run_research("What facts are known about the topic?", deps)
    assert report.status == "answered"
    assert server.readers == READERS
    assert server.peak == READERS  # one wave: no reader waited for another's call to finish


@pytest.mark.allow_llm
async def test_a_lower_llm_concurrency_still_bounds_the_fan_out(tmp_path) -> None:
    passages = [Passage(f"p{i}", f"The topic fact number {i} is stated here.", f"Doc {i}") for i in range(8)]
    server = InFlight(hold_s=0.1)
    with FakeOpenAIServer(server) as fake:
        settings = Settings(
            home=tmp_path,
            llm_base_url=fake.base_url,
            llm_concurrency=3,
            max_rounds=1,
            reader_batch_size=1,
            search_k=8,
            research_direct_answer=False,
        )
        async with connect(settings) as llm:
            deps = AgentDeps(
                llm=llm, retriever=StaticRetriever(passages), prompts=load_prompt_set(), settings=settings
            )
            await run_research("What facts are known about the topic?", deps)
    assert server.readers == 8 and server.peak == 3


def _record_running_server(settings: Settings, parallel: int | None) -> None:
    record = {"url": "http://127.0.0.1:1", "pid": 1, "model": settings.local_model}
    if parallel is not None:
        record["parallel"] = parallel
    settings.local_server_file.parent.mkdir(parents=True, exist_ok=True)
    settings.local_server_file.write_text(json.dumps(record))


def test_the_embedded_server_gets_as_many_calls_at_once_as_it_has_slots(tmp_path) -> None:
    settings = Settings(home=tmp_path, local_parallel=2)
    assert settings.llm_concurrency == 16  # the remote default does not reach the embedded server
    assert embedded_concurrency(settings, reused=False) == 2
    # A running `sleuth llm serve` decodes as many as it was started with, whatever this process's settings say.
    _record_running_server(settings, parallel=4)
    assert embedded_concurrency(settings, reused=True) == 4
    assert embedded_concurrency(settings, reused=False) == 2  # a server started now gets the settings' slots
    # A record from before slots were recorded: the settings' slot count.
    _record_running_server(settings, parallel=None)
    assert embedded_concurrency(settings, reused=True) == 2
    # A lower SLEUTH_LLM_CONCURRENCY still caps it.
    assert embedded_concurrency(Settings(home=tmp_path, local_parallel=4, llm_concurrency=1), reused=False) == 1


def test_llm_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="llm_concurrency"):
        Settings(llm_concurrency=0)
