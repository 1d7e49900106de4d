"""Fake chat models: a scripted LLM that replies from a script and records every call (like dspy's DummyLM),
and a wrapper that delays replies like a model generating."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from sleuth.llm.base import BaseChatModel, ChatModel, ChatRequest, Completion, ModelWrapper

Call = ChatRequest
"""One request a fake model received (`prompt` joins the messages: handy for asserting what it was shown)."""

Reply = str | dict[str, Any] | Callable[[Call], "str | dict[str, Any]"]
"""A scripted reply: text, a dict sent as JSON, or a function of the call."""


class ScriptedLLM(BaseChatModel):
    """A `ChatModel` that replies from a script and records every call (like dspy's DummyLM).

    Replies are picked, in order of precedence, by `fn(call)`, by the calling agent's role
    (`by_agent`), by the output schema's title (`by_schema`), then from the `replies` queue.
    A queue given for a key is consumed in order; its last entry repeats when `repeat_last` is set.

    Args:
        replies: default replies, in order.
        by_agent: role name -> reply or list of replies.
        by_schema: JSON-schema title (the pydantic class name) -> reply or list of replies.
        fn: a function choosing the reply for any call.
        repeat_last: keep answering with the last reply of a list when it runs out.
        prompt_tokens: the prompt tokens every reply reports.
        completion_tokens: the completion tokens every reply reports; None: the reply's word count.
    """

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        by_agent: dict[str, Reply | list[Reply]] | None = None,
        by_schema: dict[str, Reply | list[Reply]] | None = None,
        fn: Callable[[Call], str | dict[str, Any]] | None = None,
        repeat_last: bool = True,
        prompt_tokens: int = 10,
        completion_tokens: int | None = None,
    ) -> None:
        self.calls: list[Call] = []
        self._default: deque[Reply] = deque(replies)
        self._by_agent = {k: _queue(v) for k, v in (by_agent or {}).items()}
        self._by_schema = {k: _queue(v) for k, v in (by_schema or {}).items()}
        self._fn = fn
        self._repeat_last = repeat_last
        self._prompt_tokens = prompt_tokens
        self._completion_tokens = completion_tokens
        self.model = "scripted"

    async def respond(self, call: Call) -> Completion:
        self.calls.append(call)
        reply = self._pick(call)
        text = reply if isinstance(reply, str) else json.dumps(reply)
        return Completion(
            text=text,
            model=self.model,
            prompt_tokens=self._prompt_tokens,
            completion_tokens=self._completion_tokens
            if self._completion_tokens is not None
            else max(1, len(text.split())),
            agent=call.agent,
        )

    def calls_for(self, agent: str) -> list[Call]:
        return [c for c in self.calls if c.agent == agent]

    def _pick(self, call: Call) -> str | dict[str, Any]:
        if self._fn is not None:
            return self._fn(call)
        for table, key in ((self._by_agent, call.agent), (self._by_schema, call.schema_name)):
            if key in table:
                return self._next(table[key], call)
        if self._default:
            return self._next(self._default, call)
        raise AssertionError(f"ScriptedLLM has no reply for agent={call.agent!r} schema={call.schema_name!r}")

    def _next(self, queue: deque[Reply], call: Call) -> str | dict[str, Any]:
        if not queue:
            raise AssertionError(f"ScriptedLLM ran out of replies for agent={call.agent!r}")
        reply = queue[0] if (self._repeat_last and len(queue) == 1) else queue.popleft()
        return reply(call) if callable(reply) else reply


def _queue(value: Reply | list[Reply]) -> deque[Reply]:
    return deque(value if isinstance(value, list) else [value])


class SlowModel(ModelWrapper):
    """A `ChatModel` wrapper that waits `delay_s` before each reply, like a model generating."""

    def __init__(self, inner: ChatModel, delay_s: float) -> None:
        super().__init__(inner)
        self.delay_s = delay_s

    async def respond(self, request: ChatRequest) -> Completion:
        await asyncio.sleep(self.delay_s)
        return await self.forward(request)
