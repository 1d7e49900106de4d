"""What sleuth writes under SLEUTH_HOME is readable by its owner only: new directories 0700, databases 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sleuth.config import Settings
from sleuth.feedback.models import PatchInput
from sleuth.feedback.store import PatchStore
from sleuth.llm.cache import CachedModel
from sleuth.private import private_dir, private_file
from sleuth.retrieval.index import open_collection
from sleuth.server.auth import Role, TokenStore
from sleuth.server.db import ServerDB
from sleuth.testing import HashEmbedder, ScriptedLLM


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    """The common 022: without care, new files would be world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_tokens_patches_passages_and_cached_replies_are_owner_only(tmp_path: Path) -> None:
    settings = Settings()
    assert not settings.home.exists()
    TokenStore(ServerDB.for_home(settings.home)).create(Role.reader, tenant="acme")
    store = PatchStore(settings.patches_path, HashEmbedder())
    store.add(PatchInput(query="What is Lilu?", answer="a spirit", evidence="Lilu is a spirit."))
    store.close()
    doc = tmp_path / "doc.txt"
    doc.write_text("Lilu is a wind spirit.", encoding="utf-8")
    with open_collection(settings, "notes", embedder=HashEmbedder()) as collection:
        collection.add([doc])
    cache = CachedModel(ScriptedLLM(["a spirit"]), settings.cache_path, "m")
    await cache.complete([{"role": "user", "content": "What is Lilu?"}])

    home = settings.home
    for folder in (home, home / "indexes", home / "indexes" / "notes", settings.cache_path.parent):
        assert mode(folder) == 0o700, folder
    databases = [home / "server.sqlite", settings.patches_path, settings.cache_path]
    databases.append(home / "indexes" / "notes" / "passages.sqlite")
    for database in databases:
        assert mode(database) == 0o600, database
    for sidecar in home.rglob("*.sqlite-wal"):  # SQLite gives them the database's mode
        assert mode(sidecar) == 0o600, sidecar


def test_existing_files_and_folders_keep_their_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    (shared / "db.sqlite").write_text("")
    os.chmod(shared / "db.sqlite", 0o644)
    private_file(shared / "db.sqlite")
    private_dir(shared / "new" / "deeper")
    assert mode(shared) == 0o755 and mode(shared / "db.sqlite") == 0o644
    assert mode(shared / "new") == mode(shared / "new" / "deeper") == 0o700
