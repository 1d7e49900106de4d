"""Benchmark of what a person waits for at the command line, with the warm worker running and without it:

- `sleuth search -m hybrid`, per CLI call (the whole process, Python start-up included);
- `sleuth research` on a built index: seconds until its first LLM request reaches a fake OpenAI-compatible
  server (SLEUTH_LLM_BASE_URL points at it; it answers with the grounded fake model), and until it exits;
- the peak RSS of that research process (and of the worker, which holds the model instead).

    .venv/bin/python bench/cli_start.py [--runs 3] [--before ../main/src]

A temporary SLEUTH_HOME gets the bundled demo collection first, untimed. Then the worker is started
(`sleuth worker start`, timed: it loads the model) and the calls alternate, one in-process (SLEUTH_WORKER=off)
then one through the worker (SLEUTH_WORKER=reuse), so a change in the machine's load hits both alike.

`--before SRC` measures another source tree too (a checkout of main, say) in the same run: it gets a home of its
own (a copy of the index) and a worker of its own, started from its code, and its calls take turns with this
tree's. Loads the real MiniLM model once per in-process dense call, once per worker. Ratios are from this one
run on this machine; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from sleuth.testing import FakeOpenAIServer, openai_body_reply  # noqa: E402

QUERY = "Which river flows through the capital?"
QUESTION = "Which river flows through the capital of Austria?"
MODES = ("off", "warm")


class FirstRequest:
    """The fake server's reply function, noting when the first request after `reset` arrived."""

    def __init__(self) -> None:
        self.at: float | None = None
        self._lock = threading.Lock()

    def reset(self) -> None:
        self.at = None

    def __call__(self, body: dict[str, Any]) -> str:
        with self._lock:
            if self.at is None:
                self.at = time.perf_counter()
        return openai_body_reply(body)


@dataclass
class Tree:
    """One source tree's home, environment and measurements (per mode: off, warm)."""

    name: str
    src: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    search_s: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    first_s: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    exit_s: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    rss: dict[str, list[int]] = field(default_factory=lambda: {m: [] for m in MODES})
    cpu: dict[str, list[float]] = field(default_factory=dict)
    start_s: float = 0.0
    worker_rss: tuple[int, int] = (0, 0)

    def mode_env(self, mode: str) -> dict[str, str]:
        return {**self.env, "SLEUTH_WORKER": "off" if mode == "off" else "reuse"}


def run(env: dict[str, str], *args: str) -> tuple[float, str, int, float, float]:
    """Run `sleuth ARGS`; (wall seconds, stdout, peak RSS in MB, start time, CPU seconds)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "sleuth.cli", *args], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the largest child's so far
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"sleuth {' '.join(args)} failed:\n{err.read().decode()[-2000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        return wall, out.read().decode(), usage.ru_maxrss // 1024, started, cpu


def worker_rss_mb(home: Path) -> tuple[int, int]:
    """(current, peak) RSS of the home's worker, from /proc."""
    pid = json.loads((home / "worker.json").read_text())["pid"]
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def med(values: list[float]) -> float:
    return statistics.median(values)


def report(tree: Tree) -> None:
    print(f"{tree.name} ({tree.src}); worker start (loads the model, once): {tree.start_s:.2f} s")
    print("                                      in-process   with worker   ratio")
    for label, series in (
        ("search -m hybrid, per CLI call", tree.search_s),
        ("research, first LLM request", tree.first_s),
        ("research, exit (fake LLM)", tree.exit_s),
    ):
        off, warm = med(series["off"]), med(series["warm"])
        print(f"{label:<37}{off:9.2f} s  {warm:10.2f} s  {off / warm:5.1f}x")
    peak = {m: max(tree.rss[m]) for m in MODES}
    print(
        f"research, peak RSS of the CLI        {peak['off']:7d} MB  {peak['warm']:8d} MB  "
        f"{peak['off'] / peak['warm']:5.1f}x"
    )
    print(
        "CPU seconds of the CLI process (less sensitive to the load): "
        + ", ".join(f"{name} {med(values):.2f}" for name, values in tree.cpu.items())
    )
    print(f"worker RSS now / peak: {tree.worker_rss[0]} / {tree.worker_rss[1]} MB")
    print(f"all runs: first request {tree.first_s}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed calls each way, for each command")
    parser.add_argument("--before", type=Path, help="another source tree to measure in the same run (its src/)")
    args = parser.parse_args()

    first = FirstRequest()
    hits: set[str] = set()
    answers: set[str] = set()
    with tempfile.TemporaryDirectory() as scratch, FakeOpenAIServer(first) as fake:
        trees = [Tree("this tree", SRC, Path(scratch) / "after")]
        if args.before:
            trees.insert(0, Tree("before", args.before.resolve(), Path(scratch) / "before"))
        base = {k: v for k, v in os.environ.items() if not k.startswith("SLEUTH_")}
        for tree in trees:
            tree.env = {**base, "SLEUTH_HOME": str(tree.home), "PYTHONPATH": str(tree.src)}
            tree.env["SLEUTH_LLM_BASE_URL"] = fake.base_url
        search = ["search", QUERY, "-m", "hybrid", "--json"]
        research = ["research", QUESTION, "--json"]
        run(trees[-1].mode_env("off"), *search)  # indexes the demo corpus: not timed
        for tree in trees[:-1]:  # the same index for the other tree
            shutil.copytree(trees[-1].home / "indexes", tree.home / "indexes")
        for tree in trees:
            tree.start_s = run(tree.env, "worker", "start")[0]
        try:
            for _ in range(args.runs):
                for tree in trees:
                    for mode in MODES:
                        env = tree.mode_env(mode)
                        wall, out, _, _, used = run(env, *search)
                        tree.search_s[mode].append(wall)
                        tree.cpu.setdefault(f"search {mode}", []).append(used)
                        hits.add(out)
                        first.reset()
                        wall, out, peak, started, used = run(env, *research)
                        tree.cpu.setdefault(f"research {mode}", []).append(used)
                        assert first.at is not None, "the research run sent no LLM request"
                        tree.first_s[mode].append(round(first.at - started, 3))
                        tree.exit_s[mode].append(wall)
                        tree.rss[mode].append(peak)
                        done = json.loads(out)
                        answers.add(json.dumps([done["answer"], done["citations"]]))
            for tree in trees:
                tree.worker_rss = worker_rss_mb(tree.home)
        finally:
            for tree in trees:
                run(tree.env, "worker", "stop")

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"demo collection, {args.runs} alternating runs each way, {os.cpu_count()} CPUs, load average {load}")
    for tree in trees:
        report(tree)
    if args.before:
        before, after = trees
        print("first LLM request, before -> this tree (medians):")
        for mode, label in (("off", "in-process"), ("warm", "with worker")):
            old, new = med(before.first_s[mode]), med(after.first_s[mode])
            print(f"  {label:<12} {old:.2f} s -> {new:.2f} s ({old / new:.1f}x)")
    print(f"same hits every way: {len(hits) == 1}; same answers and citations every way: {len(answers) == 1}")


if __name__ == "__main__":
    main()
