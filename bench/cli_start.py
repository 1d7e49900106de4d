"""Benchmark of what a person waits for at the command line, with the warm worker running and without it:

- `sleuth search -m hybrid`, per CLI call (the whole process, Python start-up included);
- `sleuth research` on a built index: seconds until its first LLM request reaches a fake OpenAI-compatible
  server (SLEUTH_LLM_BASE_URL points at it; it answers with the grounded fake model), and until it exits;
- the peak RSS of that research process (and of the worker, which holds the model instead).

    .venv/bin/python bench/cli_start.py [--runs 3]

A temporary SLEUTH_HOME gets the bundled demo collection (2,884 passages) first, untimed. Then the worker
is started (`sleuth worker start`, timed: it loads the model) and the calls alternate, one in-process
(SLEUTH_WORKER=off) then one through the worker (SLEUTH_WORKER=reuse), so a change in the machine's load
hits both alike. Loads the real MiniLM model once per in-process dense call, once for the worker. Ratios are
from this one run on this machine; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from sleuth.testing import FakeOpenAIServer, openai_body_reply  # noqa: E402

QUERY = "Which river flows through the capital?"
QUESTION = "Which river flows through the capital of Austria?"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed calls each way, for each command")
    args = parser.parse_args()

    first = FirstRequest()
    with tempfile.TemporaryDirectory() as scratch, FakeOpenAIServer(first) as fake:
        home = Path(scratch)
        base = {k: v for k, v in os.environ.items() if not k.startswith("SLEUTH_")}
        base.update(SLEUTH_HOME=str(home), PYTHONPATH=str(SRC), SLEUTH_LLM_BASE_URL=fake.base_url)
        off, warm = {**base, "SLEUTH_WORKER": "off"}, {**base, "SLEUTH_WORKER": "reuse"}
        search = ["search", QUERY, "-m", "hybrid", "--json"]
        research = ["research", QUESTION, "--json"]
        run(off, *search)  # indexes the demo corpus: not timed
        start_s = run(base, "worker", "start")[0]

        times: dict[str, list[float]] = {"off": [], "warm": []}
        outputs: dict[str, set[str]] = {"off": set(), "warm": set()}
        first_s: dict[str, list[float]] = {"off": [], "warm": []}
        exit_s: dict[str, list[float]] = {"off": [], "warm": []}
        rss: dict[str, list[int]] = {"off": [], "warm": []}
        cpu: dict[str, list[float]] = {
            "search off": [],
            "search warm": [],
            "research off": [],
            "research warm": [],
        }
        for _ in range(args.runs):
            for name, env in (("off", off), ("warm", warm)):
                wall, out, _, _, used = run(env, *search)
                times[name].append(wall)
                cpu[f"search {name}"].append(used)
                outputs[name].add(out)
                first.reset()
                wall, _, peak, started, used = run(env, *research)
                cpu[f"research {name}"].append(used)
                assert first.at is not None, "the research run sent no LLM request"
                first_s[name].append(first.at - started)
                exit_s[name].append(wall)
                rss[name].append(peak)
        worker_now, worker_peak = worker_rss_mb(home)
        run(base, "worker", "stop")

    med = {name: statistics.median(values) for name, values in times.items()}
    med_first = {name: statistics.median(values) for name, values in first_s.items()}
    med_exit = {name: statistics.median(values) for name, values in exit_s.items()}
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"demo collection, {args.runs} alternating runs each way, {os.cpu_count()} CPUs, load average {load}")
    print(f"worker start (loads the model, once): {start_s:.2f} s")
    print("                                      in-process   with worker   ratio")
    print(
        f"search -m hybrid, per CLI call       {med['off']:9.2f} s  {med['warm']:10.2f} s  {med['off'] / med['warm']:5.1f}x"
    )
    print(
        f"research, first LLM request          {med_first['off']:9.2f} s  {med_first['warm']:10.2f} s  "
        f"{med_first['off'] / med_first['warm']:5.1f}x"
    )
    print(
        f"research, exit (fake LLM)            {med_exit['off']:9.2f} s  {med_exit['warm']:10.2f} s  "
        f"{med_exit['off'] / med_exit['warm']:5.1f}x"
    )
    print(
        f"research, peak RSS of the CLI        {max(rss['off']):7d} MB  {max(rss['warm']):8d} MB  "
        f"{max(rss['off']) / max(rss['warm']):5.1f}x"
    )
    print(
        f"CPU seconds of the CLI process (less sensitive to the load), search: {statistics.median(cpu['search off']):.2f}"
        f" in-process, {statistics.median(cpu['search warm']):.2f} with worker; research: "
        f"{statistics.median(cpu['research off']):.2f} in-process, {statistics.median(cpu['research warm']):.2f} with worker"
    )
    print(f"worker RSS now / peak: {worker_now} / {worker_peak} MB")
    print(f"all runs: search {times}, first request {first_s}")
    print(f"same hits every way: {len(outputs['off'] | outputs['warm']) == 1}")


if __name__ == "__main__":
    main()
