"""Benchmark of sleuth against its LangGraph peer, open_deep_research: what each framework adds around its
LLM calls, in wall time and CPU, on one fake OpenAI-compatible server with the same local search.

    .venv/bin/python bench/peer.py [--runs 5] [--delay 0.3] [--width 4]

- The peer is installed from PyPI (`open-deep-research==0.0.16`, its last release: a wheel) into its own
  virtualenv, `.bench-venvs/odr` (git-ignored), the first time; later runs reuse it.
- One fake server (aiohttp, a child process) answers both frameworks' requests after `--delay` seconds:
  sleuth's JSON-schema structured outputs (a valid instance of the schema asked for), the peer's structured
  outputs (langchain-openai sends them as JSON-schema `response_format` too), its tool calls (the supervisor
  sends `--width` ConductResearch calls, then ResearchComplete; each researcher calls the search tool once,
  then answers in text) and its free-text compression and report. It notes when each request arrives and
  when its reply leaves.
- The same search for both: `rank` below over the same passages, in-process. sleuth gets it as its retriever;
  the peer as a LangChain tool put in place of its search tool (open_deep_research 0.0.16 offers Tavily,
  OpenAI's or Anthropic's native web search, MCP tools or none; the bench replaces `utils.get_search_tool`,
  the one function that picks the tool, so no network search and no MCP server sit in the peer's runs).
- Each framework runs in a long-lived worker process of its own (after one warm-up run), and their runs
  are interleaved. Per run: wall time, time inside LLM calls (the union of the server's request intervals),
  non-LLM overhead (wall - that union), and the worker's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

PEER = "open-deep-research==0.0.16"
VENV = Path(__file__).resolve().parent.parent / ".bench-venvs" / "odr"
QUESTION = "What facts are known about the topic?"
PASSAGES = [
    (
        f"p{i}",
        f"Doc {i}",
        f"The topic fact number {i} is stated here. It was measured in {1990 + i}. More text follows.",
    )
    for i in range(12)
]
SEARCH_TOOL = "local_search"


def rank(query: str, k: int) -> list[tuple[str, str, str]]:
    """The shared search: passages ranked by words shared with the query (ties in order)."""
    words = set(re.findall(r"\w+", query.lower()))
    scored = [(-len(words & set(re.findall(r"\w+", f"{p[1]} {p[2]}".lower()))), i) for i, p in enumerate(PASSAGES)]
    return [PASSAGES[i] for score, i in sorted(scored) if score < 0][:k]


# --- the fake server (child process, sleuth's environment) -----------------------------------------------


def reply_message(body: dict[str, Any], width: int) -> dict[str, Any]:
    """The assistant message answering `body`, whichever framework sent it."""
    from sleuth.testing import fake_from_schema

    tools = {tool["function"]["name"] for tool in body.get("tools") or []}
    answered = any(message.get("role") == "tool" for message in body["messages"])
    if "ConductResearch" in tools:  # the peer's supervisor
        calls = (
            [("ResearchComplete", {})]
            if answered
            else [
                ("ConductResearch", {"research_topic": f"Facts about the topic, part {i + 1}."})
                for i in range(width)
            ]
        )
        return _tool_calls(calls)
    if SEARCH_TOOL in tools and not answered:  # the peer's researcher, before and after its search
        return _tool_calls([(SEARCH_TOOL, {"queries": ["facts about the topic"]})])
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = response_format["json_schema"]
        content = json.dumps(SLEUTH_REPLIES.get(schema["name"]) or fake_from_schema(schema["schema"]))
    else:
        content = "The topic fact number 1 is stated in Doc 1; it was measured in 1991."
    return {"role": "assistant", "content": content}


SLEUTH_REPLIES: dict[str, Any] = {
    # Replies that lead sleuth's graph through one full round (fake data would pick no sentence).
    "Plan": {"tasks": []},
    "ReaderOutput": {"evidence": [{"passage": 1, "sentence": 1, "claim": "a fact about the topic"}]},
    "RoundSummary": {"summary": "The topic has facts.", "unknown": []},
    "WriterOutput": {"sentences": [{"text": "The topic fact number 1 is stated here.", "evidence": [1]}]},
}


def _tool_calls(calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(calls)
        ],
    }


def serve(port: int, delay: float, width: int) -> None:
    from aiohttp import web

    log: list[tuple[float, float]] = []

    async def completions(request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        body = await request.json()
        message = reply_message(body, width)
        await asyncio.sleep(delay)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        reply = {
            "id": f"chatcmpl-{len(log)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
        log.append((arrived, time.monotonic()))
        return web.json_response(reply)

    async def read_log(request: web.Request) -> web.Response:
        intervals = list(log)
        log.clear()
        return web.json_response(intervals)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/log", read_log)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- the workers (one process per framework, each in its own environment) -----------------------------


async def sleuth_run(url: str, width: int, home: str) -> None:
    from sleuth.agents.deps import AgentDeps
    from sleuth.agents.research.run import run_research
    from sleuth.config import Settings
    from sleuth.llm.clients import connect
    from sleuth.prompts.sets import load_prompt_set
    from sleuth.retrieval.base import Hit, Passage

    class SharedSearch:
        def search(self, query: str, k: int, *, where: Any = None) -> list[Hit]:
            return [Hit(Passage(pid, text, title), 1.0, "bench") for pid, title, text in rank(query, k)]

    # A round of `width` readers, as the peer's supervisor sends out `width` researchers; sleuth's defaults
    # otherwise (the direct answer the report opens with included).
    settings = Settings(
        home=Path(home), llm_base_url=url, llm_model="fake", max_rounds=1, reader_batch_size=1, search_k=width
    )
    async with connect(settings) as llm:
        deps = AgentDeps(llm=llm, retriever=SharedSearch(), prompts=load_prompt_set(), settings=settings)
        report = await run_research(QUESTION, deps)
    assert report.status == "answered" and report.citations, report.answer


def peer_setup() -> Any:
    """The peer's graph, its search tool replaced by the shared search."""
    from langchain_core.tools import tool
    from open_deep_research import utils
    from open_deep_research.deep_researcher import deep_researcher

    @tool(SEARCH_TOOL)
    def local_search(queries: list[str]) -> str:
        """Search the local passages; returns the best ones for each query."""
        return "\n\n".join(f"--- {title} ---\n{text}" for query in queries for _, title, text in rank(query, 4))

    async def get_search_tool(search_api: Any) -> list[Any]:
        return [local_search]

    utils.get_search_tool = get_search_tool
    return deep_researcher


