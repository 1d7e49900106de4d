"""A real (tiny) GEPA job on the embedded model: `sleuth optimize` from the minimal seed on the bundled demo
questions, with the embedded model as task and reflection model, ends with a loadable best set and a report."""

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
        "ask",
        *sizes,
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())

    # The budget was spent on real runs: the seed on validation, then a minibatch before and after a proposal.
    assert 3 <= report["metric_calls_used"] <= 5
    assert report["agent_runs"] >= 3 and report["reflection_calls"] >= 1
    proposals = [e for e in report["iterations"] if e["event"] == "proposal"]
    assert proposals and proposals[0]["texts"]["ask"].strip()
    assert proposals[0]["texts"]["ask"].strip() != load_prompt_set("minimal")["ask"].strip()
    assert report["split_disjoint"]
    assert (report["train_size"], report["val_size"], report["test_size"]) == (2, 1, 1)
    for key in ("seed_val_score", "best_val_score", "seed_test_score", "best_test_score"):
        assert 0.0 <= report[key] <= 1.0
    assert report["best_val_score"] >= report["seed_val_score"]  # GEPA never returns a worse-scoring set

    best = load_prompt_set(out / "best")
    assert best.hash == report["best_hash"]
    assert (out / "progress.png").stat().st_size > 1000
