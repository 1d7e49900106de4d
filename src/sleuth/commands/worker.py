"""`sleuth worker start|stop|status|run`: the warm worker that keeps the embedding model and collections loaded
for the commands of this home (SLEUTH_WORKER=auto starts it on demand)."""

from __future__ import annotations

import json
import sys
import time

import typer

from sleuth.commands.common import console, fail, plain, settings

app = typer.Typer(
    help="The warm worker: the embedding model and collections kept loaded for CLI searches and research runs.",
    no_args_is_help=True,
)

FAKE_HELP = (
    "Serve a hash embedder instead of the embedding model (tests and demos; use a scratch SLEUTH_HOME: what "
    "is indexed through it gets hash vectors)."
)


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="worker")


@app.command("start")
def start(fake_embedder: bool = typer.Option(False, "--fake-embedder", help=FAKE_HELP)) -> None:
    """Start the worker in the background (loads the model) and wait until it answers."""
    from sleuth.retrieval.worker import WorkerUnavailable, probe_worker
    from sleuth.retrieval.worker.process import start_worker

    current = settings()
    probe = probe_worker(current)
    if probe.client is not None:
        probe.client.close()
    if probe.status is not None and probe.problem is not None:
        fail(f"a worker for this home runs with other settings ({probe.problem}): `sleuth worker stop` it first")
    command = [sys.executable, "-m", "sleuth.cli", "worker", "run"] + (
        ["--fake-embedder"] if fake_embedder else []
    )
    begun = time.perf_counter()
    with console.status("starting the worker (loading the embedding model)"):
        try:
            client = start_worker(current, command)
        except WorkerUnavailable as exc:
            fail(str(exc))
    waited = time.perf_counter() - begun
    console.print(f"worker {client.record.pid} on {client.record.url} ({waited:.1f}s)", highlight=False)


@app.command("run", hidden=True)
def run(
    port: int = typer.Option(0, help="0: a free port."),
    fake_embedder: bool = typer.Option(False, "--fake-embedder", help=FAKE_HELP),
) -> None:
    """Run the worker in the foreground (what `start` runs in the background)."""
    from contextlib import ExitStack

    from sleuth.retrieval.worker.process import serve
    from sleuth.server.worker_research import research_router

    current = settings()
    with ExitStack() as stack:
        if fake_embedder:
            from sleuth.testing import HashEmbedder, override

            stack.enter_context(override(embedder=HashEmbedder()))
        try:
            serve(current, port=port, routers=[research_router])  # CLIs' research runs, too
        except OSError as exc:
            fail(f"the worker cannot listen on port {port}: {exc}")


@app.command("stop")
def stop() -> None:
    """Stop this home's worker (it frees the model's memory)."""
    from sleuth.retrieval.worker.process import stop_worker

    pid = stop_worker(settings())
    console.print(f"worker {pid} stopped" if pid else "no worker was running")


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json")) -> None:
    """Whether a worker runs for this home, whether commands would use it, and what it holds."""
    from sleuth.retrieval.worker import probe_worker

    current = settings()
    probe = probe_worker(current)
    if probe.client is not None:
        probe.client.close()
    report: dict[str, object] = {
        "mode": current.worker,
        "running": probe.status is not None,
        "used": probe.problem is None and current.worker != "off",
        "problem": probe.problem,
    }
    if probe.record is not None:
        report.update(url=probe.record.url, pid=probe.record.pid)
    if probe.status is not None:
        info = probe.status
        report.update(
            embedder=f"{info.embedder.name}:{info.embedder.dim}",
            uptime_s=round(time.time() - info.started_at, 1),
            idle_exit_s=info.idle_s,
            collections=info.collections,
            searches=info.searches,
            embeds=info.embeds,
            research_runs=info.runs,
            research_running=info.runs_running,
        )
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        console.print(f"[bold]{key}[/]: {plain(value)}", highlight=False)
    if not probe.status:
        raise SystemExit(1)
