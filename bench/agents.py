"""Benchmark of the research graph's own cost against a fake OpenAI-compatible server with a fixed delay.

Prints, for N parallel readers: (a) framework overhead = wall time minus the time inside LLM calls
(union of call intervals, measured around each HTTP call), goal <= 2%; (b) wall time against the
critical-path LLM time (sequential LLM stages x delay), goal <= 1.2x.

    .venv/bin/python bench/agents.py [--delay 0.5] [--readers 1 4 8 16] [--repeats 3]

The fake server runs in a child process (aiohttp), so its work does not count as framework time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

# --- the fake server (child process) -------------------------------------------------------------------


def fake_reply(schema: str) -> dict[str, Any]:
    """A valid JSON answer for each schema the research graph asks for."""
    if schema == "Plan":
        return {"tasks": [{"query": "fact about topic", "instructions": "find the fact"}]}
    if schema == "ReaderOutput":
        return {"evidence": [{"passage": 1, "sentence": 1, "claim": "a fact about the topic"}]}
    if schema == "RoundSummary":
        return {"summary": "The topic has facts.", "unknown": []}
    if schema == "WriterOutput":
        return {"sentences": [{"text": "The topic fact number one is known from the passages.", "evidence": [1]}]}
    return {}


def serve(port: int, delay: float) -> None:
    from aiohttp import web

    async def completions(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(delay)
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("name", "")
        content = json.dumps(fake_reply(schema))
        return web.json_response(
            {
                "id": "x",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "fake",
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- the benchmark --------------------------------------------------------------------------------------


class TimedModel:
    """Records the [start, end] interval of every LLM call (around the HTTP request)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.intervals: list[tuple[float, float]] = []

    async def complete(self, messages: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await self.inner.complete(messages, **kwargs)
        finally:
            self.intervals.append((start, time.perf_counter()))


def union_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


async def one_run(base_url: str, readers: int) -> dict[str, float]:
    from sleuth.agents.deps import AgentDeps
    from sleuth.agents.research.run import run_research
    from sleuth.config import Settings
    from sleuth.llm import OpenAICompatModel
    from sleuth.prompts.sets import load_prompt_set
    from sleuth.retrieval.base import Passage
    from sleuth.testing import StaticRetriever

    passages = [
        Passage(f"p{i}", f"The topic fact number {i} is stated here. More text follows.", f"Doc {i}")
        for i in range(readers)
    ]
    settings = Settings(
        max_rounds=2, reader_batch_size=1, search_k=readers, llm_concurrency=readers, research_direct_answer=False
    )
    client = OpenAICompatModel(base_url, "fake", concurrency=readers, max_retries=0)
    llm = TimedModel(client)
    deps = AgentDeps(llm=llm, retriever=StaticRetriever(passages), prompts=load_prompt_set(), settings=settings)
    try:
        start = time.perf_counter()
        report = await run_research("What facts are known about the topic?", deps)
        wall = time.perf_counter() - start
    finally:
        await client.aclose()
    assert report.status == "answered", report.answer
    assert len([c for c in llm.intervals]) == readers + 3
    return {"wall": wall, "llm": union_length(llm.intervals)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(script: str, delay: float) -> tuple[subprocess.Popen[bytes], str]:
    """Run `script --serve PORT` (its fake server) in a child process; returns it and its base URL once it
    answers a chat completion."""
    import httpx

    port = free_port()
    server = subprocess.Popen([sys.executable, script, "--serve", str(port), "--delay", str(delay)])
    for _ in range(100):
        try:
            httpx.post(
                f"http://127.0.0.1:{port}/v1/chat/completions", json={"messages": [{"content": ""}]}, timeout=5
            )
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return server, f"http://127.0.0.1:{port}/v1"


async def bench(base_url: str, delay: float, counts: list[int], repeats: int) -> list[dict[str, float]]:
    await one_run(base_url, 2)  # warm-up: imports, graph compile, first connection
    rows = []
    stages = 4  # orchestrator, readers (in parallel), aggregator (nothing unknown: stop), writer
    for readers in counts:
        runs = [await one_run(base_url, readers) for _ in range(repeats)]
        wall = statistics.median(r["wall"] for r in runs)
        llm = statistics.median(r["llm"] for r in runs)
        critical = stages * delay
        rows.append(
            {
                "readers": readers,
                "wall_s": wall,
                "llm_s": llm,
                "overhead_pct": 100 * (wall - llm) / wall,
                "critical_s": critical,
                "wall_over_critical": wall / critical,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.5, help="Seconds the fake server waits per call.")
    parser.add_argument("--readers", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.delay)
        return
    server, base_url = start_server(__file__, args.delay)
    try:
        rows = asyncio.run(bench(base_url, args.delay, args.readers, args.repeats))
    finally:
        server.terminate()
        server.wait(10)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"fake LLM delay {args.delay}s per call; median of {args.repeats} runs; 1 round, 4 sequential LLM stages"
    )
    print(
        f"{'readers':>7} {'wall s':>8} {'in LLM s':>9} {'overhead':>9} {'ms':>6} {'critical s':>10} {'wall/crit':>9}"
    )
    for r in rows:
        overhead_ms = 1000 * (r["wall_s"] - r["llm_s"])
        print(
            f"{r['readers']:>7} {r['wall_s']:>8.3f} {r['llm_s']:>9.3f} {r['overhead_pct']:>8.2f}% {overhead_ms:>6.0f} "
            f"{r['critical_s']:>10.2f} {r['wall_over_critical']:>8.3f}x"
        )


if __name__ == "__main__":
    main()
