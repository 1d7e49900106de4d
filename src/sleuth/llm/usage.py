"""Per-run accounting: every call's tokens and latency, and the raw text of failed calls; each call is also
one LLM span (`sleuth.tracing`), opened here because every agent call passes through a `MeteredModel`."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sleuth.llm.base import ChatModel, ChatRequest, Completion, ModelWrapper
from sleuth.llm.pricing import PriceTable
from sleuth.llm.router import model_name
from sleuth.private import private_dir
from sleuth.tracing import llm_span, record_reply


@dataclass
class CallRecord:
    agent: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cached: bool
    started_at: float
    model: str = ""
    """The model that answered, as settings name it (what the price table is keyed by)."""


class AgentUsage(BaseModel):
    """Totals for one agent role (or for the whole run)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    models: dict[str, str] = Field(default_factory=dict)
    """Role -> the model that served its calls (the run's row: every role's)."""
    cost_usd: float | None = None
    """USD by the price table; None when a call went to a model the table does not price."""

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.latency_s if self.latency_s else 0.0


@dataclass
class UsageLog:
    """What one run spent, call by call; `errors` keeps raw model output that failed to parse."""

    calls: list[CallRecord] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, completion: Completion, started_at: float) -> None:
        self.calls.append(
            CallRecord(
                completion.agent,
                completion.prompt_tokens,
                completion.completion_tokens,
                completion.latency_s,
                completion.cached,
                started_at,
                completion.model,
            )
        )

    def add_error(self, agent: str, message: str, raw_outputs: list[str]) -> None:
        self.errors.append({"agent": agent, "message": message, "raw_outputs": raw_outputs})

    @property
    def total_tokens(self) -> int:
        return sum(c.prompt_tokens + c.completion_tokens for c in self.calls)

    def models(self) -> dict[str, str]:
        """Role -> the model that served its calls (the last one, should a role have changed models)."""
        return {call.agent or "other": call.model for call in self.calls if call.model}

    def by_agent(self, prices: PriceTable | None = None) -> dict[str, AgentUsage]:
        """Totals per role and for the run (`total`), priced with `prices` (no table: costs are None)."""
        groups: dict[str, list[CallRecord]] = defaultdict(list)
        for call in self.calls:
            groups[call.agent or "other"].append(call)
            groups["total"].append(call)
        totals: dict[str, AgentUsage] = {}
        for key, calls in groups.items():
            totals[key] = AgentUsage(
                calls=len(calls),
                prompt_tokens=sum(c.prompt_tokens for c in calls),
                completion_tokens=sum(c.completion_tokens for c in calls),
                latency_s=sum(c.latency_s for c in calls),
                models={c.agent or "other": c.model for c in calls if c.model},
                cost_usd=prices.cost_of(calls) if prices is not None else None,
            )
        return totals

    def write_errors(self, path: Path, **context: Any) -> None:
        """Append the failed calls' messages and raw model output to the run log at `path` (JSON lines)."""
        if not self.errors:
            return
        private_dir(path.parent)
        with path.open("a", encoding="utf-8") as fh:
            for error in self.errors:
                fh.write(json.dumps({"type": "error", "t": time.time(), **context, **error}) + "\n")

    def write(self, path: Path) -> None:
        """Append the run's calls and errors as JSON lines (the run log)."""
        private_dir(path.parent)
        with path.open("a", encoding="utf-8") as fh:
            for call in self.calls:
                fh.write(json.dumps({"type": "call", **asdict(call)}) + "\n")
            for error in self.errors:
                fh.write(json.dumps({"type": "error", **error}) + "\n")


class MeteredModel(ModelWrapper):
    """Wraps a `ChatModel` and records each call in a `UsageLog` (one per run)."""

    def __init__(self, inner: ChatModel, log: UsageLog | None = None) -> None:
        super().__init__(inner)
        self.log = log if log is not None else UsageLog()

    async def respond(self, request: ChatRequest) -> Completion:
        started = time.time()
        with llm_span(
            request.agent,
            model_name(self.inner, request.agent),
            temperature=request.params.temperature,
            max_tokens=request.params.max_tokens,
            prompt=lambda: _transcript(request),
        ) as span:
            completion = await self.forward(request)
            completion.agent = request.agent
            record_reply(
                span,
                model=str(completion.extra.get("served_model") or completion.model),
                input_tokens=completion.prompt_tokens,
                output_tokens=completion.completion_tokens,
                text=completion.text,
            )
        self.log.add(completion, started)
        return completion


def _transcript(request: ChatRequest) -> str:
    """The messages of a call as one text, each under its role (what a content event records)."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in request.messages)
