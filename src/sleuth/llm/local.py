"""The embedded LLM: llama.cpp's OpenAI-compatible server (xllamacpp wheel) on verified local weights."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from sleuth.config import Settings
from sleuth.llm.base import LLMUnavailableError
from sleuth.llm.guard import check_real_model_call
from sleuth.llm.weights import LOCAL_MODELS, assemble
from sleuth.private import private_dir


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def healthy(url: str, timeout: float = 2.0) -> bool:
    """True when a llama.cpp-style server at `url` (without /v1) answers its health check."""
    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def prepare_model(settings: Settings) -> Path:
    """Join and verify the configured local model's weights (cached under `SLEUTH_HOME/models`)."""
    return assemble(LOCAL_MODELS[settings.local_model], settings.models_dir)


def running_server(settings: Settings) -> str | None:
    """The `/v1` URL of a live `sleuth llm serve` for this home, if one is recorded and healthy."""
    try:
        info = json.loads(settings.local_server_file.read_text())
    except (OSError, ValueError):
        return None
    if info.get("model") != settings.local_model or not healthy(info["url"]):
        return None
    return f"{info['url']}/v1"


def recorded_slots(settings: Settings) -> int | None:
    """The slots (requests decoded at once) that the `sleuth llm serve` recorded for this home was started
    with; None without a record that says."""
    try:
        slots = json.loads(settings.local_server_file.read_text()).get("parallel")
    except (OSError, ValueError, AttributeError):
        return None
    return slots if isinstance(slots, int) and slots > 0 else None


class EmbeddedServer:
    """Runs the llama.cpp server in a child process for the lifetime of a `with` block.

    A child process keeps llama.cpp's threads and crashes out of the caller, and lets `stop()` end
    it cleanly (SIGTERM, then SIGKILL after a grace period).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = settings.local_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = settings.home / "logs" / "llm-server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> str:
        """Start the server and wait for its health check; returns the `/v1` base URL."""
        check_real_model_call(f"starting the embedded model {self.settings.local_model}")
        model_path = prepare_model(self.settings)
        private_dir(self.log_path.parent)
        cmd = [
            sys.executable,
            "-m",
            "sleuth.llm.local",
            "--model",
            str(model_path),
            "--port",
            str(self.port),
            *_server_args(self.settings),
        ]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.settings.local_start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LLMUnavailableError(
                    f"embedded LLM server exited with code {self._proc.returncode} while starting; "
                    f"last lines of {self.log_path}:\n{_tail(self.log_path)}"
                )
            if healthy(self.url, timeout=1.0):
                return self.base_url
            time.sleep(0.2)
        self.stop()
        raise LLMUnavailableError(
            f"embedded LLM server at {self.url} was not healthy within {self.settings.local_start_timeout_s:.0f}s"
        )

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _server_args(settings: Settings) -> list[str]:
    return [
        "--ctx",
        str(settings.local_ctx_size),
        "--parallel",
        str(settings.local_parallel),
        "--threads",
        str(settings.local_threads),
    ]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def serve_forever(
    model_path: Path,
    port: int,
    *,
    ctx: int,
    parallel: int,
    threads: int,
    host: str = "127.0.0.1",
    record: Path | None = None,
    model_name: str = "",
) -> None:
    """Run llama.cpp's HTTP server in this process until SIGINT/SIGTERM.

    Args:
        record: a JSON file to write `{url, pid, model}` to while serving, so other sleuth commands
            on this home reuse the server instead of starting their own.
    """
    check_real_model_call(f"serving the model {model_path.name}")
    import xllamacpp  # heavy native module: only the server process needs it

    params: Any = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.n_ctx = ctx
    params.n_parallel = parallel
    params.hostnames = [host]
    params.port = port
    if threads > 0:
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(params)  # serves HTTP on its own threads from here on
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    url = f"http://{host}:{port}"
    if record is not None:
        private_dir(record.parent)
        record.write_text(json.dumps({"url": url, "pid": os.getpid(), "model": model_name, "parallel": parallel}))
    try:
        print(f"llama.cpp server listening on {url}/v1 (model {model_path.name})", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        if record is not None:
            with contextlib.suppress(OSError):
                if json.loads(record.read_text()).get("pid") == os.getpid():
                    record.unlink()
        del server


def _main() -> None:
    parser = argparse.ArgumentParser(description="Run the embedded llama.cpp server (used by EmbeddedServer).")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    serve_forever(args.model, args.port, ctx=args.ctx, parallel=args.parallel, threads=args.threads)
    # llama.cpp's server threads can outlive the Server object; exit hard so the process really ends.
    os._exit(0)


if __name__ == "__main__":
    _main()
