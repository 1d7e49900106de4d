"""Benchmark of the research graph's reader fan-out: time from the plan to the last reader request.

A fake OpenAI-compatible server in a child process (aiohttp) notes when it sends the orchestrator's plan and
when each reader request arrives, on the machine's monotonic clock; the time between the plan leaving the
server and the last of N reader requests reaching it is what the graph, the search and request building
cost before the last reader's call is on the wire (goal: <= 25 ms for 16 readers).

    .venv/bin/python bench/fanout.py [--readers 16] [--repeats 15] [--delay 0.3] [--freeze]

Runs go as `sleuth research` runs them (SQLite checkpoints, 16 calls in flight), through sleuth's client (the
openai SDK), in three arms interleaved in one process: each request sent through the SDK's own
`chat.completions.create` on its default httpx2 client (before); through its request path with the body
sleuth builds, on httpx2 (the default); and the same on the SDK's aiohttp client (`SLEUTH_LLM_HTTP=aiohttp`). The CPU time of
the whole run is printed too: unlike the wall times, it hardly moves with the load on the machine. With
`--freeze` the heap is frozen after the warm-up, as the API server and the warm worker freeze theirs
(`sleuth.heap.freeze_loaded`); a CLI run in its own process does not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx2
from agents import (  # bench/agents.py: the same fake replies (the script's folder is on sys.path)
    fake_reply,
    start_server,
)

from sleuth.heap import freeze_loaded
from sleuth.llm import OpenAICompatModel
from sleuth.names import LLMHttp

# --- the fake server (child process) -------------------------------------------------------------------


def serve(port: int, delay: float) -> None:
    """Answer chat completions after `delay` seconds; log (event, schema, monotonic time) for `GET /log`."""
    from aiohttp import web

    log: list[tuple[str, str, float]] = []

    async def completions(request: web.Request) -> web.Response:
        arrived = time.monotonic()
        body = await request.json()
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("name", "")
        log.append(("arrived", schema, arrived))
        await asyncio.sleep(delay)
        content = json.dumps(fake_reply(schema))
        reply = {
            "id": "x",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "fake",
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
        log.append(("sent", schema, time.monotonic()))
        return web.json_response(reply)

    async def read_log(request: web.Request) -> web.Response:
        events = list(log)
        log.clear()
        return web.json_response(events)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/log", read_log)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- the benchmark --------------------------------------------------------------------------------------


def fanout_of(events: list[tuple[str, str, float]], readers: int) -> dict[str, float]:
    """From the server's log of one run: ms from the plan leaving to the last reader request arriving, and
    the most reader requests the server held at once."""
    plan_sent = min(t for kind, schema, t in events if kind == "sent" and schema == "Plan")
    arrivals = sorted(t for kind, schema, t in events if kind == "arrived" and schema == "ReaderOutput")
    replies = sorted(t for kind, schema, t in events if kind == "sent" and schema == "ReaderOutput")
    assert len(arrivals) == readers, f"{len(arrivals)} reader requests, expected {readers}"
    in_flight = peak = 0
    for _, step in sorted([(t, 1) for t in arrivals] + [(t, -1) for t in replies]):
        in_flight += step
        peak = max(peak, in_flight)
    return {
        "first_ms": 1000 * (arrivals[0] - plan_sent),
        "last_ms": 1000 * (arrivals[-1] - plan_sent),
        "peak_in_flight": peak,
    }


class SdkCreateModel(OpenAICompatModel):
    """The client as it was: each request through `chat.completions.create`, whose parameter transform
    walks every argument (the same body and headers reach the server; `test_llm_client` asserts it)."""

    async def _post(self, body: bytes) -> httpx2.Response:
        raw = await self._client.chat.completions.with_raw_response.create(**json.loads(body))
        return raw.http_response


ARMS: dict[str, tuple[type[OpenAICompatModel], LLMHttp]] = {
    "SDK create, httpx2 (before)": (SdkCreateModel, "httpx"),
    "built body, httpx2 (default)": (OpenAICompatModel, "httpx"),
    "built body, aiohttp (opt-in)": (OpenAICompatModel, "aiohttp"),
}


async def one_run(base_url: str, readers: int, arm: str, home: Path) -> dict[str, float]:
    """One research run (1 round, `readers` batches of one passage) as `sleuth research` runs it, every step
    checkpointed to SQLite under `home`; the fan-out figures from the server's log."""
    from sleuth.agents.deps import AgentDeps
    from sleuth.agents.research.run import run_research, sqlite_checkpointer
    from sleuth.config import Settings
    from sleuth.prompts.sets import load_prompt_set
    from sleuth.retrieval.base import Passage
    from sleuth.testing import StaticRetriever

    passages = [
        Passage(f"p{i}", f"The topic fact number {i} is stated here. More text follows.", f"Doc {i}")
        for i in range(readers)
    ]
    settings = Settings(
        home=home, max_rounds=1, reader_batch_size=1, search_k=readers, research_direct_answer=False
    )
    model, http = ARMS[arm]
    client = model(base_url, "fake", concurrency=readers, max_retries=0, http=http)
    cpu = time.process_time()
    deps = AgentDeps(llm=client, retriever=StaticRetriever(passages), prompts=load_prompt_set(), settings=settings)
    try:
        async with sqlite_checkpointer(settings) as saver:
            report = await run_research("What facts are known about the topic?", deps, checkpointer=saver)
    finally:
        await client.aclose()
    cpu = time.process_time() - cpu
    assert report.status == "answered", report.answer
    events = httpx2.get(base_url.removesuffix("/v1") + "/log").json()
    return {**fanout_of([tuple(e) for e in events], readers), "cpu_ms": 1000 * cpu}


