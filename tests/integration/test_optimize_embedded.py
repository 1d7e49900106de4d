"""A real (tiny) GEPA job on the embedded model: `sleuth optimize` of the grounded readings from the minimal seed on
the bundled demo questions, with the embedded model as task and reflection model, ends with a loadable best set
and a report that states the test result with its interval."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sleuth.prompts.sets import load_prompt_set

pytestmark = pytest.mark.integration


def test_gepa_job_on_the_embedded_model_proposes_scores_and_saves_a_loadable_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sleuth.cli import app

    demo = Path(str(resources.files("sleuth") / "data" / "demo"))
    out = tmp_path / "job"
    monkeypatch.setenv("SLEUTH_SEARCH_K", "3")
    monkeypatch.setenv("SLEUTH_ASK_MAX_TURNS", "3")
    monkeypatch.setenv("SLEUTH_REFLECTION_MAX_TOKENS", "300")
    sizes = ["--limit", "2", "--val-limit", "1", "--test-limit", "1", "--minibatch", "1", "--budget", "3"]
    args = [
        "optimize",
        "--dataset",
        str(demo),
        "--out",
        str(out),
        "--metric",
        "f1",
        "--roles",
        "ask_read",
        "--reflect-on-perfect",  # the demo's questions are easy for the seed: reflect on them all the same
        *sizes,
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())

    gepa = report["methods"]["gepa"]
    # The budget was spent on real runs: the seed on validation, then a minibatch before and after a proposal.
    assert 3 <= gepa["metric_calls_used"] <= 5
    assert gepa["agent_runs"] >= 3 and gepa["reflection_calls"] >= 1
    proposals = [e for e in gepa["iterations"] if e["event"] == "proposal"]
    refused = [e for e in gepa["iterations"] if e["event"] == "guard"]
    assert proposals or refused  # a proposal was made, or refused by the guard with its reason
    for proposal in proposals:
        assert proposal["texts"]["ask_read"].strip() not in ("", load_prompt_set("minimal")["ask_read"].strip())
    assert report["split"]["disjoint"] == {"questions": True, "passages": True}
    assert (report["split"]["train"], report["split"]["val"], report["split"]["test"]) == (2, 1, 1)
    for key in ("seed_val_score", "best_val_score"):
        assert 0.0 <= gepa[key] <= 1.0
    assert 0.0 <= gepa["test"]["seed"] <= 1.0 and gepa["test"]["delta"]["n"] == 1
    assert gepa["best_val_score"] >= gepa["seed_val_score"]  # GEPA never returns a worse-scoring set

    best = load_prompt_set(out / "best")
    assert best.hash == gepa["best_hash"]
    assert (out / "progress.png").stat().st_size > 1000
