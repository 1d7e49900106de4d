"""Load run of the HTTP API: N concurrent research jobs over HTTP against a fake LLM with a fixed delay.

Starts a real uvicorn server on 127.0.0.1 (temporary SLEUTH_HOME) whose agents call a fake
OpenAI-compatible server through the real client (so `llm_concurrency` bounds every job together), fires
N `POST /v1/research` at once, follows each job's SSE stream to its result, and reports latency
(submit -> result) p50/p95, peak jobs in flight, peak LLM calls in flight and the wall time against its
lower bound (total LLM time / concurrency).

    python bench/server_load.py --jobs 40 --concurrency 4 --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from sleuth.config import Settings
from sleuth.llm.openai_compat import OpenAICompatModel
from sleuth.server.app import create_app
from sleuth.testing import FakeOpenAIServer, fake_sleuth, openai_body_reply, serve_in_thread

MAX_JOBS = 2000


class CountingReply:
    """The fake model's reply, after `delay_s`, counting calls and how many are in flight at once."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls = self.now = self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        with self._lock:
            self.calls += 1
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.delay_s)
        with self._lock:
            self.now -= 1
        return openai_body_reply(body)


async def one_job(client: httpx.AsyncClient, question: str) -> dict[str, Any]:
    started = time.perf_counter()
    created = await client.post("/v1/research", json={"question": question})
    created.raise_for_status()
    seqs, final = [], None
    async with client.stream("GET", created.json()["events_url"]) as stream:
        event_name = "message"
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                event_name = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event_name == "result":
                    final = data
                else:
                    seqs.append(data["seq"])
            elif not line:
                event_name = "message"
    return {
        "latency_s": time.perf_counter() - started,
        "status": (final or {}).get("status"),
        "events": len(seqs),
        "in_order": seqs == list(range(len(seqs))),
    }


async def sample_in_flight(client: httpx.AsyncClient, samples: list[tuple[int, int]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        health = (await client.get("/v1/health")).json()
        samples.append((health["jobs_in_flight"], health["jobs_running"]))
        await asyncio.sleep(0.05)


async def fire(
    url: str, secret: str, jobs: int, timeout_s: float, reply: CountingReply
) -> tuple[list[dict[str, Any]], list[tuple[int, int]], float]:
    limits = httpx.Limits(max_connections=jobs + 8, max_keepalive_connections=jobs + 8)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {secret}"}, limits=limits, timeout=timeout_s
    ) as client:
        await one_job(client, "What is Lilu? (warm-up: imports and first graph build are not timed)")
        reply.calls = reply.peak = 0
        samples: list[tuple[int, int]] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_in_flight(client, samples, stop))
        started = time.perf_counter()
        results = await asyncio.wait_for(
            asyncio.gather(*(one_job(client, f"What is Lilu? (run {i})") for i in range(jobs))), timeout_s
        )
        wall = time.perf_counter() - started
        stop.set()
        await sampler
    return results, samples, wall


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40, help=f"concurrent research jobs (at most {MAX_JOBS})")
    parser.add_argument("--concurrency", type=int, default=4, help="llm_concurrency: LLM calls in flight")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the fake LLM takes per call")
    parser.add_argument(
        "--max-jobs",
        type=int,
        default=0,
        help="server_max_jobs: jobs running at once, the rest queue (default: all N)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    jobs = max(1, min(args.jobs, MAX_JOBS))

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(
            home=Path(home),
            max_rounds=1,
            llm_concurrency=args.concurrency,
            server_rate_burst=jobs + 10,
            server_max_jobs=args.max_jobs or jobs,
        )
        reply = CountingReply(args.delay)
        with FakeOpenAIServer(reply) as fake:
            llm = OpenAICompatModel(fake.base_url, "fake", concurrency=args.concurrency, max_retries=0)
            app = create_app(settings, sleuth=fake_sleuth(settings, llm=llm))
            secret = app.state.sleuth.tokens.create("reader", tenant="bench")[1]
            with serve_in_thread(app) as url:
                results, samples, wall = asyncio.run(fire(url, secret, jobs, args.timeout, reply))

    latencies = sorted(r["latency_s"] for r in results)
    calls_per_job = reply.calls / jobs
    report = {
        "jobs": jobs,
        "server_max_jobs": settings.server_max_jobs,
        "llm_concurrency": args.concurrency,
        "llm_delay_s": args.delay,
        "succeeded": sum(r["status"] == "succeeded" for r in results),
        "events_in_order": all(r["in_order"] for r in results),
        "events_per_job": round(statistics.mean(r["events"] for r in results), 1),
        "peak_jobs_in_flight": max((s[0] for s in samples), default=0),
        "peak_jobs_running": max((s[1] for s in samples), default=0),
        "peak_llm_calls_in_flight": reply.peak,
        "llm_calls": reply.calls,
        "latency_p50_s": round(percentile(latencies, 50), 3),
        "latency_p95_s": round(percentile(latencies, 95), 3),
        "latency_max_s": round(latencies[-1], 3),
        "wall_s": round(wall, 3),
        "wall_lower_bound_s": round(reply.calls * args.delay / args.concurrency, 3),
        "jobs_per_s": round(jobs / wall, 2),
        "llm_calls_per_job": round(calls_per_job, 1),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{jobs} research jobs over HTTP, fake LLM {args.delay * 1000:.0f} ms/call, "
        f"llm_concurrency={args.concurrency}"
    )
    for key, value in report.items():
        print(f"  {key:26} {value}")


if __name__ == "__main__":
    main()
