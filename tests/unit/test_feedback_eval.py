"""The feedback eval protocol: corrections reach reworded questions, not unrelated ones; bad feedback
is refused or flagged; lag is measured."""

from __future__ import annotations

from pathlib import Path

from sleuth.evals.datasets import QAExample
from sleuth.evals.feedback_eval import corrections, run_feedback_eval, summarize
from sleuth.feedback.base import PatchSource
from sleuth.feedback.policy import PatchPolicy
from sleuth.feedback.store import PatchStore
from sleuth.retrieval.base import Passage
from sleuth.testing import HashEmbedder

FEEDBACK = [
    QAExample("q1", "Who directed the shark film Jaws?", ["Steven Spielberg"], ["g1"]),
    QAExample("q2", "Which river flows through Budapest city?", ["Danube"], ["g2"]),
]
CONTROLS = [QAExample("c1", "What colour is the sky on Mars?", ["butterscotch"], ["g3"])]
PASSAGES = {
    "g1": Passage("g1", "Jaws is a film directed by Steven Spielberg."),
    "g2": Passage("g2", "The Danube flows through Budapest."),
    "g3": Passage("g3", "The Martian sky is butterscotch."),
}
REWORDINGS = {"q1": ["Jaws, the shark film: who directed it?"], "q2": ["Budapest city: which river flows there?"]}


async def fake_agent(question: str, patches: PatchSource) -> tuple[str, list[str]]:
    """Follows a patch unless it is flagged as older or evidence-free; otherwise answers wrongly."""
    views = [
        v
        for v in patches.relevant(question, collection="dev")
        if "older-conflict" not in v.flags and "no-evidence" not in v.flags
    ]
    used = [v.id for v in patches.relevant(question, collection="dev")]
    return (views[0].answer if views else "no idea"), used


async def test_protocol_measures_gain_on_related_and_no_change_on_controls(tmp_path: Path) -> None:
    def open_store(condition: str) -> PatchStore:
        return PatchStore(tmp_path / f"{condition}.sqlite", HashEmbedder(), PatchPolicy(min_score=0.3))

    outcomes, lags, refused = await run_feedback_eval(
        FEEDBACK,
        CONTROLS,
        REWORDINGS,
        answerer=fake_agent,
        open_store=open_store,
        passages=PASSAGES,
        collection="dev",
    )
    summary = summarize(outcomes, lags, refused)
    base = summary["no_feedback"]
    assert base["related"]["em"] == 0.0 and base["before_original"]["n"] == 2
    gold = summary["conditions"]["gold"]
    assert gold["related"]["em"] == 1.0 and gold["related_em_gain"] == 1.0
    assert gold["control"]["with_patches"] == 0.0 and gold["control_em_change"] == 0.0
    assert gold["corrected"] == "2/2" and gold["lag_queries_mean"] == 1.0
    assert gold["lag_store_s_max"] is not None and gold["lag_store_s_max"] < 1.0
    assert summary["conditions"]["noisy"]["related"]["em"] == 0.0  # wrong answer followed: shows the harm
    assert len(summary["conditions"]["blank"]["refused"]) == 2  # blank answers never stored
    assert summary["conditions"]["blank"]["related"]["with_patches"] == 0.0
    assert summary["conditions"]["vague"]["related"]["em"] == 0.0  # flagged no-evidence, not trusted
    assert summary["conditions"]["conflicting"]["related"]["em"] == 1.0  # the newer (gold) patch wins


def test_corrections_per_condition() -> None:
    ex, other = FEEDBACK
    assert corrections(ex, "gold", other, PASSAGES, "dev")[0].answer == "Steven Spielberg"
    assert corrections(ex, "gold", other, PASSAGES, "dev")[0].evidence == PASSAGES["g1"].text
    assert corrections(ex, "noisy", other, PASSAGES, "dev")[0].answer == "Danube"
    assert corrections(ex, "blank", other, PASSAGES, "dev")[0].answer == ""
    assert corrections(ex, "vague", other, PASSAGES, "dev")[0].evidence == ""
    wrong, right = corrections(ex, "conflicting", other, PASSAGES, "dev")
    assert (wrong.answer, right.answer) == ("Danube", "Steven Spielberg")


async def test_without_baseline_only_feedback_arms_run(tmp_path: Path) -> None:
    def open_store(condition: str) -> PatchStore:
        return PatchStore(tmp_path / f"{condition}.sqlite", HashEmbedder(), PatchPolicy(min_score=0.3))

    outcomes, lags, refused = await run_feedback_eval(
        FEEDBACK,
        CONTROLS,
        REWORDINGS,
        answerer=fake_agent,
        open_store=open_store,
        passages=PASSAGES,
        collection="dev",
        conditions=("gold",),
        baseline=False,
    )
    assert {o.arm for o in outcomes} == {"feedback"}
    gold = summarize(outcomes, lags, refused)["conditions"]["gold"]
    assert gold["related"]["em"] == 1.0 and gold["related_em_gain"] is None  # nothing to compare with
