"""Benchmark of `sleuth search -m dense`: one-shot CLI calls (each loads the embedding model) against the
same calls sent to a running `sleuth serve` (SLEUTH_SERVER_URL), which loads it once.

    .venv/bin/python bench/search_server.py [--home DIR] [--collection NAME] [--runs 2]

Default: a temporary SLEUTH_HOME whose `demo` collection is indexed by the first (untimed) CLI call. With
`--home`, an existing home is used as it is, plus one reader token the benchmark creates there (listed by
`sleuth token list`; revoke it after). Every timing is the wall time of a whole `sleuth search` process,
Python start-up included, measured within this run on this machine (say how loaded it was). Loads the
real MiniLM model `runs + 2` times (plus indexing the demo corpus without `--home`).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[1] / "src"
QUERY = "Which river flows through the capital?"


def sleuth(env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run `sleuth ARGS` in a new process; (wall seconds, stdout)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sleuth.cli", *args], env=env, capture_output=True, text=True, check=True
    )
    return time.perf_counter() - started, done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("sleuth serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="an existing SLEUTH_HOME (default: a temporary one)")
    parser.add_argument("--collection", default="demo")
    parser.add_argument("--runs", type=int, default=2, help="timed searches each way")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        home = args.home or Path(scratch)
        # No warm worker: this measures one-shot CLI calls against the server (bench/cli_start.py: the worker).
        env = {**os.environ, "SLEUTH_HOME": str(home), "PYTHONPATH": str(SRC), "SLEUTH_WORKER": "off"}
        for key in ("SLEUTH_SERVER_URL", "SLEUTH_SERVER_TOKEN"):
            env.pop(key, None)
        search = ["search", QUERY, "-m", "dense", "-c", args.collection, "--json"]
        if args.home is None:
            sleuth(env, *search)  # indexes the demo corpus: not timed
        cold = [sleuth(env, *search) for _ in range(args.runs)]

        token = sleuth(env, "token", "create", "--role", "reader", "--name", "bench-search")[1].splitlines()[-1]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "sleuth.cli", "serve", "--fake-llm", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(url, server)
            remote = {**env, "SLEUTH_SERVER_URL": url, "SLEUTH_SERVER_TOKEN": token}
            first = sleuth(remote, *search)  # the server loads the model here
            warm = [sleuth(remote, *search) for _ in range(args.runs)]
        finally:
            server.terminate()
            server.wait(timeout=30)

    same = all(out == cold[0][1] for _, out in [*cold, first, *warm])
    cold_s = statistics.median(t for t, _ in cold)
    warm_s = statistics.median(t for t, _ in warm)
    print(f"collection {args.collection}, {args.runs} timed runs each, {os.cpu_count()} CPUs")
    print(f"{'one-shot CLI (loads the model)':<40} {cold_s:7.2f} s median")
    print(f"{'via sleuth serve, first call':<40} {first[0]:7.2f} s (the server loads the model)")
    print(f"{'via sleuth serve, warm':<40} {warm_s:7.2f} s median  ({cold_s / warm_s:.1f}x faster)")
    print(f"same hits every way: {same}")


if __name__ == "__main__":
    main()