async def peer_run(graph: Any, width: int) -> None:
    from langchain_core.messages import HumanMessage

    config = {"configurable": {"search_api": "none", "max_concurrent_research_units": width}}
    result = await graph.ainvoke({"messages": [HumanMessage(content=QUESTION)]}, config)
    assert result.get("final_report") and "Error" not in result["final_report"][:40], result.get("final_report")


def worker(kind: str, url: str, width: int) -> None:
    """Run one research per `run` line on stdin; answer each with a `RESULT {json}` line."""
    import tempfile

    loop = asyncio.new_event_loop()  # one loop for every run, as in a server
    home = tempfile.mkdtemp(prefix="sleuth-peer-bench-")
    graph = peer_setup() if kind == "peer" else None
    for line in sys.stdin:
        if line.strip() != "run":
            break
        server_log(url)  # start from an empty log
        cpu, start = time.process_time(), time.perf_counter()
        loop.run_until_complete(sleuth_run(url, width, home) if graph is None else peer_run(graph, width))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        intervals = server_log(url)
        result = {"wall": wall, "cpu": cpu, "llm": union_length(intervals), "calls": len(intervals)}
        print("RESULT " + json.dumps(result), flush=True)


def server_log(url: str) -> list[tuple[float, float]]:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/log", timeout=10) as response:
        return [tuple(pair) for pair in json.load(response)]


def union_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


