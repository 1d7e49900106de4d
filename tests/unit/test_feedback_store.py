"""The patch store: what users submit is kept, checked, found for related queries, and changed safely; on
SQLite and on Postgres alike (`backend`)."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sleuth.feedback.jsonl import dump_patches, load_patches
from sleuth.feedback.migrations import MIGRATIONS
from sleuth.feedback.models import PatchError, PatchInput, PatchNotFound, PatchStatus
from sleuth.feedback.policy import PatchPolicy
from sleuth.feedback.store import PatchStore
from sleuth.sqlite import migrate
from sleuth.testing import HashEmbedder

JAWS = PatchInput(
    query="Who directed the film Jaws?",
    answer="Steven Spielberg",
    evidence="Jaws is a 1975 film directed by Steven Spielberg.",
    collection="demo",
)


@pytest.fixture
def store(backend: Any) -> PatchStore:
    return PatchStore(backend.location("patches"), HashEmbedder(), PatchPolicy(min_score=0.3))


def test_added_patch_is_found_for_a_reworded_query_and_not_for_an_unrelated_one(store: PatchStore) -> None:
    added = store.add(JAWS).patch
    hits = store.relevant("which director made the film Jaws", collection="demo")
    assert [h.id for h in hits] == [added.id]
    assert hits[0].answer == "Steven Spielberg" and hits[0].evidence == JAWS.evidence
    assert store.relevant("capital city of Australia", collection="demo") == []
    assert store.relevant("which director made the film Jaws", collection="other") == []


def test_patch_survives_reopening(backend: Any, store: PatchStore) -> None:
    added = store.add(JAWS).patch
    store.close()
    again = PatchStore(backend.location("patches"), HashEmbedder(), PatchPolicy(min_score=0.3))
    assert again.get(added.id) == added
    assert [h.id for h in again.relevant(JAWS.query, collection="demo")] == [added.id]


def test_policy_rejects_blank_oversized_and_evidence_free_patches(backend: Any, store: PatchStore) -> None:
    with pytest.raises(PatchError, match="blank answer"):
        store.add(JAWS.model_copy(update={"answer": "   "}))
    with pytest.raises(PatchError, match="more than the limit"):
        store.add(JAWS.model_copy(update={"evidence": "x" * 9000}))
    flagged = store.add(JAWS.model_copy(update={"evidence": ""})).patch
    assert flagged.flags == ["no-evidence"]
    assert "no-evidence" in store.relevant(JAWS.query, collection="demo")[0].flags
    strict = PatchStore(backend.location("strict"), HashEmbedder(), PatchPolicy(require_evidence=True))
    with pytest.raises(PatchError, match="no evidence"):
        strict.add(JAWS.model_copy(update={"evidence": ""}))
    assert (
        strict.add(JAWS.model_copy(update={"evidence": "", "evidence_passage_ids": ["doc1#3"]})).patch.flags == []
    )
    assert store.count() == 1  # refused patches left nothing behind


def test_near_duplicate_with_another_answer_is_reported_and_both_stay_visible(store: PatchStore) -> None:
    first = store.add(JAWS).patch
    same = store.add(JAWS.model_copy(update={"answer": "steven spielberg."}))
    assert [p.id for p in same.near_duplicates] == [first.id] and same.conflicts == []
    rival = store.add(JAWS.model_copy(update={"answer": "George Lucas", "evidence": "Lucas directed Jaws."}))
    assert {p.id for p in rival.conflicts} == {first.id, same.patch.id}
    hits = {h.id: h for h in store.search(JAWS.query, 5, collection="demo")}
    assert hits[first.id].flags == ("conflict", "older-conflict")
    assert rival.patch.id in hits[first.id].conflicts_with
    assert hits[rival.patch.id].flags == ("conflict",)  # newest is preferred, not merged


def test_supersede_replaces_the_old_patch_atomically(store: PatchStore) -> None:
    old = store.add(JAWS.model_copy(update={"answer": "George Lucas"})).patch
    new = store.supersede(old.id, JAWS).patch
    assert store.get(old.id).status == PatchStatus.superseded
    assert store.get(old.id).superseded_by == new.id
    assert [h.id for h in store.relevant(JAWS.query, collection="demo")] == [new.id]
    with pytest.raises(PatchError, match="only an active patch"):
        store.supersede(old.id, JAWS)
    with pytest.raises(PatchNotFound):
        store.supersede("nope", JAWS)
    assert store.count() == 2  # the failed supersessions stored nothing


def test_mark_superseded_links_two_existing_patches(store: PatchStore) -> None:
    old = store.add(JAWS.model_copy(update={"answer": "George Lucas"})).patch
    new = store.add(JAWS).patch
    assert store.mark_superseded(old.id, new.id).status == PatchStatus.superseded
    assert [h.id for h in store.relevant(JAWS.query, collection="demo")] == [new.id]
    with pytest.raises(PatchNotFound):
        store.mark_superseded(new.id, "missing")


def test_retract_hides_the_patch_but_keeps_the_record(store: PatchStore) -> None:
    patch = store.add(JAWS).patch
    store.retract(patch.id, note="wrong film")
    assert store.relevant(JAWS.query, collection="demo") == []
    kept = store.get(patch.id)
    assert kept.status == PatchStatus.retracted and kept.note == "wrong film"
    assert store.list() == [] and [p.id for p in store.list(status=None)] == [patch.id]
    with pytest.raises(PatchError, match="already retracted"):
        store.retract(patch.id)
    with pytest.raises(PatchNotFound, match="no patch with id 'missing'"):
        store.retract("missing")


def test_another_connection_sees_writes_without_reopening(backend: Any) -> None:
    a = PatchStore(backend.location("p"), HashEmbedder(), PatchPolicy(min_score=0.3))
    b = PatchStore(backend.location("p"), HashEmbedder(), PatchPolicy(min_score=0.3))
    assert b.relevant(JAWS.query, collection="demo") == []
    patch = a.add(JAWS).patch
    assert [h.id for h in b.relevant(JAWS.query, collection="demo")] == [patch.id]
    b.retract(patch.id)
    assert a.relevant(JAWS.query, collection="demo") == []


def test_switching_embedder_re_embeds_stored_patches(backend: Any) -> None:
    first = PatchStore(backend.location("p"), HashEmbedder(64), PatchPolicy(min_score=0.3))
    patch = first.add(JAWS).patch
    first.close()
    second = PatchStore(backend.location("p"), HashEmbedder(128), PatchPolicy(min_score=0.3))
    assert [h.id for h in second.relevant(JAWS.query, collection="demo")] == [patch.id]


def test_export_import_round_trip_keeps_ids_and_status(backend: Any, store: PatchStore) -> None:
    kept = store.add(JAWS).patch
    gone = store.add(JAWS.model_copy(update={"query": "Who wrote Jaws?", "answer": "Peter Benchley"})).patch
    store.retract(gone.id)
    out = io.StringIO()
    assert dump_patches(store.list(status=None), out) == 2
    other = PatchStore(backend.location("other"), HashEmbedder(), PatchPolicy(min_score=0.3))
    assert other.import_patches(load_patches(out.getvalue().splitlines())) == (2, 0)
    assert other.get(kept.id) == kept and other.get(gone.id).status == PatchStatus.retracted
    assert [h.id for h in other.relevant(JAWS.query, collection="demo")] == [kept.id]
    assert other.import_patches(load_patches(out.getvalue().splitlines())) == (0, 2)


def test_bad_import_line_is_named_and_imports_nothing(store: PatchStore) -> None:
    good = JAWS.model_dump_json()
    with pytest.raises(PatchError, match="input:2: not JSON"):
        load_patches([good, "{oops"])
    with pytest.raises(PatchError, match="input:1: not a patch"):
        load_patches(['{"query": "q"}'])
    with pytest.raises(PatchError, match="blank answer"):
        store.import_patches(load_patches([good, JAWS.model_copy(update={"answer": ""}).model_dump_json()]))
    assert store.count() == 0


def test_migrations_are_recorded_once_and_upgrade_an_old_database(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    MIGRATIONS[0][1](conn)  # a database from the first release: patches without vectors
    conn.execute("INSERT INTO _migrations VALUES ('m001_patches', 'then')")
    conn.execute(
        "INSERT INTO patches (id, query, answer, evidence, created_at) VALUES "
        "('pold', 'Who directed the film Jaws?', 'Steven Spielberg', 'Spielberg directed Jaws.', "
        "'2020-01-01T00:00:00+00:00')"
    )
    conn.close()
    store = PatchStore(path, HashEmbedder(), PatchPolicy(min_score=0.3))
    assert [h.id for h in store.relevant("who directed Jaws")] == ["pold"]  # old rows embedded on load
    names = [r[0] for r in sqlite3.connect(path).execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [name for name, _ in MIGRATIONS]
    assert migrate(sqlite3.connect(path, isolation_level=None), MIGRATIONS) == []


def _exported(**fields: object) -> str:
    """One export line as another store (or a forger) might have written it."""
    base = {
        "id": "p0123456789ab",
        "query": "Who directed the film Jaws?",
        "answer": "Spielberg",
        "collection": "demo",
    }
    return json.dumps({**base, **fields})


def test_import_takes_tenant_author_flags_and_a_sane_time_from_the_importer(store: PatchStore) -> None:
    from datetime import UTC, datetime, timedelta

    before = datetime.now(UTC)
    forged = _exported(tenant="victim", author="admin", created_at="2099-01-01T00:00:00Z", flags=[])
    past = _exported(id="p00000000000a", query="Who wrote Jaws?", created_at="2024-05-01T12:00:00Z", flags=[])
    naive = _exported(id="p00000000000b", query="When was Jaws released?", created_at="2024-05-02T12:00:00")
    assert store.import_patches(load_patches([forged, past, naive]), tenant="me", author="importer") == (3, 0)
    patch = store.get("p0123456789ab")
    assert (patch.tenant, patch.author) == ("me", "importer")
    assert patch.flags == ["no-evidence"]  # evidence-free: the policy flags it whatever the file said
    assert before <= patch.created_at <= datetime.now(UTC) + timedelta(seconds=1)  # 2099: the import time
    assert store.get("p00000000000a").created_at == datetime(2024, 5, 1, 12, tzinfo=UTC)  # kept
    assert store.get("p00000000000b").created_at == datetime(2024, 5, 2, 12, tzinfo=UTC)  # no zone: UTC
    assert store.relevant("Who directed the film Jaws?", collection="demo", tenant="victim") == []


def test_import_refuses_ids_the_store_would_never_make(store: PatchStore) -> None:
    with pytest.raises(PatchError, match=r"input:2: id '\.\./\.\./etc/passwd' is not a patch id"):
        load_patches([_exported(), _exported(id="../../etc/passwd")])
    with pytest.raises(PatchError, match="input:1: supersedes 'x; DROP' is not a patch id"):
        load_patches([_exported(supersedes="x; DROP")])
    with pytest.raises(PatchError, match=r"input:1: .*lone surrogate"):
        load_patches([_exported(note="\ud800")])
    assert store.count() == 0
