"""`sleuth index`, `sleuth search` and `sleuth eval retrieval`: build, inspect, query and score collections
(embedding and searching through the warm worker when there is one, or on a running `sleuth serve` when
SLEUTH_SERVER_URL names one)."""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from sleuth.commands.common import console, err_console, fail, plain, settings, worker_note

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sleuth.config import Settings
    from sleuth.retrieval.base import Filter, Hit
    from sleuth.retrieval.index import Collection
    from sleuth.retrieval.ingest_report import IngestReport
    from sleuth.retrieval.worker import WorkerLink

index_app = typer.Typer(help="Build and inspect search collections (BM25 + dense vectors).", no_args_is_help=True)

MODE_HELP = "bm25, dense or hybrid (reciprocal-rank fusion of both)."


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
    app.command("search")(search)


def register_eval(eval_app: typer.Typer) -> None:
    eval_app.command("retrieval")(eval_retrieval)


@contextmanager
def _errors() -> Iterator[None]:
    """Known retrieval errors become a clean message and a non-zero exit."""
    from sleuth.retrieval.datasets import DatasetError
    from sleuth.retrieval.embedders import EmbedderError
    from sleuth.retrieval.filters import FilterError
    from sleuth.retrieval.index import CollectionError

    try:
        yield
    except (CollectionError, EmbedderError, DatasetError, FilterError) as exc:
        fail(str(exc))


@contextmanager
def _progress_bar(label: str, quiet: bool = False) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar (on stderr, so `--json` stdout stays pure) fed by (done, total) callbacks."""
    if quiet:
        yield lambda done, total: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _open(name: str | None, link: WorkerLink | None = None) -> Collection:
    """The collection `name`; with `link`, what it embeds is embedded on the warm worker when there is one."""
    from sleuth.feedback.api import lazy_embedder
    from sleuth.retrieval.index import open_collection

    if link is None:
        return open_collection(settings(), name)
    return open_collection(link.settings, name, embedder=lazy_embedder(link.embedder))


def _print_report(report: IngestReport, collection: Collection) -> None:
    for file in report.files:
        if file.duplicate_of:
            console.print(
                f"[dim]=[/] {plain(file.source)}: the same file as {plain(file.duplicate_of)}, read once",
                highlight=False,
                soft_wrap=True,
            )
            continue
        if file.error:
            err_console.print(
                f"[red]✗[/] {plain(file.source)}: {plain(file.error)}", highlight=False, soft_wrap=True
            )
            continue
        detail = f"{file.added} added, {file.skipped} unchanged"
        if file.updated or file.removed:
            detail += f", {file.updated} updated, {file.removed} removed"
        console.print(f"[green]✓[/] {plain(file.source)}: {detail}", highlight=False, soft_wrap=True)
        for warning in file.warnings:
            err_console.print(f"  [yellow]![/] {plain(warning)}", highlight=False, soft_wrap=True)
        for chunked in file.chunked:
            console.print(f"  [dim]chunked[/] {plain(chunked)}", highlight=False, soft_wrap=True)
    if report.ignored:
        err_console.print(f"ignored {len(report.ignored)} file(s) of unsupported type")
    console.print(
        f"collection {collection.name!r}: {collection.count} passages "
        f"({report.added} added, {len(report.errors)} file error(s))"
    )


@index_app.command("add")
def add(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files or directories: jsonl, txt, md, html, pdf, docx, pptx, xlsx, csv/tsv, and source code "
            "(.py, .js, .ts, .go, .rs, .java, .c, .cpp, .rb, .sh, .sql, ...); or web pages (https://...)."
        ),
    ],
    collection: str | None = typer.Option(None, "--collection", "-c", help="Default: SLEUTH_COLLECTION."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Index files or web pages into a collection (re-adding an unchanged one is a no-op)."""
    from dataclasses import asdict

    from sleuth.retrieval.web.ingest import add_urls, is_web_address
    from sleuth.retrieval.worker import WorkerLink

    urls = [p for p in paths if is_web_address(p)]
    link = WorkerLink(settings())
    with _errors(), _open(collection, link) as target:
        with _progress_bar(f"indexing into {target.name}", quiet=False) as progress:
            report = target.add([Path(p) for p in paths if not is_web_address(p)], progress)
        if urls:
            with err_console.status(f"reading {len(urls)} web page(s)"):
                report.files += add_urls(target, urls)
        if json_out:
            print(
                json.dumps(
                    {
                        "collection": target.name,
                        "passages": target.count,
                        "files": [asdict(f) for f in report.files],
                        "ignored": report.ignored,
                    }
                )
            )
        else:
            _print_report(report, target)
    worker_note(link)
    if report.files and len(report.errors) == len(report.files):
        raise SystemExit(1)