async def bench(
    base_url: str, readers: int, repeats: int, arms: list[str], freeze: bool
) -> dict[str, list[dict[str, float]]]:
    with tempfile.TemporaryDirectory() as home:
        for arm in arms:
            await one_run(base_url, 2, arm, Path(home))  # warm-up: imports, graph compile, first connections
        if freeze:
            freeze_loaded()
        runs: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
        for _ in range(repeats):
            for arm in arms:  # interleaved, so load on the machine falls on every arm alike
                runs[arm].append(await one_run(base_url, readers, arm, Path(home)))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.3, help="Seconds the fake server waits per call.")
    parser.add_argument("--readers", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--freeze", action="store_true", help="Freeze the heap after the warm-up.")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.delay)
        return
    start_load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    server, base_url = start_server(__file__, args.delay)
    try:
        runs = asyncio.run(bench(base_url, args.readers, args.repeats, list(ARMS), args.freeze))
    finally:
        server.terminate()
        server.wait(10)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    frozen = ", heap frozen after the warm-up" if args.freeze else ""
    print(
        f"{args.readers} readers, fake LLM delay {args.delay}s per call, median of {args.repeats} runs per arm{frozen}"
    )
    print(f"load average (1, 5, 15 min) at the start: {start_load}; at the end: {load}")
    print(
        f"{'request path':<30} {'plan->first ms':>15} {'plan->last ms':>14} {'(min-max)':>10} {'in flight':>10}"
        f" {'CPU ms/run':>11}"
    )
    last, cpu = {}, {}
    for arm, rows in runs.items():
        lasts = [r["last_ms"] for r in rows]
        last[arm], cpu[arm] = statistics.median(lasts), statistics.median(r["cpu_ms"] for r in rows)
        first = statistics.median(r["first_ms"] for r in rows)
        peak = min(r["peak_in_flight"] for r in rows)
        spread = f"{min(lasts):.0f}-{max(lasts):.0f}"
        print(f"{arm:<30} {first:>15.1f} {last[arm]:>14.1f} {spread:>10} {peak:>10.0f} {cpu[arm]:>11.0f}")
    before = next(iter(runs))
    for arm in list(runs)[1:]:
        print(
            f"{arm} / {before}: plan->last {last[arm] / last[before]:.3f}x, "
            f"CPU per run {cpu[arm] / cpu[before]:.3f}x"
        )


if __name__ == "__main__":
    main()
