"""An acknowledged patch is never lost: not on kill -9 mid-burst (on SQLite and on Postgres: `backend`), not
with several writing processes."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from sleuth.feedback.store import PatchStore
from sleuth.testing import HashEmbedder

WRITER = textwrap.dedent(
    """
    import sys
    from sleuth.feedback.models import PatchInput
    from sleuth.feedback.store import PatchStore
    from sleuth.testing import HashEmbedder

    store = PatchStore(sys.argv[1], HashEmbedder(), busy_timeout_ms=60_000)
    for i in range(int(sys.argv[2])):
        patch = store.add(PatchInput(query=f"question {sys.argv[3]} {i}", answer=f"answer {i}",
                                     evidence=f"evidence {i}")).patch
        print(patch.id, flush=True)  # printed only after add() returned: the patch is acknowledged
    """
)


def _writer(location: Path | str, count: int, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(location), str(count), name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_intact(location: Path | str) -> None:
    if isinstance(location, Path):  # Postgres checks its own pages; a SQLite file is checked here
        assert sqlite3.connect(location).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_kill_9_during_a_burst_loses_no_acknowledged_patch(backend: Any) -> None:
    path = backend.location("patches")
    proc = _writer(path, 100_000, "burst")
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline().strip() for _ in range(40)]
    proc.send_signal(signal.SIGKILL)  # mid-burst: the writer is inside its loop, likely mid-transaction
    rest, _ = proc.communicate(timeout=30)
    acknowledged += [line for line in rest.split() if line.strip()]
    assert proc.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 40 and all(acknowledged)

    _assert_intact(path)
    store = PatchStore(path, HashEmbedder())
    stored = {p.id for p in store.list(status=None)}
    assert set(acknowledged) <= stored
    # The store still accepts writes after the crash.
    assert store.count() == len(stored)


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    # SQLite only: on Postgres the row lock of the revision counter serialises writers the same way, and
    # servers racing to migrate a fresh database are tested by tests/integration/test_shared_postgres.py.
    path = tmp_path / "patches.sqlite"
    # No schema yet: the writers also race to create it (migrations take the write lock first).
    procs = [_writer(path, 25, f"w{n}") for n in range(4)]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        ids += out.split()
    assert len(ids) == 100 == len(set(ids))
    _assert_intact(path)
    store = PatchStore(path, HashEmbedder())
    assert {p.id for p in store.list()} == set(ids)
    assert store.relevant("question w3 24", collection=None)[0].answer == "answer 24"
