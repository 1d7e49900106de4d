"""Test isolation: every test gets a fresh SLEUTH_HOME, no SLEUTH_* leaks in, and no real model calls; and the
throwaway Postgres server the shared-state tests run against (`backend`, `postgres_cluster`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from sleuth.testing import block_real_models
from sleuth.testing.postgres import TempPostgres

SHARED_MODELS_DIR = Path(
    os.environ.get("SLEUTH_MODELS_DIR") or Path(platformdirs.user_data_dir("sleuth")) / "models"
)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("SLEUTH_"):
            monkeypatch.delenv(key)
    home = tmp_path / "sleuth-home"
    monkeypatch.setenv("SLEUTH_HOME", str(home))
    # No warm worker unless a test asks for one: `auto` would start a process that outlives the test.
    monkeypatch.setenv("SLEUTH_WORKER", "off")
    # One shared copy of the joined model weights (491 MB) instead of one per test home.
    monkeypatch.setenv("SLEUTH_MODELS_DIR", str(SHARED_MODELS_DIR))
    return home


@pytest.fixture(autouse=True)
def _no_real_models(request: pytest.FixtureRequest) -> Iterator[None]:
    """Unit tests run on fakes: any real model call (a model server, the embedded model) raises
    `RealModelBlockedError`, and a test whose code caught and swallowed that error still fails here. A test
    opts in with `@pytest.mark.integration` or `@pytest.mark.allow_llm`."""
    if request.node.get_closest_marker("integration") or request.node.get_closest_marker("allow_llm"):
        yield
        return
    with block_real_models("a unit test may not call a real model") as block:
        yield
    assert not block.refused, (
        f"the test tried real model calls (refused, but the error was swallowed): {block.refused}"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_llm: a unit test that exercises the real HTTP client code path")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[TempPostgres]:
    """One real PostgreSQL server for the whole run, started on first use (about a second) and stopped after."""
    try:
        cluster = TempPostgres()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    with cluster:
        yield cluster


class Backend:
    """Where a test's shared stores live: SQLite files under its tmp_path, or fresh Postgres databases.

    `location(name)` is the same place for the same name within a test (two stores opened on it share it).
    """

    def __init__(self, name: str, tmp_path: Path, cluster: TempPostgres | None) -> None:
        self.name = name
        self._tmp_path = tmp_path
        self._cluster = cluster
        self._made: dict[str, str] = {}

    def location(self, name: str = "main") -> Path | str:
        if self._cluster is None:
            return self._tmp_path / f"{name}.sqlite"
        if name not in self._made:
            self._made[name] = self._cluster.new_database()
        return self._made[name]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test once on SQLite and once on Postgres. On Postgres `SLEUTH_DATABASE_URL` is set too (to
    `location("main")`), so `Settings()` puts the patch store and the server database there."""
    cluster = request.getfixturevalue("postgres_cluster") if request.param == "postgres" else None
    chosen = Backend(request.param, tmp_path, cluster)
    if cluster is not None:
        monkeypatch.setenv("SLEUTH_DATABASE_URL", str(chosen.location()))
    return chosen