# --- the harness --------------------------------------------------------------------------------------


def peer_python() -> Path:
    """The peer's virtualenv's python, made and filled from PyPI the first time."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import open_deep_research.deep_researcher"]
    if python.exists() and subprocess.run(probe, capture_output=True, env=_peer_env("")).returncode == 0:
        return python
    print(f"installing {PEER} into {VENV} (once; a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, PEER], check=True)
    return python


def _peer_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "LANGSMITH", "LANGCHAIN"))}
    return {**env, "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": url, "LANGSMITH_TRACING": "false"}


class Worker:
    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def run(self) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                return json.loads(line.removeprefix("RESULT "))
            print(f"[{self.name}] {line}", end="", file=sys.stderr)  # what a framework printed: its errors
        raise RuntimeError(f"the {self.name} worker exited with {self.proc.wait()}")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str) -> None:
    for _ in range(200):
        try:
            server_log(url)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the fake server at {url} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="Measured runs per framework (after a warm-up).")
    parser.add_argument("--delay", type=float, default=0.3, help="Seconds the fake server takes per call.")
    parser.add_argument("--width", type=int, default=4, help="Readers (sleuth) and researchers (peer) per round.")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=["sleuth", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.delay, args.width)
    if args.worker:
        return worker(args.worker, args.url, args.width)
    python = peer_python()
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    me = [__file__, "--width", str(args.width), "--url", url]
    server = subprocess.Popen([sys.executable, *me, "--serve", str(port), "--delay", str(args.delay)])
    workers = []
    try:
        wait_until_up(url)
        workers = [
            Worker("sleuth", [sys.executable, *me, "--worker", "sleuth"], dict(os.environ)),
            Worker("peer", [str(python), *me, "--worker", "peer"], _peer_env(url)),
        ]
        for each in workers:
            each.run()  # warm-up: imports done, graph compiled, first connections
        runs: dict[str, list[dict[str, float]]] = {each.name: [] for each in workers}
        for i in range(args.runs):
            for each in workers if i % 2 == 0 else workers[::-1]:  # interleaved, alternating who goes first
                runs[each.name].append(each.run())
    finally:
        for each in workers:
            each.close()
        server.terminate()
        server.wait(10)
    report(runs, args)


def report(runs: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    print(f"fake LLM {args.delay}s per call, width {args.width}, {args.runs} interleaved runs each ({PEER})")
    print(
        f"{'framework':<8} {'run':>3} {'wall s':>7} {'in LLM s':>8} {'overhead ms':>11} {'CPU s':>6} {'calls':>5}"
    )
    medians: dict[str, dict[str, float]] = {}
    for name, rows in runs.items():
        for i, r in enumerate(rows, start=1):
            overhead = 1000 * (r["wall"] - r["llm"])
            print(
                f"{name:<8} {i:>3} {r['wall']:>7.3f} {r['llm']:>8.3f} {overhead:>11.0f} {r['cpu']:>6.2f} {r['calls']:>5.0f}"
            )
        medians[name] = {key: statistics.median(r[key] for r in rows) for key in ("wall", "llm", "cpu", "calls")}
        medians[name]["overhead"] = statistics.median(r["wall"] - r["llm"] for r in rows)
    for name, m in medians.items():
        print(
            f"{name:<8} median wall {m['wall']:.3f} s, in LLM {m['llm']:.3f} s, overhead {1000 * m['overhead']:.0f} ms "
            f"({1000 * m['overhead'] / m['calls']:.1f} ms per call), CPU {m['cpu']:.2f} s, {m['calls']:.0f} calls"
        )
    s, p = medians["sleuth"], medians["peer"]
    print(
        f"sleuth/peer: non-LLM overhead {s['overhead'] / p['overhead']:.2f}x, CPU {s['cpu'] / p['cpu']:.2f}x, "
        f"wall {s['wall'] / p['wall']:.2f}x, LLM calls {s['calls'] / p['calls']:.2f}x"
    )


if __name__ == "__main__":
    main()
