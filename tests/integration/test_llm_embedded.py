"""The embedded llama.cpp server on the real Qwen2.5-0.5B weights: start, answer, JSON schema, serve/status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from sleuth.config import Settings
from sleuth.llm import OpenAICompatModel, generate
from sleuth.llm.local import EmbeddedServer, free_port, healthy

pytestmark = pytest.mark.integration


class Capital(BaseModel):
    country: str
    capital: str


async def test_embedded_server_answers_and_follows_a_json_schema() -> None:
    with EmbeddedServer(Settings()) as server:
        client = OpenAICompatModel(server.base_url, max_retries=0)
        reply = await client.complete([{"role": "user", "content": "Name three primary colours."}])
        assert reply.text.strip() and reply.completion_tokens > 0
        print(f"embedded model: {reply.completion_tokens / reply.latency_s:.1f} tokens/s")
        result = await generate(
            client, [{"role": "user", "content": "Which city is the capital of France?"}], Capital
        )
        assert "paris" in result.capital.lower()
        await client.aclose()
    assert not healthy(server.url, timeout=0.5), "server should be stopped after the block"


def test_llm_serve_records_itself_and_status_reuses_it(tmp_path: Path) -> None:
    env = {**os.environ, "SLEUTH_HOME": str(tmp_path / "home")}
    port = free_port()
    exe = [sys.executable, "-m", "sleuth.cli"]
    serve = subprocess.Popen(
        [*exe, "llm", "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 120
        while not healthy(f"http://127.0.0.1:{port}", timeout=1) and time.monotonic() < deadline:
            assert serve.poll() is None, serve.stdout.read().decode() if serve.stdout else ""
            time.sleep(0.3)
        record = tmp_path / "home" / "llm-server.json"
        assert json.loads(record.read_text())["url"] == f"http://127.0.0.1:{port}"
        status = subprocess.run(
            [*exe, "llm", "status", "--json"], env=env, capture_output=True, text=True, timeout=120
        )
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["running_embedded_server"] == f"http://127.0.0.1:{port}/v1"
        assert report["reachable"] is True and report["tokens_per_s"] > 1
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
    assert not record.exists(), "a clean shutdown removes the server record"
