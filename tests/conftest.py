"""Test isolation: every test gets a fresh SLEUTH_HOME, no SLEUTH_* leaks in, and no real LLM calls."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
import pytest

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
def _no_network_llm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests must use the scripted fake: a real OpenAI-compatible call fails unless the test opts in
    with `@pytest.mark.integration` or `@pytest.mark.allow_llm`."""
    if request.node.get_closest_marker("integration") or request.node.get_closest_marker("allow_llm"):
        return
    from sleuth.llm import openai_compat

    async def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise AssertionError("unit test tried a real LLM call; use sleuth.testing.ScriptedLLM")

    monkeypatch.setattr(openai_compat.OpenAICompatModel, "_complete_with_retries", refuse)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_llm: a unit test that exercises the real HTTP client code path")
