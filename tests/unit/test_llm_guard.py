"""The library's switch that blocks real model calls: what conftest turns on for every unit test."""

from __future__ import annotations

import contextlib

import pytest

from sleuth.config import Settings
from sleuth.llm import OpenAICompatModel
from sleuth.llm.local import EmbeddedServer
from sleuth.testing import (
    FakeOpenAIServer,
    RealModelBlockedError,
    ScriptedLLM,
    allow_real_models,
    block_real_models,
    real_models_blocked,
)


async def test_a_real_client_call_is_refused_before_any_request_leaves() -> None:
    with FakeOpenAIServer() as server, block_real_models("no models here") as block:
        client = OpenAICompatModel(server.base_url, max_retries=0)
        with pytest.raises(RealModelBlockedError, match="no models here") as refused:
            await client.complete([{"role": "user", "content": "hi"}])
    assert server.base_url in str(refused.value) and "ScriptedLLM" in str(refused.value)
    assert server.requests == [] and block.refused == [f"a call to the model server at {server.base_url}"]


async def test_a_refusal_is_recorded_even_when_the_caller_swallows_it() -> None:
    # Suppressed as an eval runner or the GEPA adapter does with a failed run.
    with FakeOpenAIServer() as server, block_real_models() as block, contextlib.suppress(Exception):
        await OpenAICompatModel(server.base_url, max_retries=0).complete([{"role": "user", "content": "hi"}])
    assert len(block.refused) == 1  # conftest fails such a test after it ends


def test_starting_the_embedded_model_is_refused() -> None:
    with block_real_models(), pytest.raises(RealModelBlockedError, match="embedded model"):
        EmbeddedServer(Settings()).start()


async def test_fakes_pass_and_an_allow_block_lets_a_real_call_through() -> None:
    with block_real_models():
        assert (await ScriptedLLM(["fine"]).complete([{"role": "user", "content": "hi"}])).text == "fine"
        with FakeOpenAIServer(lambda body: "real") as server, allow_real_models():
            reply = await OpenAICompatModel(server.base_url, max_retries=0).complete(
                [{"role": "user", "content": "x"}]
            )
        assert reply.text == "real" and len(server.requests) == 1
        with pytest.raises(RealModelBlockedError):  # blocked again once the allow block ends
            await OpenAICompatModel(server.base_url, max_retries=0).complete([{"role": "user", "content": "x"}])


def test_unit_tests_run_blocked() -> None:
    assert real_models_blocked()  # by conftest; a call would fail this test even if its error were swallowed
    with allow_real_models():
        assert not real_models_blocked()


@pytest.mark.allow_llm
def test_a_test_marked_allow_llm_runs_unblocked() -> None:
    assert not real_models_blocked()
