"""`sleuth feedback`: submit, list, show, retract, supersede, export and import user corrections."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from sleuth.commands.common import console, err_console, fail, plain, settings

if TYPE_CHECKING:
    from sleuth.feedback.models import AddResult, Patch, PatchInput
    from sleuth.feedback.store import PatchStore

app = typer.Typer(
    help="User corrections (patches) the agents consult for related questions.", no_args_is_help=True
)

_QUERY = typer.Option(..., "--query", "-q", help="The question the earlier answer got wrong.")
_ANSWER = typer.Option(..., "--answer", "-a", help="The corrected answer.")
_EVIDENCE = typer.Option("", "--evidence", "-e", help="Text that supports the corrected answer.")
_EVIDENCE_FILE = typer.Option(None, "--evidence-file", help="Read the evidence from this file.")
_PASSAGE = typer.Option(None, "--passage-id", help="Id of an indexed passage that supports it (repeatable).")
_COLLECTION = typer.Option(None, "--collection", "-c", help="Collection it applies to (default: settings).")
_TENANT = typer.Option(None, "--tenant", help="Tenant whose queries see it (default: shared).")
_AUTHOR = typer.Option(None, "--author", help="Who submits it.")
_NOTE = typer.Option("", "--note", help="A note kept with it.")
_JSON = typer.Option(False, "--json", help="Print JSON.")
_EXPORT_PATH = typer.Argument(None, help="Output .jsonl file (default: stdout).")
_IMPORT_PATH = typer.Argument(..., help="A .jsonl file written by `sleuth feedback export`.")


def register(app_: typer.Typer) -> None:
    app_.add_typer(app, name="feedback")


@contextmanager
def _store() -> Iterator[PatchStore]:
    """The configured store, embedding on the warm worker when there is one; store errors become clean exits
    (message, non-zero code)."""
    from sleuth.feedback.api import lazy_embedder, open_patch_store
    from sleuth.feedback.models import PatchError, PatchNotFound
    from sleuth.retrieval.worker import WorkerLink

    current = settings()
    try:
        store = open_patch_store(current, lazy_embedder(WorkerLink(current).embedder))
    except Exception as exc:  # a corrupt or unreadable database file
        fail(f"cannot open the patch store: {exc}")
    try:
        yield store
    except (PatchError, PatchNotFound) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(str(exc))
    except Exception as exc:
        if type(exc).__name__ == "EmbedderError":  # missing embedding weights: say so, no traceback
            fail(str(exc))
        raise
    finally:
        store.close()


def _submission(
    query: str,
    answer: str,
    evidence: str,
    evidence_file: Path | None,
    passage_ids: list[str] | None,
    collection: str | None,
    tenant: str | None,
    author: str | None,
    note: str,
) -> PatchInput:
    from sleuth.feedback.models import PatchInput

    if evidence_file is not None:
        try:
            evidence = "\n".join(t for t in (evidence, evidence_file.read_text(encoding="utf-8")) if t)
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read evidence file {evidence_file}: {exc}")
    return PatchInput(
        query=query,
        answer=answer,
        evidence=evidence,
        evidence_passage_ids=passage_ids or [],
        collection=collection or settings().collection,
        tenant=tenant,
        author=author,
        note=note,
    )


def _report_add(result: AddResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    patch = result.patch
    console.print(f"stored patch [bold]{plain(patch.id)}[/] (collection {plain(patch.collection or 'all')})")
    for old in result.superseded:
        console.print(f"  supersedes {plain(old)}")
    if "no-evidence" in patch.flags:
        err_console.print("  warning: no evidence given; agents will not let it override retrieved passages")
    for other in result.conflicts:
        err_console.print(
            f"  warning: conflicts with active patch {plain(other.id)} (answer {plain(repr(other.answer))}); "
            f"both stay active. To replace it: sleuth feedback supersede {plain(other.id)} --by {plain(patch.id)}"
        )
    for other in result.near_duplicates:
        if other not in result.conflicts:
            console.print(f"  note: near-duplicate of {plain(other.id)} with the same answer")


@app.command("add")
def add(
    query: str = _QUERY,
    answer: str = _ANSWER,
    evidence: str = _EVIDENCE,
    evidence_file: Path | None = _EVIDENCE_FILE,
    passage_id: list[str] | None = _PASSAGE,
    collection: str | None = _COLLECTION,
    tenant: str | None = _TENANT,
    author: str | None = _AUTHOR,
    supersedes: str | None = typer.Option(None, "--supersedes", help="Id of the active patch it replaces."),
    note: str = _NOTE,
    as_json: bool = _JSON,
) -> None:
    """Submit a correction: the question, the corrected answer and the evidence for it."""
    submission = _submission(query, answer, evidence, evidence_file, passage_id, collection, tenant, author, note)
    with _store() as store:
        _report_add(store.add(submission.model_copy(update={"supersedes": supersedes})), as_json)


@app.command("supersede")
def supersede(
    old_id: str = typer.Argument(..., help="The active patch to replace."),
    by: str | None = typer.Option(None, "--by", help="An existing patch that replaces it."),
    query: str | None = typer.Option(None, "--query", "-q", help="Question (default: the old one)."),
    answer: str | None = typer.Option(None, "--answer", "-a", help="The new corrected answer."),
    evidence: str = _EVIDENCE,
    evidence_file: Path | None = _EVIDENCE_FILE,
    passage_id: list[str] | None = _PASSAGE,
    author: str | None = _AUTHOR,
    note: str = _NOTE,
    as_json: bool = _JSON,
) -> None:
    """Replace an active patch, by an existing one (--by) or by a new correction (--answer ...)."""
    if (by is None) == (answer is None):
        fail("give either --by ID (an existing patch) or --answer (a new correction), not both")
    with _store() as store:
        if by is not None:
            old = store.mark_superseded(old_id, by)
            _print_patch(old, as_json)
            return
        old = store.get(old_id)
        assert answer is not None
        submission = _submission(
            query or old.query,
            answer,
            evidence,
            evidence_file,
            passage_id,
            old.collection,
            old.tenant,
            author,
            note,
        )
        _report_add(store.supersede(old_id, submission), as_json)


@app.command("list")
def list_(
    as_json: bool = _JSON,
    show_all: bool = typer.Option(False, "--all", help="Also superseded and retracted patches."),
    collection: str | None = typer.Option(None, "--collection", "-c", help="Only this collection."),
) -> None:
    """List active patches (all of them with --all), oldest first."""
    from sleuth.feedback.models import PatchStatus

    with _store() as store:
        patches = store.list(status=None if show_all else PatchStatus.active, collection=collection)
    if as_json:
        print(json.dumps([p.model_dump(mode="json") for p in patches], indent=2))
        return
    table = Table("id", "status", "collection", "query", "answer", "flags")
    for p in patches:
        cells = (p.id, p.status.value, p.collection or "all", _short(p.query), _short(p.answer), ",".join(p.flags))
        table.add_row(*map(plain, cells))
    console.print(table)
    console.print(f"{len(patches)} patch(es)")


@app.command("show")
def show(patch_id: str = typer.Argument(..., help="Patch id."), as_json: bool = _JSON) -> None:
    """Show one patch in full."""
    with _store() as store:
        _print_patch(store.get(patch_id), as_json)


@app.command("retract")
def retract(
    patch_id: str = typer.Argument(..., help="Patch id."),
    note: str = typer.Option("", "--note", help="Why it is withdrawn."),
    as_json: bool = _JSON,
) -> None:
    """Withdraw a patch: kept on record, never used again."""
    with _store() as store:
        patch = store.retract(patch_id, note)
    if as_json:
        _print_patch(patch, True)
    else:
        console.print(f"retracted patch [bold]{plain(patch.id)}[/]")


@app.command("export")
def export(path: Path | None = _EXPORT_PATH) -> None:
    """Write every patch (all statuses) as JSON Lines."""
    from sleuth.feedback.jsonl import dump_patches

    with _store() as store:
        patches = store.list(status=None)
        if path is None:
            dump_patches(patches, sys.stdout)
            return
        with path.open("w", encoding="utf-8") as out:
            count = dump_patches(patches, out)
    err_console.print(f"exported {count} patch(es) to {plain(path)}")


@app.command("import")
def import_(
    path: Path = _IMPORT_PATH,
    tenant: str | None = typer.Option(None, "--tenant", help="Tenant whose queries see them (default: shared)."),
    author: str | None = typer.Option(
        None, "--author", help="Who imports them (the file's authors are not kept)."
    ),
    as_json: bool = _JSON,
) -> None:
    """Add the patches of an export (ids kept; ids already present are skipped). All or nothing.

    They are re-checked like new patches: tenant and author are yours, flags recomputed, future times
    replaced by now, ids other than sleuth's own refused.
    """
    from sleuth.feedback.jsonl import read_patches

    with _store() as store:
        patches = read_patches(path)
        added, skipped = store.import_patches(patches, tenant=tenant, author=author)
    if as_json:
        print(json.dumps({"added": added, "skipped": skipped}))
    else:
        console.print(f"imported {added} patch(es), skipped {skipped} already present")


def _print_patch(patch: Patch, as_json: bool) -> None:
    if as_json:
        print(json.dumps(patch.model_dump(mode="json"), indent=2))
        return
    table = Table(show_header=False)
    for key, value in patch.model_dump(mode="json").items():
        if value not in (None, "", []):
            table.add_row(key, plain(", ".join(value) if isinstance(value, list) else value))
    console.print(table)


def _short(text: str, limit: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def register_eval(eval_app: typer.Typer) -> None:
    eval_app.command("feedback")(feedback_eval)


def feedback_eval(
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset folder (questions.jsonl + corpus.jsonl).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for rewordings, outcomes and summary.json.")],
    n: int = typer.Option(8, "--n", min=1, help="Questions that receive corrections."),
    controls: int = typer.Option(8, "--controls", min=0, help="Unrelated control questions."),
    conditions: str = typer.Option(
        "gold,noisy,blank,vague,conflicting", "--conditions", help="Feedback conditions, comma-separated."
    ),
    rewordings: Annotated[
        Path | None, typer.Option("--rewordings", help="jsonl {id, rewordings}; default: LLM paraphrases.")
    ] = None,
    seed: int = typer.Option(0, "--seed", help="Shuffle the questions with this seed."),
    concurrency: int = typer.Option(2, "--concurrency", min=1, help="Questions in flight at once."),
    mode: str = typer.Option("hybrid", "--mode", help="Retrieval mode the agent searches with."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Run the no-feedback arms."),
    as_json: bool = _JSON,
) -> None:
    """Answers before and after corrections on reworded and unrelated questions: EM/F1, correction lag,
    and the same under noisy, blank, vague and conflicting feedback."""
    from sleuth.commands.common import indexing_progress, run_async
    from sleuth.evals.corpus import collection_name, open_retrievers
    from sleuth.evals.datasets import DatasetError, load_dataset
    from sleuth.evals.feedback_eval import CONDITIONS
    from sleuth.evals.feedback_run import FeedbackEvalConfig, evaluate
    from sleuth.llm import connect
    from sleuth.retrieval.index import CollectionError

    chosen = tuple(c.strip() for c in conditions.split(",") if c.strip())
    if unknown := [c for c in chosen if c not in CONDITIONS]:
        fail(f"unknown condition(s) {', '.join(unknown)}: choose from {', '.join(CONDITIONS)}")
    if rewordings is not None and not rewordings.exists():
        fail(f"{rewordings}: no such rewordings file")
    try:
        data = load_dataset(dataset, seed=seed)
    except DatasetError as exc:
        fail(str(exc))
    current = settings()
    config = FeedbackEvalConfig(
        n_feedback=n,
        n_controls=controls,
        seed=seed,
        conditions=chosen,
        rewordings_file=str(rewordings) if rewordings else None,
        concurrency=concurrency,
        mode=mode,
        baseline=baseline,
    )

    collection = collection_name(data)
    try:
        with indexing_progress(f"indexing {plain(data.name)} into collection {collection!r}") as progress:
            retriever = open_retrievers(current, data, progress)(mode)
    except (DatasetError, CollectionError) as exc:
        fail(str(exc))

    async def main() -> dict[str, Any]:
        async with connect(current) as llm:
            with err_console.status("feedback eval: answering…") as status:
                done = [0]

                def tick(outcome: object) -> None:
                    done[0] += 1
                    status.update(f"feedback eval: {done[0]} answers")

                return await evaluate(
                    current, data, retriever, llm, out, config, collection=collection, on_outcome=tick
                )

    summary = run_async(main())
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(
        "condition",
        "related EM",
        "vs no feedback",
        "control EM",
        "change",
        "lag store s",
        "lag answer s",
        "corrected",
        "refused",
    )
    base = summary["no_feedback"]
    console.print(
        f"no feedback: original EM {base['before_original']['em']}, related EM "
        f"{base['related']['em']}, control EM {base['control']['em']}"
    )
    for name, row in summary["conditions"].items():
        table.add_row(
            name,
            str(row["related"]["em"]),
            str(row["related_em_gain"]),
            str(row["control"]["em"]),
            str(row["control_em_change"]),
            str(row["lag_store_s_p50"]),
            str(row["lag_answer_s_p50"]),
            row["corrected"],
            str(len(row["refused"])),
        )
    console.print(table)
    console.print(f"details: {plain(out / 'summary.json')}")
