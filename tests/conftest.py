"""Test isolation: every test gets a fresh SLEUTH_HOME, no SLEUTH_* leaks in, and no real model calls."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

from sleuth.testing import block_real_models

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