@index_app.command("stats")
def stats(
    collection: str | None = typer.Option(None, "--collection", "-c"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Passages, sources and storage of a collection."""
    with _errors(), _open(collection) as target:
        info = target.stats()
    if json_out:
        print(json.dumps(info))
        return
    console.print(
        f"[bold]{info['collection']}[/]: {info['passages']} passages from {info['sources']} "
        f"source(s); embedder {plain(info['embedder'] or '(none yet)')}; {plain(info['path'])}"
    )
    for file in info["files"]:
        console.print(f"  {file['passages']:>7}  {plain(file['source'])}", highlight=False, soft_wrap=True)


@index_app.command("delete")
def delete(
    source: str = typer.Option(..., "--source", "-s", help="A source path as added (see `index stats`)."),
    collection: str | None = typer.Option(None, "--collection", "-c"),
) -> None:
    """Remove a source file's passages from a collection."""
    with _errors(), _open(collection) as target:
        removed = target.delete_source(source)
    if removed is None:
        fail(f"no source {source!r} in collection {target.name!r} (see `sleuth index stats`)")
    kept = " (other sources hold all its passages, so they stay)" if removed == 0 else ""
    console.print(f"removed {removed} passages of {plain(source)}{kept}", highlight=False, soft_wrap=True)


@index_app.command("demo-vectors", hidden=True)
def demo_vectors(
    out: Annotated[
        Path | None, typer.Option("--out", help="Default: the package's data/demo/vectors.npz.")
    ] = None,
) -> None:
    """Embed the demo corpus with the configured embedder and write the vectors shipped with it (run after
    editing data/demo/corpus.jsonl; a test fails until then)."""
    from sleuth.retrieval.demo import VECTORS, demo_file, write_demo_vectors
    from sleuth.retrieval.embedders import load_embedder

    with _errors():
        embedder = load_embedder(settings())
        with demo_file(VECTORS) as packaged:
            path = out or packaged
            shipped = write_demo_vectors(embedder, path)
    console.print(
        f"{len(shipped.ids)} vectors from {plain(shipped.embedder)}: {plain(path)} "
        f"({path.stat().st_size:,} bytes)",
        highlight=False,
    )


def search(
    query: str = typer.Argument(..., help="The search query."),
    mode: str = typer.Option("hybrid", "--mode", "-m", help=MODE_HELP),
    k: int = typer.Option(0, "-k", help="Hits to return (default SLEUTH_SEARCH_K)."),
    collection: str | None = typer.Option(None, "--collection", "-c"),
    where: str | None = typer.Option(None, help='Metadata filter as JSON, e.g. \'{"record_source": "musique"}\'.'),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Search a collection and print the best passages (through the warm worker when there is one, on
    SLEUTH_SERVER_URL's `sleuth serve` when set)."""
    from sleuth.retrieval.index import MODES
    from sleuth.retrieval.remote import hit_json
    from sleuth.retrieval.worker import WorkerLink

    if mode not in MODES:
        fail(f"unknown mode {mode!r}: use {', '.join(MODES)}")
    try:
        filter_ = json.loads(where) if where else None
    except json.JSONDecodeError as exc:
        fail(f"--where is not valid JSON: {exc.msg}")
    current = settings()
    k = k or current.search_k
    hits = _search_on_server(current, query, mode, k, collection or current.collection, filter_)
    if hits is None:
        link = WorkerLink(current)
        with _errors(), _open(collection, link) as target:
            if target.count == 0 and target.name == "demo":
                from sleuth.feedback.api import lazy_embedder
                from sleuth.retrieval.demo import ensure_demo_collection

                with _progress_bar("indexing the bundled demo corpus (first use)") as progress:
                    ensure_demo_collection(
                        target.settings, progress, embedder=lazy_embedder(link.embedder)
                    ).close()
            if target.count == 0:
                fail(f"collection {target.name!r} is empty: add files with `sleuth index add PATH`")
            hits = link.retriever(target, mode).search(query, k, where=filter_)  # type: ignore[arg-type]
        worker_note(link)
    if json_out:
        print(json.dumps([hit_json(h) for h in hits]))
        return
    for rank, hit in enumerate(hits, start=1):
        text = hit.passage.text if len(hit.passage.text) < 300 else hit.passage.text[:300] + "…"
        console.print(
            f"[bold]{rank}. {plain(hit.passage.title or '(untitled)')}[/]  [dim]{plain(hit.passage.id)} "
            f"score {hit.score:.4f}[/]",
            highlight=False,
            soft_wrap=True,
        )
        console.print(f"   {plain(text)}", highlight=False, soft_wrap=True)


def _search_on_server(
    current: Settings, query: str, mode: str, k: int, collection: str, where: Filter | None
) -> list[Hit] | None:
    """The hits of the `sleuth serve` at SLEUTH_SERVER_URL; None when there is none to use, with a one-line
    hint for the modes that embed the query (in-process, each call loads the embedding model)."""
    from sleuth.retrieval.remote import RemoteRetriever, RemoteSearchError, ServerUnavailable

    embeds = mode != "bm25"
    if not (current.server_url and current.server_token):
        if embeds and current.worker == "off":
            missing = "SLEUTH_SERVER_TOKEN" if current.server_url else "SLEUTH_SERVER_URL and SLEUTH_SERVER_TOKEN"
            err_console.print(
                "[dim]hint: this loads the embedding model on every call; SLEUTH_WORKER=auto keeps it loaded "
                f"in a warm worker, or set {missing} to search on a running `sleuth serve`[/]",
                highlight=False,
                soft_wrap=True,
            )
        return None
    remote = RemoteRetriever(current.server_url, current.server_token, collection=collection, mode=mode)
    try:
        return remote.search(query, k, where=where)
    except RemoteSearchError as exc:
        fail(str(exc))
    except ServerUnavailable as exc:
        if embeds:
            err_console.print(f"[dim]hint: searching in-process: {plain(exc)}[/]", highlight=False, soft_wrap=True)
        return None


def eval_retrieval(
    questions: Annotated[
        Path | None, typer.Option(help="questions.jsonl (id, question, gold_passage_ids).")
    ] = None,
    corpus: Annotated[Path | None, typer.Option(help="corpus.jsonl the gold ids refer to.")] = None,
    beir: Annotated[
        Path | None, typer.Option(help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv.")
    ] = None,
    mode: Annotated[
        list[str] | None, typer.Option("--mode", "-m", help=MODE_HELP + " Repeat for several; default: all three.")
    ] = None,
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="Collection to index the corpus into (default: eval-<hash>)."
    ),
    limit: int = typer.Option(0, help="Score only the first N queries (0: all)."),
    cutoffs: Annotated[
        list[int] | None,
        typer.Option("--k", help="A recall@k / all-gold@k cutoff; repeat for several (default 1 5 10 20)."),
    ] = None,
    depth: int = typer.Option(
        0, help="Hits to rank per query (default: the largest cutoff); deeper adds recall@DEPTH to the report."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object {mode: {metric: value}}."),
) -> None:
    """Recall@k, all-gold@k, nDCG@10 and MRR@10 of each search mode on a question set."""
    from sleuth.retrieval.datasets import load_beir, load_questions
    from sleuth.retrieval.evaluate import evaluate_retriever
    from sleuth.retrieval.index import MODES, open_collection

    mode = mode or list(MODES)
    bad = [m for m in mode if m not in MODES]
    if bad:
        fail(f"unknown mode {bad[0]!r}: use {', '.join(MODES)}")
    ks = _cutoffs(cutoffs or [1, 5, 10, 20], depth)
    with _errors():
        if beir is not None:
            corpus, queries = load_beir(beir)
        elif questions is not None and corpus is not None:
            queries = load_questions(questions)
        else:
            fail("give --questions and --corpus, or --beir DIR")
        assert corpus is not None
        if limit:
            queries = queries[:limit]
        if not corpus.exists():
            fail(f"no such corpus: {corpus}")
        name = collection or f"eval-{hashlib.sha256(str(corpus.resolve()).encode()).hexdigest()[:12]}"
        with open_collection(settings(), name) as target:
            with _progress_bar(f"indexing {plain(corpus.name)}") as progress:
                report = target.add([corpus], progress)
            if report.errors:
                fail(f"cannot index {corpus}: {report.errors[0].error}")
            results: dict[str, Any] = {}
            for m in mode:
                with _progress_bar(f"{m}: searching") as progress:
                    results[m] = evaluate_retriever(target.retriever(m), queries, ks, progress, depth or None)  # type: ignore[arg-type]
    if json_out:
        print(json.dumps(results))
        return
    _print_metrics(results)


def _cutoffs(cutoffs: list[int], depth: int) -> list[int]:
    """The sorted distinct cutoffs, plus the depth itself when it ranks deeper than all of them."""
    if any(k < 1 for k in cutoffs) or depth < 0:
        fail("--k and --depth must be positive")
    ks = sorted(set(cutoffs))
    needed = max(ks[-1], 10)
    if depth and depth < needed:
        fail(f"--depth {depth} is below {needed}, the largest --k (at least 10, for nDCG@10 and MRR@10)")
    return [*ks, depth] if depth > ks[-1] else ks


def _print_metrics(results: dict[str, dict[str, float]]) -> None:
    metrics = [key for key in next(iter(results.values())) if key != "queries"]
    table = Table(title=f"retrieval ({int(next(iter(results.values()))['queries'])} queries)")
    table.add_column("mode")
    for key in metrics:
        table.add_column(key, justify="right")
    for m, values in results.items():
        table.add_row(m, *(f"{values[key]:.3f}" for key in metrics))
    console.print(table)
