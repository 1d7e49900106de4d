"""Structured output: a pydantic model in, a validated instance out, with one repair retry."""

from __future__ import annotations

import functools
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sleuth.llm.base import ChatModel, GenParams, Message, StructuredOutputError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


@functools.cache
def _cached_schema(output_type: type[BaseModel]) -> str:
    schema = output_type.model_json_schema()
    schema.setdefault("title", output_type.__name__)
    return json.dumps(schema)


def schema_for(output_type: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema sent as `response_format` (titled, so servers can name it).

    Building a schema is the largest cost left in the framework's own time per call, so it is built once
    per class; each caller gets a fresh copy it may change.
    """
    return json.loads(_cached_schema(output_type))


def parse_json_reply(text: str, output_type: type[T]) -> T:
    """Validate a reply, tolerating a Markdown code fence around the JSON (small models add one)."""
    cleaned = _FENCE.sub("", text.strip()).strip()
    return output_type.model_validate_json(cleaned)


async def generate(
    llm: ChatModel,
    messages: list[Message],
    output_type: type[T],
    *,
    agent: str = "",
    params: GenParams | None = None,
) -> T:
    """Ask `llm` for an `output_type` instance under JSON-schema constrained decoding.

    An invalid reply gets one repair turn that shows the model its output and the validation error.

    Raises:
        StructuredOutputError: both replies were invalid; `raw_outputs` keeps them for the run log.
    """
    schema = schema_for(output_type)
    completion = await llm.complete(messages, params=params, json_schema=schema, agent=agent)
    try:
        return parse_json_reply(completion.text, output_type)
    except (ValidationError, ValueError) as first_error:
        repair: list[Message] = [
            *messages,
            {"role": "assistant", "content": completion.text},
            {
                "role": "user",
                "content": "Your reply was not valid JSON for the required schema. Error:\n"
                f"{_short(first_error)}\nReply again with only a JSON object matching this schema:\n"
                f"{json.dumps(schema)}",
            },
        ]
        second = await llm.complete(repair, params=params, json_schema=schema, agent=agent)
        try:
            return parse_json_reply(second.text, output_type)
        except (ValidationError, ValueError) as second_error:
            raise StructuredOutputError(
                f"{agent or 'model'} returned invalid JSON for {output_type.__name__} twice: "
                f"{_short(second_error)}",
                raw_outputs=[completion.text, second.text],
            ) from second_error


def _short(error: Exception, limit: int = 600) -> str:
    text = str(error)
    return text if len(text) <= limit else text[:limit] + " ..."
