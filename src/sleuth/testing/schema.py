"""A schema-driven fake model (pydantic-ai's `TestModel`): it answers any JSON-schema constrained call with
valid data made from the schema itself, so a test exercises the structured-output path of every role without
scripting one reply per schema.

`fake_from_schema(schema)` builds the data: every property of an object (required or not), the first choice
of an enum or union, the smallest number and shortest string the constraints allow, one item per array
(or `minItems`). `$ref`/`$defs`, `allOf`, `anyOf`/`oneOf`, `const`, `prefixItems`, `format` and
`multipleOf` are followed; a `pattern` is met when one of a few plain candidates matches it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sleuth.llm.base import BaseChatModel, ChatRequest, Completion

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "duration": "P1D",
    "email": "a@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "path": "a",
}
_PATTERN_CANDIDATES = ("a", "A", "0", "a0", "a-a", "aa", "")


class SchemaError(ValueError):
    """A schema the fake cannot make data for (an unresolvable `$ref`, a pattern none of its candidates match)."""


def fake_from_schema(schema: dict[str, Any], *, fill: str = "a") -> Any:
    """Data that validates against `schema` (a JSON schema as pydantic writes it).

    Args:
        schema: the schema; its `$defs` resolve the `$ref`s inside it.
        fill: the text strings are made of (repeated up to `minLength`, cut to `maxLength`).

    Raises:
        SchemaError: the schema cannot be satisfied by this generator.
    """
    return _Maker(schema, fill).make(schema, 0)


class _Maker:
    def __init__(self, root: dict[str, Any], fill: str) -> None:
        self.root = root
        self.fill = fill or "a"
        self.path: list[str] = []
        """The `$ref`s being made, outermost first: a recursive model stops at its first optional way out."""

    def make(self, schema: dict[str, Any], index: int) -> Any:
        ref = schema.get("$ref")
        if ref is not None:
            if self.path.count(ref) > 1:
                raise SchemaError(f"{ref!r} refers to itself with no optional way out")
            self.path.append(ref)
            try:
                return self._make(self._resolved(schema), index)
            finally:
                self.path.pop()
        return self._make(self._resolved(schema), index)

    def _make(self, schema: dict[str, Any], index: int) -> Any:
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [o for o in schema[key] if o.get("$ref") not in self.path]  # no recursion by choice
                chosen = next((o for o in options if o.get("type") != "null"), (options or schema[key])[0])
                return self.make(chosen, index)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        make = getattr(self, f"_{kind}", None)
        if make is None:
            raise SchemaError(f"unknown JSON schema type {kind!r}")
        return make(schema, index)

    def _resolved(self, schema: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in schema:
            ref = schema["$ref"]
            target: Any = self.root
            for part in ref.removeprefix("#/").split("/"):
                if not isinstance(target, dict) or part not in target:
                    raise SchemaError(f"cannot resolve {ref!r}")
                target = target[part]
            return self._resolved({**target, **{k: v for k, v in schema.items() if k != "$ref"}})
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged = {**self._resolved(part), **merged}
            return merged
        return schema

    def _null(self, schema: dict[str, Any], index: int) -> None:
        return None

    def _boolean(self, schema: dict[str, Any], index: int) -> bool:
        return False

    def _integer(self, schema: dict[str, Any], index: int) -> int:
        return int(_number_within(schema, index, integral=True))

    def _number(self, schema: dict[str, Any], index: int) -> float:
        return _number_within(schema, index, integral=False)

    def _string(self, schema: dict[str, Any], index: int) -> str:
        if schema.get("format") in _FORMATS and index == 0:
            return _FORMATS[schema["format"]]
        low, high = schema.get("minLength", 1), schema.get("maxLength")
        base = self.fill if index == 0 else f"{self.fill}{index}"
        text = (base * (low // len(base) + 1))[: max(low, len(base))]
        if high is not None:
            text = text[:high]
        pattern = schema.get("pattern")
        if pattern is None or re.search(pattern, text):
            return text
        for candidate in _PATTERN_CANDIDATES:
            fits = low <= len(candidate) <= (high if high is not None else len(candidate))
            if fits and re.search(pattern, candidate):
                return candidate
        raise SchemaError(f"no plain string matches the pattern {pattern!r}")

    def _array(self, schema: dict[str, Any], index: int) -> list[Any]:
        prefix = schema.get("prefixItems", [])
        items = schema.get("items", {})
        recursive = isinstance(items, dict) and items.get("$ref") in self.path
        count = max(schema.get("minItems", 0), len(prefix), 0 if recursive else 1)
        if "maxItems" in schema:
            count = min(count, schema["maxItems"])
        if items is False:
            count = min(count, len(prefix))
        made = []
        for i in range(count):
            item_schema = prefix[i] if i < len(prefix) else items if isinstance(items, dict) else {}
            # Distinct items where the array must hold unique ones.
            made.append(self.make(item_schema, i if schema.get("uniqueItems") else 0))
        return made

    def _object(self, schema: dict[str, Any], index: int) -> dict[str, Any]:
        made = {name: self.make(prop, 0) for name, prop in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        for i in range(len(made), schema.get("minProperties", 0)):
            made[f"key{i}"] = self.make(extra if isinstance(extra, dict) else {}, i)
        return made


def _number_within(schema: dict[str, Any], index: int, *, integral: bool) -> float:
    """The first of a few candidates (0, the bounds, just inside them, their middle) that meets every bound
    and `multipleOf`; `index` steps past it, for arrays whose items must differ."""
    low, high = schema.get("minimum"), schema.get("maximum")
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    step = float(schema.get("multipleOf") or (1 if integral else 0))
    floor = max((b for b in (low, above) if b is not None), default=None)
    ceiling = min((b for b in (high, below) if b is not None), default=None)
    candidates = [0.0]
    for bound in (floor, ceiling):
        if bound is not None:
            candidates += [bound, bound + 1, bound - 1, bound + 0.5, bound - 0.5]
    if floor is not None and ceiling is not None:
        candidates.append((floor + ceiling) / 2)

    def fits(value: float) -> bool:
        return (
            (low is None or value >= low)
            and (high is None or value <= high)
            and (above is None or value > above)
            and (below is None or value < below)
        )

    for candidate in candidates:
        value = (math.ceil(candidate / step) * step if step else candidate) + index * (step or 1)
        if fits(value):
            return value
    raise SchemaError(f"no {'integer' if integral else 'number'} fits {schema}")


class SchemaLLM(BaseChatModel):
    """A `ChatModel` that answers every JSON-schema constrained call with valid data made from its schema,
    and every free-text call with `text`; it records each call (like `ScriptedLLM`).

    Args:
        text: the reply to calls without a schema.
        fill: the text generated strings are made of.
    """

    def __init__(self, text: str = "<answer>a</answer>", *, fill: str = "a") -> None:
        self.text = text
        self.fill = fill
        self.calls: list[ChatRequest] = []
        self.model = "schema-fake"

    async def respond(self, request: ChatRequest) -> Completion:
        self.calls.append(request)
        if request.json_schema is None:
            reply = self.text
        else:
            reply = json.dumps(fake_from_schema(request.json_schema, fill=self.fill), ensure_ascii=False)
        return Completion(
            text=reply,
            model=self.model,
            prompt_tokens=sum(len(m["content"].split()) for m in request.messages),
            completion_tokens=max(1, len(reply.split())),
            agent=request.agent,
        )
