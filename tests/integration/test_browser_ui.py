"""The web page in real headless Chromium: ask, watch a cited answer stream in, correct it, see the next
related answer change, retract the correction; edit and approve a report's plan, also after a server restart,
and ask a follow-up (the grounded fake model stands in for speed)."""

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
from sleuth.testing import (
    Call,
    HashEmbedder,
    ScriptedLLM,
    SlowModel,
    fake_sleuth,
    grounded_llm,
    grounded_reply,
    serve_in_thread,
)

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


HOSTILE = "<img src=x onerror=alert(1)>"


def hostile_planner(call: Call) -> Any:
    """The grounded fake model, except that the planner titles its last section with markup."""
    reply = grounded_reply([dict(m) for m in call.messages], call.schema_name)
    if call.schema_name == "PlannedOutline":
        reply["sections"][-1]["heading"] = HOSTILE  # type: ignore[index]
    return reply


def report_app(settings: Settings) -> Any:
    # SQLite checkpoints (as `sleuth serve --fake-llm` keeps them): a paused plan outlives the server.
    sleuth = fake_sleuth(settings, llm=SlowModel(ScriptedLLM(fn=hostile_planner), 0.05), checkpoints="sqlite")
    return create_app(settings, sleuth=sleuth)


def sign_in(page: Any, url: str, secret: str) -> None:
    page.goto(url)
    page.fill("#token", secret)
    page.click("#token-form button")
    page.wait_for_selector("#token-status.ok")


def pause_for_approval(page: Any, question: str) -> str:
    page.fill("#question", question)
    page.check("input[name=mode][value=research]")
    page.select_option("#form", "report")
    page.check("#approve-plan")
    page.click("#run-button")
    page.wait_for_selector("#job-status.awaiting_approval")
    page.wait_for_selector("#plan-section:not([hidden])")
    return str(page.evaluate("location.hash")).removeprefix("#job=")


def plan_headings(page: Any) -> list[str]:
    return [page.input_value(f".plan-section:nth-child({i + 1}) .plan-heading") for i in range(3)]


def approve_and_read_the_report(page: Any) -> list[str]:
    page.click("#plan-approve")
    page.wait_for_selector("#job-status.succeeded")
    page.wait_for_selector("#answer-section:not([hidden])")
    assert page.locator("#plan-section").is_hidden()
    assert page.locator("#answer img").count() == 0
    return page.locator("#answer h4").all_inner_texts()


def test_a_report_plan_is_edited_approved_and_survives_a_restart(page: Any, tmp_path: Path) -> None:
    settings = Settings(max_rounds=1)
    app = report_app(settings)
    secret = app.state.sleuth.tokens.create("corrector", tenant="acme", name="ann")[1]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    with serve_in_thread(app) as url:
        sign_in(page, url, secret)
        job_id = pause_for_approval(page, "What is Lilu?")
        # The drafted plan, the planner's markup shown as the text it is.
        assert plan_headings(page) == ["Overview", "Details", HOSTILE]
        assert page.input_value("#plan-title") == "What is Lilu"
        page.screenshot(path=str(tmp_path / "plan.png"), full_page=True)
        page.fill(".plan-section:nth-child(1) .plan-heading", "Demons")
        page.fill(".plan-section:nth-child(2) .plan-question", "Alû demon Akkadian mythology")
        # The API's reasons for refusing a plan are shown; the job stays paused with the edits in place.
        page.fill("#plan-title", "")
        page.click("#plan-approve")
        page.wait_for_selector("#plan-status.bad")
        assert "title" in page.inner_text("#plan-status") and "at least 1 character" in page.inner_text(
            "#plan-status"
        )
        assert page.inner_text("#job-status") == "awaiting_approval"
        assert page.input_value(".plan-section:nth-child(1) .plan-heading") == "Demons"
        page.fill("#plan-title", "Lilu, edited")
        headings = approve_and_read_the_report(page)
        assert page.inner_text("#answer h3") == "Lilu, edited"
        assert headings == ["Demons", "Details", HOSTILE]
        # The same job ran on: it resumed, searched the edited question, and cites its sources.
        assert page.evaluate("location.hash") == f"#job={job_id}"
        steps = page.locator("#progress li").all_inner_texts()
        assert any("Resumed" in s for s in steps) and any("Alû demon Akkadian mythology" in s for s in steps)
        assert page.locator("#citations li details").count() >= 1
        assert "Lilu (mythology)" in page.inner_text("#citations")  # a source the report cites
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

        # A follow-up starts a new job from this run's evidence.
        page.fill("#follow-up", "Who directed Jaws?")
        page.click("#follow-up-button")
        page.wait_for_selector("#job-status.succeeded")
        page.wait_for_selector("#answer-section:not([hidden])")
        assert page.inner_text("#answer").startswith("The answer is Jaws is a 1975 film")
        follow_id = str(page.evaluate("location.hash")).removeprefix("#job=")
        assert follow_id != job_id
        jobs = app.state.sleuth.jobs
        assert jobs.get(follow_id).result["follow_up_of"] == jobs.get(job_id).result["run_id"]

        paused_id = pause_for_approval(page, "What is Alû?")

    # A new server process on the same SLEUTH_HOME: the paused job is listed and approved there.
    with serve_in_thread(report_app(settings)) as url:
        sign_in(page, url, secret)
        page.click(f"#jobs li[data-job={paused_id}] button")
        page.wait_for_selector("#plan-section:not([hidden])")
        assert page.inner_text("#job-status") == "awaiting_approval"
        assert plan_headings(page)[2] == HOSTILE
        page.fill(".plan-section:nth-child(2) .plan-heading", "Akkadian demons")
        headings = approve_and_read_the_report(page)
        assert headings == ["Overview", "Akkadian demons", HOSTILE]
        assert page.locator("#citations li details").count() >= 1
        page.screenshot(path=str(tmp_path / "restarted.png"), full_page=True)
    assert dialogs == []  # no markup ever ran
    if os.environ.get("BROWSER_TEST_SCREENSHOTS"):
        for name in ("plan.png", "report.png", "restarted.png"):
            shutil.copy(tmp_path / name, Path(os.environ["BROWSER_TEST_SCREENSHOTS"]) / name)
