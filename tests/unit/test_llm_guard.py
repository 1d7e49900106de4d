"""conftest blocks real LLM calls in unit tests that did not opt in."""

from __future__ import annotations

import pytest

from sleuth.llm import OpenAICompatModel
from sleuth.testing import FakeOpenAIServer


async def test_real_client_call_is_refused_in_plain_unit_tests() -> None:
    with FakeOpenAIServer() as server:
        client = OpenAICompatModel(server.base_url, max_retries=0)
        with pytest.raises(AssertionError, match="ScriptedLLM"):
            await client.complete([{"role": "user", "content": "hi"}])
    assert server.requests == []
