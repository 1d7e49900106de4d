"""On-disk response cache keyed by model, messages and parameters (SQLite, safe across processes)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

from sleuth.llm.base import ChatModel, ChatRequest, Completion, GenParams, Message, ModelWrapper
from sleuth.sqlite import Migration, open_db

MIGRATIONS: list[tuple[str, Migration]] = [
    # IF NOT EXISTS: caches written before migrations were recorded already hold the table.
    ("m001_responses", "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, completion TEXT NOT NULL)"),
]


def cache_key(model: str, messages: list[Message], params: GenParams, json_schema: dict[str, Any] | None) -> str:
    payload = json.dumps(
        {"model": model, "messages": messages, "params": params.as_dict(), "schema": json_schema},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class CachedModel(ModelWrapper):
    """A `ChatModel` that answers repeated requests from disk and forwards the rest to `inner`.

    Only deterministic requests are worth caching, but the key holds every parameter, so a cached
    temperature>0 reply is simply replayed: turn the cache off when you want fresh samples.
    """

    def __init__(self, inner: ChatModel, path: Path, model_name: str = "") -> None:
        super().__init__(inner)
        self.model_name = model_name or getattr(inner, "model", "")
        self._db = open_db(path, MIGRATIONS)
        self._lock = asyncio.Lock()

    async def respond(self, request: ChatRequest) -> Completion:
        key = cache_key(self.model_name, request.messages, request.params, request.json_schema)
        row = self._db.execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
        if row is not None:
            data = json.loads(row[0])
            return Completion(
                text=data["text"],
                model=data["model"],
                prompt_tokens=data["prompt_tokens"],
                completion_tokens=data["completion_tokens"],
                latency_s=0.0,
                cached=True,
                agent=request.agent,
            )
        completion = await self.forward(request)
        record = {k: getattr(completion, k) for k in ("text", "model", "prompt_tokens", "completion_tokens")}
        async with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, json.dumps(record)))
        return completion

    def close(self) -> None:
        self._db.close()
