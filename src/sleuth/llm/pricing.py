"""What model calls cost: a price table (USD per million input and output tokens, per model name) and the
dollars of a set of calls. A model the table does not name costs None ("n/a"), never a guess."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MILLION = Decimal(1_000_000)


class ModelPrice(BaseModel):
    """The price of one model, in USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    """USD per million prompt (input) tokens."""
    output: float = Field(ge=0)
    """USD per million completion (output) tokens."""


_TABLE = TypeAdapter(dict[str, ModelPrice])


class PriceError(ValueError):
    """A price table that cannot be read or is not a price table."""


class PricedCall(Protocol):
    """What pricing needs of one call (`usage.CallRecord` has it)."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool


class PriceTable:
    """Model name -> price. Names are the ones settings use: `SLEUTH_LLM_MODEL`, a role's `model`, or
    `SLEUTH_LOCAL_MODEL` for the embedded server.

    Args:
        prices: model name -> `ModelPrice` (or a dict with `input` and `output`).
    """

    def __init__(self, prices: Mapping[str, ModelPrice | Mapping[str, float]] | None = None) -> None:
        self.prices: dict[str, ModelPrice] = _TABLE.validate_python(prices or {})

    def price(self, model: str) -> ModelPrice | None:
        return self.prices.get(model)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for one call of `model` with these token counts; None when the table has no price for it."""
        price = self.price(model)
        if price is None:
            return None
        return float(_call_cost(price, prompt_tokens, completion_tokens))

    def cost_of(self, calls: Iterable[PricedCall]) -> float | None:
        """USD of all `calls` (0 for none); None when any of them was made to a model the table does not price.

        A reply served from the response cache cost nothing, whatever its model.
        """
        total = Decimal(0)
        for call in calls:
            if call.cached:
                continue
            price = self.price(call.model)
            if price is None:
                return None
            total += _call_cost(price, call.prompt_tokens, call.completion_tokens)
        return float(total)

    def with_prices(self, other: PriceTable) -> PriceTable:
        """This table with `other`'s entries added (other's price wins for a model both name)."""
        return PriceTable({**self.prices, **other.prices})


def _call_cost(price: ModelPrice, prompt_tokens: int, completion_tokens: int) -> Decimal:
    # Decimal from the prices as written, so $0.15 x 1,000 tokens is 0.00015 exactly, not a float's 1.5e-4+ε.
    spent = Decimal(prompt_tokens) * Decimal(str(price.input)) + Decimal(completion_tokens) * Decimal(
        str(price.output)
    )
    return spent / MILLION


def sum_costs(costs: Iterable[float | None]) -> float | None:
    """The exact decimal sum of `costs`; None when any is None (an unpriced part makes the whole unknown)."""
    total = Decimal(0)
    for cost in costs:
        if cost is None:
            return None
        total += Decimal(str(cost))
    return float(total)


def format_usd(cost: float | None) -> str:
    """A cost for people: "n/a" when unknown, "$0" when free, 4 decimals from a cent up, else 6."""
    if cost is None:
        return "n/a"
    if cost == 0:
        return "$0"
    return f"${cost:.4f}" if cost >= 0.01 else f"${cost:.6f}"


def shipped_prices() -> PriceTable:
    """The table shipped with sleuth (`llm/prices.yaml`): the local models, at $0."""
    text = resources.files("sleuth.llm").joinpath("prices.yaml").read_text(encoding="utf-8")
    return _parse(text, "the shipped price table")


def load_prices(path: Path | None) -> PriceTable:
    """The shipped table with the entries of the YAML or JSON file at `path` over it (None: shipped only).

    Raises:
        PriceError: the file is missing, not YAML, or not a mapping of model -> {input, output}.
    """
    table = shipped_prices()
    if path is None:
        return table
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceError(f"cannot read the price table {path}: {exc}") from exc
    return table.with_prices(_parse(text, f"the price table {path}"))


def _parse(text: str, what: str) -> PriceTable:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PriceError(f"{what} is not YAML or JSON: {exc}") from exc
    if data is None:
        return PriceTable()
    try:
        return PriceTable(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'table'}: {e['msg']}" for e in exc.errors())
        raise PriceError(
            f"{what} must map model names to {{input, output}} in USD per million tokens: {problems}"
        ) from exc
