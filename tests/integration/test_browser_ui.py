"""The web page in real headless Chromium: ask, watch a cited answer stream in, correct it, see the next
related answer change, retract the correction (the grounded fake model stands in for speed)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sleuth.config import Settings
from sleuth.feedback.store import PatchStore
from sleuth.server.app import create_app
from sleuth.testing import HashEmbedder, SlowModel, fake_sleuth, grounded_llm, serve_in_thread

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        pytest.fail("Debian chromium is missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 1500})
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def server() -> Iterator[tuple[str, str, PatchStore]]:
    settings = Settings(max_rounds=1, patch_min_score=0.3)
    store = PatchStore(settings.patches_path, HashEmbedder())
    # Each model call takes 0.15 s, so a run lasts about a second and its progress is visibly live.
    sleuth = fake_sleuth(settings, llm=SlowModel(grounded_llm(), 0.15), patches=store)
    app = create_app(settings, sleuth=sleuth)
    secret = app.state.sleuth.tokens.create("corrector", tenant="acme", name="ann")[1]
    with serve_in_thread(app) as url:
        yield url, secret, store
    store.close()


def run_question(page: Any, question: str, mode: str) -> None:
    page.fill("#question", question)
    page.check(f"input[name=mode][value={mode}]")
    # Progress arrives while the job runs: an event is shown before the answer exists. The page records
    # this itself when the first event lands, because a quick job can finish before Playwright's next poll.
    page.evaluate(
        """() => {
          window.answerHiddenAtFirstEvent = null;
          const progress = document.getElementById("progress");
          const observer = new MutationObserver(() => {
            if (!progress.children.length) return;
            window.answerHiddenAtFirstEvent = document.getElementById("answer-section").hidden;
            observer.disconnect();
          });
          observer.observe(progress, { childList: true });
        }"""
    )
    page.click("#run-button")
    page.wait_for_selector("#job-status.succeeded")
    page.wait_for_selector("#answer-section:not([hidden])")
    assert page.evaluate("window.answerHiddenAtFirstEvent") is True


def test_ask_correct_and_see_the_next_related_answer_change(page: Any, server: Any, tmp_path: Path) -> None:
    url, secret, store = server
    page.goto(url)
    assert page.title().startswith("sleuth")
    page.fill("#token", secret)
    page.click("#token-form button")
    page.wait_for_selector("#token-status.ok")

    run_question(page, "What is Lilu?", "research")
    steps = page.locator("#progress li .kind").all_inner_texts()
    assert steps[0] == "run_started" and "search" in steps and steps[-1] == "run_finished"
    assert page.inner_text("#answer").startswith("The answer is Lilu is a masculine Semitic name")
    # The citation marker opens the quoted evidence.
    page.click("#answer button.cite")
    assert page.locator("#cite-1").get_attribute("open") is not None
    assert "Lilu is a masculine Semitic name for a spirit or demon." in page.inner_text("#cite-1 blockquote")
    page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)

    # Correct it: the question is pre-filled, the answer is edited, evidence attached.
    page.click("#correct-button")
    assert page.input_value("#c-query") == "What is Lilu?"
    assert page.input_value("#c-answer").startswith("The answer is Lilu is a masculine")
    page.fill("#c-answer", "Lilu is a storm demon")
    page.fill("#c-evidence", "Lilu is a storm demon in Akkadian texts.")
    page.check("#c-passages input[type=checkbox]")
    page.screenshot(path=str(tmp_path / "correction.png"), full_page=True)
    page.click("#correction-form button[type=submit]")
    page.wait_for_selector("#correction-status.ok")
    [patch] = store.list()
    assert patch.answer == "Lilu is a storm demon" and patch.tenant == "acme"
    assert patch.evidence_passage_ids == ["p-lilu"] and "Lilu is a storm demon in Akkadian" in patch.evidence
    page.wait_for_selector(f"#patches li[data-patch={patch.id}]")

    # The next related question is answered from the correction, and says so.
    run_question(page, "What is Lilu in mythology?", "research")
    assert page.inner_text("#answer").startswith("The answer is Lilu is a storm demon")
    assert patch.id in page.inner_text("#patches-used")
    assert "User correction" in page.inner_text("#citations")
    shot = tmp_path / "corrected.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("BROWSER_TEST_SCREENSHOTS"):  # keep them to look at
        for name in ("answer.png", "correction.png", "corrected.png"):
            shutil.copy(tmp_path / name, Path(os.environ["BROWSER_TEST_SCREENSHOTS"]) / name)

    # Retract it from the list: it stays on record, and answers go back to the passages.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"#patches li[data-patch={patch.id}] button")
    page.wait_for_selector(f"#patches li[data-patch={patch.id}]", state="detached")
    assert store.get(patch.id).status == "retracted"
    run_question(page, "What is Lilu in mythology?", "ask")
    assert page.inner_text("#answer").startswith("Lilu is a masculine Semitic name")
