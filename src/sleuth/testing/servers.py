"""Real servers on 127.0.0.1 for tests and benchmarks: a fault-injecting OpenAI-compatible chat server, an
ASGI app (the sleuth API) run under uvicorn in a background thread, and a warm worker process on the hash
embedder."""

from __future__ import annotations

import json
import subprocess
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal["status", "body", "content", "hang", "drip"]


@dataclass(frozen=True)
class Fault:
    """One misbehaviour `FakeOpenAIServer` answers one request with; build it with the class methods."""

    kind: FaultKind
    status: int = 200
    body: dict[str, Any] | bytes = b""
    content: str | None = None
    seconds: float = 0.0
    chunk: int = 1

    @classmethod
    def http(cls, status: int) -> Fault:
        """An HTTP error status (429, 500, ...) with an OpenAI-style error body."""
        return cls("status", status=status)

    @classmethod
    def raw(cls, body: dict[str, Any] | bytes) -> Fault:
        """A status-200 body that is not a chat completion: a dict sent as JSON, bytes as they are."""
        return cls("body", body=body)

    @classmethod
    def reply(cls, content: str | None) -> Fault:
        """A well-formed chat completion whose message content is `content` (None is sent as null)."""
        return cls("content", content=content)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """No reply for `seconds` (longer than the client waits), then the normal reply."""
        return cls("hang", seconds=seconds)

    @classmethod
    def drip(cls, seconds: float, chunk: int = 1) -> Fault:
        """The normal reply sent `chunk` bytes at a time, `seconds` apart (a stalling proxy or server)."""
        return cls("drip", seconds=seconds, chunk=max(1, chunk))


class FakeOpenAIServer:
    """A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks (threaded, stdlib only).

    Requests are answered by `reply` unless a scripted fault is pending: each request takes the next fault
    (`statuses`, then `bodies`, then `faults`, then any added with `inject`), so `[Fault.http(429)] * 3`
    is a storm of three 429s before the server recovers.

    Args:
        reply: function of the request body (dict) returning the reply text.
        delay_s: seconds to wait before answering each request (simulates generation time).
        statuses: HTTP status codes to answer with first, one per request, before normal replies
            (e.g. `[500, 429]` to exercise retries).
        bodies: raw 200 responses to send next, one per request, before normal replies: a dict is sent as
            JSON, bytes as they are (e.g. `[{"choices": []}, b"<html>"]` to exercise malformed replies).
        faults: further faults, one per request (hangs, drips, bad message content, ...).
    """

    def __init__(
        self,
        reply: Callable[[dict[str, Any]], str] = lambda body: "ok",
        *,
        delay_s: float = 0.0,
        statuses: Iterable[int] = (),
        bodies: Iterable[dict[str, Any] | bytes] = (),
        faults: Iterable[Fault] = (),
    ) -> None:
        import http.server
        import threading
        import time

        self.requests: list[dict[str, Any]] = []
        self.raw_requests: list[tuple[dict[str, str], bytes]] = []
        """Each request's headers (names lower-cased) and body bytes, as they arrived."""
        self.faults_injected = 0
        """Requests answered with a fault so far."""
        self._lock = threading.Lock()  # handler threads take faults concurrently
        self._faults: deque[Fault] = deque([*map(Fault.http, statuses), *map(Fault.raw, bodies), *faults])
        # Set on exit, so a hanging or dripping handler thread stops at once instead of sleeping on.
        self._closing = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                self._send(200, {"status": "ok"})

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(data or b"{}")
                outer.requests.append(body)
                outer.raw_requests.append(({k.lower(): v for k, v in self.headers.items()}, data))
                model = body.get("model", "fake")
                fault = outer._take_fault()
                if fault is None:
                    if delay_s:
                        time.sleep(delay_s)
                    self._send(200, _completion(model, reply(body)))
                elif fault.kind == "status":
                    error = {"message": f"scripted {fault.status}", "type": "server_error"}
                    self._send(fault.status, {"error": error})
                elif fault.kind == "body":
                    self._send(200, fault.body)
                elif fault.kind == "content":
                    self._send(200, _completion(model, fault.content))
                elif fault.kind == "hang":
                    if not outer._closing.wait(fault.seconds):
                        self._send(200, _completion(model, reply(body)))
                else:
                    self._drip(json.dumps(_completion(model, reply(body))).encode(), fault)

            def _send(self, status: int, payload: dict[str, Any] | bytes) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _drip(self, data: bytes, fault: Fault) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for start in range(0, len(data), fault.chunk):
                    self.wfile.write(data[start : start + fault.chunk])
                    self.wfile.flush()
                    if outer._closing.wait(fault.seconds):
                        return

        class Server(http.server.ThreadingHTTPServer):
            # socketserver's backlog of 5 drops the SYNs of a 16-reader fan-out; the client retries them
            # a second later, which is the server's queue, not the client's concurrency.
            request_queue_size = 128

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that gave up (timeout test, closed connection) is not a server error.
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # A short poll, so leaving the `with` block (shutdown waits for one poll) costs little per test.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}/v1"

    def inject(self, *faults: Fault) -> None:
        """Answer the next requests with `faults`, one each, after any still pending."""
        self._faults.extend(faults)

    def heal(self) -> int:
        """Drop the faults still pending (the server recovers); returns how many were dropped."""
        with self._lock:
            dropped = len(self._faults)
            self._faults.clear()
        return dropped

    def _take_fault(self) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            self.faults_injected += 1
            return self._faults.popleft()

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def _completion(model: str, text: str | None) -> dict[str, Any]:
    """A chat-completion body with one choice whose content is `text`."""
    tokens = max(1, len((text or "").split()))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": 5 + tokens},
    }


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Run `app` under uvicorn on a free port in a background thread; yield its base URL, stop after."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def fake_worker(*args: str, timeout_s: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """A real warm worker for the current `SLEUTH_HOME` (`sleuth worker run --fake-embedder`, serving the hash
    embedder), yielded once it answers for these settings (so the caller's embedder must be `HashEmbedder()`
    too: `override(embedder=HashEmbedder())`); terminated when the block ends, if it still runs.

    Args:
        args: more arguments of `sleuth worker run`.
    """
    import sys
    import tempfile
    import time

    from sleuth.config import Settings
    from sleuth.retrieval.worker import probe_worker
    from sleuth.retrieval.worker.protocol import read_record

    with tempfile.TemporaryFile() as err:
        command = [sys.executable, "-m", "sleuth.cli", "worker", "run", "--fake-embedder", *args]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + timeout_s
            while (
                (record := read_record(Settings().worker_file)) is None
                or record.pid != proc.pid
                or (probe_worker(Settings()).problem is not None)
            ):
                if proc.poll() is not None:
                    err.seek(0)
                    raise RuntimeError(f"the worker exited: {err.read().decode(errors='replace')[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not answer within {timeout_s:g} s")
                time.sleep(0.05)
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
