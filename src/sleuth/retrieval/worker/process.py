"""The warm worker's process: serve in the foreground (loopback only, recorded in `SLEUTH_HOME/worker.json`
with a fresh token), start one in the background and wait for it, stop it."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sleuth.config import Settings
from sleuth.private import private_dir, private_file
from sleuth.retrieval.base import Embedder
from sleuth.retrieval.worker.client import WorkerClient, WorkerUnavailable, probe_worker
from sleuth.retrieval.worker.protocol import WorkerKey, WorkerRecord, read_record, remove_record, write_record

if TYPE_CHECKING:
    import uvicorn
    from fastapi import APIRouter

    from sleuth.retrieval.worker.app import WorkerState

HOST = "127.0.0.1"
"""Loopback only: the worker is for the commands of the user who started it (its token keeps other local
accounts out; SLEUTH_HOME is theirs alone)."""


def log_path(settings: Settings) -> Path:
    return settings.home / "logs" / "worker.log"


def serve(
    settings: Settings,
    *,
    port: int = 0,
    embedder: Embedder | None = None,
    routers: Sequence[Callable[[WorkerState], APIRouter]] = (),
) -> None:
    """Load the embedding model, then answer on 127.0.0.1 until stopped (SIGINT/SIGTERM, `sleuth worker
    stop`) or idle for `settings.worker_idle_s`; the record is written once it listens and removed at exit.

    Args:
        port: 0 picks a free one.
        embedder: the embedder to serve; default: the configured one (or a test's stand-in).
        routers: build more routes over the worker's state (`sleuth worker run` adds research).
    """
    import uvicorn

    from sleuth.retrieval.embedders import load_embedder
    from sleuth.retrieval.worker.app import WorkerState, create_worker_app

    embedder = embedder or load_embedder(settings)
    embedder.embed(["warm up"])  # the first forward pass is the slowest: pay it before anyone waits on it
    state = WorkerState(settings, embedder, WorkerKey.of(settings), settings.worker_idle_s)
    token = secrets.token_urlsafe(32)
    config = uvicorn.Config(
        create_worker_app(
            state,
            token,
            stop=lambda: setattr(server, "should_exit", True),
            routers=[build(state) for build in routers],
        ),
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, port))
    listener.listen(128)  # callers that come before the loop runs wait in the backlog
    url = f"http://{HOST}:{listener.getsockname()[1]}"
    write_record(settings.worker_file, WorkerRecord(url=url, pid=os.getpid(), token=token, key=state.key))
    threading.Thread(target=_exit_when_idle, args=(server, state), daemon=True).start()
    print(f"sleuth worker {os.getpid()} listening on {url} for {settings.home}", flush=True)
    try:
        server.run(sockets=[listener])
    finally:
        remove_record(settings.worker_file, os.getpid())
        state.close()
        listener.close()


def _exit_when_idle(server: uvicorn.Server, state: WorkerState) -> None:
    while not server.should_exit:
        time.sleep(min(5.0, state.idle_s / 4) if state.idle_s else 5.0)
        if state.idle_s and not state.busy() and time.monotonic() - state.last_request > state.idle_s:
            server.should_exit = True


def start_worker(settings: Settings, command: Sequence[str] | None = None) -> WorkerClient:
    """Start a worker for `settings.home` in the background and wait until it answers (the running one, when
    another command started it meanwhile). It outlives this process.

    Args:
        command: the process to run; default: `python -m sleuth.cli worker run`, the one entry point of a
            worker (it mounts the routes of the layers above this one: research).

    Raises:
        WorkerUnavailable: it exited, or did not answer within `settings.worker_start_timeout_s`.
    """
    with _start_lock(settings):
        running = probe_worker(settings).client
        if running is not None:
            return running
        record = read_record(settings.worker_file)
        if record is not None and not _alive(record.pid):
            remove_record(settings.worker_file, record.pid)  # a killed worker's
        log = log_path(settings)
        private_dir(log.parent)
        argv = list(command or [sys.executable, "-m", "sleuth.cli", "worker", "run"])
        env = {**os.environ, "SLEUTH_HOME": str(settings.home)}
        with private_file(log).open("ab") as out:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        return _wait_for(settings, child, log)


def _wait_for(settings: Settings, child: subprocess.Popen[bytes], log: Path) -> WorkerClient:
    deadline = time.monotonic() + settings.worker_start_timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise WorkerUnavailable(f"the worker exited with code {child.returncode}; see {log}")
        record = read_record(settings.worker_file)
        if record is not None and record.pid == child.pid:
            probe = probe_worker(settings)
            if probe.client is not None:
                return probe.client
            if probe.status is not None:
                child.terminate()
                raise WorkerUnavailable(probe.problem or "the worker cannot be used")
        time.sleep(0.1)
    child.terminate()
    raise WorkerUnavailable(f"the worker did not answer within {settings.worker_start_timeout_s:.0f} s; see {log}")


def stop_worker(settings: Settings, timeout_s: float = 15.0) -> int | None:
    """Stop this home's worker; returns its pid, or None when none was running (a stale record is removed).

    A worker that answers is asked to stop (with its token); one that does not is left alone: its pid may
    belong to another process by now.
    """
    record = read_record(settings.worker_file)
    if record is None:
        return None
    client = WorkerClient(record)
    try:
        client.stop()
    except WorkerUnavailable:
        remove_record(settings.worker_file, record.pid)
        return None
    finally:
        client.close()
    deadline = time.monotonic() + timeout_s
    while _alive(record.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return record.pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now
        return True
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that exited (a zombie until reaped)
            return False
    return True


@contextlib.contextmanager
def _start_lock(settings: Settings) -> Iterator[None]:
    """One start at a time per home: two commands that find no worker together start one, not two."""
    import fcntl

    with private_file(settings.home / "worker.lock").open("r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
