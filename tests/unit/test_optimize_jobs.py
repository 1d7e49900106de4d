"""Optimization jobs end to end on the grounded ask strategy with a scripted model and a fake reflection model:
GEPA and the baseline accept better prompts and reject worse ones, gepa's stop conditions end a run, guarded
proposals never reach the agent, the report compares both methods on a held-out test split with intervals,
jobs resume from their folder; the CLI drives it over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sleuth.config import Settings
from sleuth.evals.stats import paired_bootstrap
from sleuth.optimizers.config import OptimizeConfig
from sleuth.optimizers.jobs import JobError, run_job
from sleuth.optimizers.report import power_notes
from sleuth.prompts.sets import load_builtin, load_prompt_set
from sleuth.testing import Call, FakeOpenAIServer, ScriptedLLM

CORPUS = [
    {"id": "p-paris", "title": "Paris", "text": "Paris is the capital of France."},
    {"id": "p-rome", "title": "Rome", "text": "Rome is the capital of Italy."},
]


def reply_for(messages: list[dict[str, Any]], schema: str, rewrites: list[str]) -> str | dict[str, Any]:
    """The scripted reader and the fake reflection model (shared by the in-process fake and the HTTP server).

    The reader answers right ("Paris", grounded in a passage) when its `ask_read` prompt says MAGIC; with
    HALF, right on the even-numbered questions only (a seed that leaves room to improve or regress). The
    reflection model proposes `rewrites` in turn, the last one over and over."""
    prompt = "\n".join(str(m["content"]) for m in messages)
    if "Write a short critique" in prompt:
        return "The prompt never names the task."
    if "You improve the instruction" in prompt:
        return f"```\n{rewrites.pop(0) if len(rewrites) > 1 else rewrites[0]}\n```"
    system = str(messages[0]["content"])
    variant = re.search(r"variant (\d+)", prompt)
    half = "HALF" in system and variant is not None and int(variant.group(1)) % 2 == 0
    answer = "Paris" if "MAGIC" in system or half else "Rome"
    return {"answer": answer} if schema == "FinalReading" else {"answer": answer, "next_search": ""}


def scripted(*rewrites: str) -> ScriptedLLM:
    queue = list(rewrites)
    return ScriptedLLM(fn=lambda call: reply_for([dict(m) for m in call.messages], call.schema_name, queue))


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    rows = [
        {"id": f"q{i}", "question": f"What is the capital of France? (variant {i})", "answers": ["Paris"]}
        for i in range(12)
    ]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in CORPUS))
    return folder


def config(dataset: Path, out: Path, **kwargs: object) -> OptimizeConfig:
    values: dict[str, object] = {
        "dataset": str(dataset),
        "out": out,
        "budget": 16,
        "val_limit": 4,
        "limit": 5,
        "test_limit": 3,
        "roles": ["ask_read"],
        "seed_prompts": "minimal",
    }
    values.update(kwargs)
    return OptimizeConfig(**values)  # type: ignore[arg-type]


async def test_gepa_tunes_the_grounded_readings_and_reports_the_test_gain_with_its_interval(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "job"
    llm = scripted("MAGIC: answer with the city name.")
    result = await run_job(config(dataset, out), Settings(), llm)
    report = result.report
    gepa = report["methods"]["gepa"]
    assert (gepa["seed_val_score"], gepa["best_val_score"]) == (0.0, 1.0)
    assert gepa["best_candidate"] >= 1 and gepa["stopped_by"] == "budget"
    # The agent that ran is the grounded strategy: schema-constrained readings under the candidate's prompt.
    readings = llm.calls_for("ask")
    assert readings and {c.schema_name for c in readings} <= {"Reading", "FinalReading"}
    assert any(c.messages[0]["content"] == "MAGIC: answer with the city name." for c in readings)
    assert not any("<search>" in c.prompt for c in readings)
    # The held-out test result is always stated: winner minus seed, with its paired-bootstrap interval.
    assert gepa["test"]["questions"] == 3 and (gepa["test"]["seed"], gepa["test"]["best"]) == (0.0, 1.0)
    assert gepa["test"]["delta"]["mean"] == 1.0 and gepa["test"]["delta"]["excludes_zero"]
    assert report["split"] == {
        "train": 5,
        "val": 4,
        "test": 3,
        "corrections": 0,
        "seed": 0,
        "disjoint": {"questions": True, "passages": True},
        "joined_by_shared_passages": 0,
        "repeated_questions_dropped": 0,
    }
    assert "0 -> 1;" in gepa["candidate_tree_dot"] and (out / "gepa" / "candidate_tree.html").exists()
    markdown = (out / "report.md").read_text()
    assert "| gepa | 0.000 -> 1.000 | 0.000 -> 1.000 | +1.000 [+1.000, +1.000] **excludes 0** |" in markdown
    assert "```dot" in markdown and "+MAGIC: answer with the city name." in gepa["diff_vs_seed"]
    assert (out / "progress.png").stat().st_size > 1000
    # The best set loads as a prompt set (in OUT/best and in the method's folder).
    best = load_prompt_set(out / "best")
    assert best.hash == result.best_set.hash == load_prompt_set(out / "gepa" / "best").hash == gepa["best_hash"]
    assert best["ask_read"] == "MAGIC: answer with the city name."


async def test_gepa_rejects_a_worse_candidate(dataset: Path, tmp_path: Path) -> None:
    good = tmp_path / "good"
    load_builtin("minimal").with_prompts({"ask_read": "HALF: answer from the passages."}).save(good)
    result = await run_job(
        config(dataset, tmp_path / "job", seed_prompts=str(good), budget=12),
        Settings(),
        scripted("Give any answer at all."),
    )
    gepa = result.report["methods"]["gepa"]
    events = [e["event"] for e in gepa["iterations"]]
    assert gepa["best_candidate"] == 0 and len(result.outcome.candidates) == 1
    assert 0 < gepa["best_val_score"] < 1
    assert "rejected" in events and "accepted" not in events
    assert gepa["test"]["delta"] == {**gepa["test"]["delta"], "mean": 0.0, "low": 0.0, "high": 0.0}


@pytest.mark.parametrize("method", ["gepa", "textgrad"])
@pytest.mark.parametrize("accept_ties", [False, True])
async def test_a_tie_on_the_minibatch_is_validated_only_when_ties_are_accepted(
    dataset: Path, tmp_path: Path, method: str, accept_ties: bool
) -> None:
    # The seed and the rewrite both answer "Rome": every minibatch is a tie (0 against 0).
    job = config(dataset, tmp_path / "job", method=method, accept_ties=accept_ties)
    result = await run_job(job, Settings(), scripted("Answer from the passages."))
    candidates = result.outcome.candidates
    assert len(candidates) == (2 if accept_ties else 1)  # a validated tie joins the pool
    assert result.report["methods"][method]["best_candidate"] == 0  # no better on validation: the seed stays


async def test_both_methods_share_the_splits_and_budget_in_one_report(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "job"
    result = await run_job(config(dataset, out, method="both"), Settings(), scripted("MAGIC: the city."))
    report = result.report
    assert [row["method"] for row in report["comparison"]] == ["gepa", "textgrad"]
    for row in report["comparison"]:
        assert row["metric_calls"] >= 16 and row["stopped_by"] == "budget"
        assert row["test"] == [0.0, 1.0] and row["test_delta"]["low"] == 1.0
        assert row["reflection_calls"] >= 1
    # Same questions for both: the validation scores are per the same ids.
    gepa, textgrad = report["methods"]["gepa"], report["methods"]["textgrad"]
    assert set(gepa["test"]["per_question"]) == set(textgrad["test"]["per_question"])
    assert set(gepa["pareto_by_val_question"]) == set(textgrad["pareto_by_val_question"])
    # Every test answer went from wrong to right: all better, none worse, in the table too.
    n_test = len(gepa["test"]["per_question"])
    assert [row["test_changed"] for row in report["comparison"]] == [[n_test, 0], [n_test, 0]]
    assert f"| {n_test} / 0 |" in (out / "report.md").read_text(encoding="utf-8")
    # Once MAGIC is in, a reflection that proposes it again is a copy, refused without a run.
    assert set(gepa["refused_proposals"]) | set(textgrad["refused_proposals"]) <= {"copy"}
    # The baseline's seed runs came from the shared cache: same questions, same prompts, not run twice.
    assert textgrad["agent_runs"] < gepa["agent_runs"]
    markdown = (out / "report.md").read_text()
    assert "## gepa" in markdown and "## textgrad" in markdown
    assert (out / "textgrad" / "best").is_dir() and (out / "textgrad" / "candidate_tree.html").exists()


async def test_a_proposal_pasting_a_training_answer_into_a_prompt_is_refused_before_any_run(
    dataset: Path, tmp_path: Path
) -> None:
    # "Paris" is the gold answer of every training question: a rule naming it would score 1.0 everywhere.
    llm = scripted("MAGIC: when unsure, answer Paris.")
    result = await run_job(config(dataset, tmp_path / "job", budget=12), Settings(), llm)
    gepa = result.report["methods"]["gepa"]
    assert gepa["refused_proposals"]["leak"] >= 3  # every re-ask refused too
    assert all("Paris" not in c["ask_read"] for c in result.outcome.candidates)
    assert gepa["best_candidate"] == 0
    guard = [e for e in gepa["iterations"] if e["event"] == "guard"]
    assert guard and guard[0]["kind"] == "leak" and "'paris'" in guard[0]["reason"]
    assert not any("paris" in c.messages[0]["content"].lower() for c in llm.calls_for("ask"))


async def test_a_proposal_past_the_growth_cap_is_refused(dataset: Path, tmp_path: Path) -> None:
    long_rule = "MAGIC: read every passage twice before you answer. " * 20  # 1,040 characters
    result = await run_job(
        config(dataset, tmp_path / "job", budget=12, max_growth=2.0), Settings(), scripted(long_rule)
    )
    gepa = result.report["methods"]["gepa"]
    cap = result.report["prompt_caps"]["ask_read"]
    assert cap == len(load_builtin("minimal")["ask_read"]) + 400 < len(long_rule)
    assert (
        gepa["refused_proposals"] == {"growth": gepa["refused_proposals"]["growth"]}
        and gepa["best_candidate"] == 0
    )


async def test_gepas_stop_conditions_end_a_run(dataset: Path, tmp_path: Path) -> None:
    never_better = scripted("Answer however you like.")
    stalled = await run_job(
        config(dataset, tmp_path / "a", budget=500, no_improvement=2), Settings(), never_better
    )
    assert stalled.outcome.stopped_by == "no improvement" and stalled.outcome.total_metric_calls < 30
    timed = await run_job(config(dataset, tmp_path / "b", budget=500, timeout_min=1e-6), Settings(), never_better)
    assert timed.outcome.stopped_by == "timeout" and timed.outcome.total_metric_calls == 4  # the seed's validation
    spent = await run_job(config(dataset, tmp_path / "c", budget=10), Settings(), never_better)
    assert spent.outcome.stopped_by == "budget" and 10 <= spent.outcome.total_metric_calls < 16
    # The baseline stops on the same conditions.
    base = await run_job(
        config(dataset, tmp_path / "d", budget=500, no_improvement=2, method="textgrad"), Settings(), never_better
    )
    assert base.outcome.stopped_by == "no improvement" and base.outcome.total_metric_calls < 30


async def test_a_small_budget_for_the_roles_is_warned_about(dataset: Path, tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    roles = ["ask_read", "ask_read_next", "ask_read_final"]
    result = await run_job(
        config(dataset, tmp_path / "job", roles=roles, budget=8), Settings(), scripted("x"), on_event=events.append
    )
    (warning,) = result.report["warnings"]
    assert "small for 3 role(s)" in warning and "at least 58" in warning
    assert {"event": "warning", "message": warning} in events


async def test_a_job_resumes_from_its_folder_instead_of_restarting(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "job"
    first = await run_job(config(dataset, out, budget=8), Settings(), scripted("HALF: answer with the city."))
    llm = scripted("HALF: answer with the city.")
    second = await run_job(config(dataset, out, budget=20), Settings(), llm)
    assert second.outcome.total_metric_calls > first.outcome.total_metric_calls >= 8
    assert second.outcome.candidates[: len(first.outcome.candidates)] == first.outcome.candidates
    assert second.outcome.val_scores[0] == first.outcome.val_scores[0]
    assert second.split.test == first.split.test
    # The report counts the whole job's cost: a session with nothing left to do reports the same totals.
    third = await run_job(config(dataset, out, budget=20), Settings(), scripted("HALF: answer with the city."))
    g2, g3 = second.report["methods"]["gepa"], third.report["methods"]["gepa"]
    assert g2["agent_runs"] > first.report["methods"]["gepa"]["agent_runs"] > 0
    assert (g3["agent_runs"], g3["reflection_calls"]) == (g2["agent_runs"], g2["reflection_calls"])
    # The seed's validation questions were not asked again: their scores came from the job folder.
    val_questions = set(json.loads((out / "split.json").read_text())["val"])
    seed_prompt = load_builtin("minimal")["ask_read"]
    rerun = [
        c
        for c in llm.calls_for("ask")
        if c.messages[0]["content"] == seed_prompt and any(f"(variant {q[1:]})" in c.prompt for q in val_questions)
    ]
    assert rerun == []
    assert llm.calls  # it did go on with new minibatches


async def test_a_folder_holding_another_job_is_refused(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "job"
    await run_job(config(dataset, out, budget=6), Settings(), scripted("MAGIC"))
    with pytest.raises(JobError, match="differs in: metric"):
        await run_job(config(dataset, out, budget=6, metric="f1"), Settings(), scripted("MAGIC"))
    with pytest.raises(JobError, match=r"differs in: .*strategy"):
        await run_job(config(dataset, out, budget=6, strategy="asp", roles=["ask"]), Settings(), scripted("MAGIC"))


async def test_bad_options_fail_clearly(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(JobError, match="has no role writer"):
        await run_job(config(dataset, tmp_path / "a", roles=["writer"]), Settings(), scripted("x"))
    with pytest.raises(JobError, match="too few for the splits"):
        await run_job(config(dataset, tmp_path / "b", val_limit=10), Settings(), scripted("x"))
    with pytest.raises(JobError, match="max-prompt-chars 10"):
        await run_job(config(dataset, tmp_path / "c", max_prompt_chars=10), Settings(), scripted("x"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


async def test_corrections_are_never_regress_questions_reported_on_validation_and_at_test_time(
    dataset: Path, tmp_path: Path
) -> None:
    class Store:
        def list(self, *, status: object = None, collection: object = None) -> list[object]:
            from sleuth.feedback.models import Patch

            return [Patch(query="Which city is the capital of France, really?", answer="Paris")]

        def relevant(self, query: str, *, collection: str | None = None, tenant: str | None = None) -> list:
            return []

    result = await run_job(
        config(dataset, tmp_path / "job", corrections=True, budget=10),
        Settings(),
        scripted("MAGIC: answer with the city."),
        patch_store=Store(),
    )
    report = result.report
    gepa = report["methods"]["gepa"]
    assert report["split"]["corrections"] == 1 and report["split"]["val"] == 4
    assert gepa["seed_corrections_val_score"] == 0.0
    assert any(k.startswith("correction:") for k in gepa["pareto_by_val_question"])
    assert gepa["corrections_test"]["questions"] == 1
    assert (gepa["corrections_test"]["seed"], gepa["corrections_test"]["best"]) == (0.0, 1.0)
    assert gepa["corrections_test"]["regressed"] == []
    assert "correction questions (never regress): 0.000 -> 1.000" in (tmp_path / "job" / "report.md").read_text()


def _http_reply(body: dict[str, Any]) -> str:
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name", "")
    reply = reply_for(body["messages"], schema, ["MAGIC: the city."])
    return reply if isinstance(reply, str) else json.dumps(reply)


@pytest.mark.allow_llm
def test_cli_compares_both_methods_against_an_openai_compatible_server(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sleuth.cli import app

    out = tmp_path / "job"
    sizes = ["--val-limit", "4", "--limit", "5", "--test-limit", "3", "--budget", "14"]
    with FakeOpenAIServer(_http_reply) as server:
        monkeypatch.setenv("SLEUTH_LLM_BASE_URL", server.base_url)
        args = ["optimize", "--dataset", str(dataset), "--out", str(out), "--roles", "ask_read", *sizes]
        result = CliRunner().invoke(app, [*args, "--method", "both", "--json"])
        shown = CliRunner().invoke(app, [*args, "--method", "both"])  # resumed: nothing left, the summary
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(r["method"], r["test"], r["metric_calls"] >= 14) for r in report["comparison"]] == [
        ("gepa", [0.0, 1.0], True),
        ("textgrad", [0.0, 1.0], True),
    ]
    assert load_prompt_set(out / "best").hash == report["methods"]["gepa"]["best_hash"]
    assert shown.exit_code == 0, shown.output
    summary = " ".join(shown.output.split())  # the console wraps to the terminal's width
    n_test = len(report["methods"]["gepa"]["test"]["per_question"])
    assert (
        "gepa: validation 0.000 -> 1.000; test 0.000 -> 1.000, difference +1.000 [95% CI +1.000, +1.000] "
        f"({n_test} answers better, 0 worse)" in summary
    )


def test_cli_optimize_rejects_bad_input_without_a_traceback(dataset: Path, tmp_path: Path) -> None:
    from sleuth.cli import app

    result = CliRunner().invoke(
        app,
        [
            "optimize",
            "--dataset",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "o"),
            "--method",
            "annealing",
        ],
    )
    assert result.exit_code != 0
    assert "method" in result.output and "Traceback" not in result.output


async def test_textgrad_job_stopped_by_its_stop_file_goes_on_when_run_again(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "job"
    first = await run_job(
        config(dataset, out, method="textgrad", budget=6), Settings(), scripted("HALF: the city.")
    )
    (out / "textgrad" / "textgrad.stop").touch()
    second = await run_job(
        config(dataset, out, method="textgrad", budget=16), Settings(), scripted("HALF: the city.")
    )
    assert second.outcome.total_metric_calls > first.outcome.total_metric_calls
    assert not (out / "textgrad" / "textgrad.stop").exists()
    assert second.report["comparison"][0]["method"] == "textgrad" and (out / "report.md").exists()


@pytest.mark.allow_llm
async def test_a_slow_reflection_model_gets_its_own_timeout_not_the_task_models(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sleuth.llm.clients import reflection_client

    # Slower than the task model's request timeout, well inside the reflection timeout.
    with FakeOpenAIServer(lambda body: "```\nnew instructions\n```", delay_s=1.5) as server:
        current = Settings(
            reflection_base_url=server.base_url, llm_request_timeout_s=0.5, llm_timeout_s=0.5, llm_max_retries=0
        )
        reflection = reflection_client(current)
        try:
            completion = await reflection.complete([{"role": "user", "content": "rewrite"}], agent="reflection")
        finally:
            await reflection.aclose()
    assert "new instructions" in completion.text
    assert len(server.requests) == 1  # answered on the first try, not after timeouts and retries


@pytest.mark.allow_llm
async def test_reflection_on_the_task_models_server_also_gets_the_reflection_timeout() -> None:
    from sleuth.llm import OpenAICompatModel
    from sleuth.llm.clients import reflection_client

    with FakeOpenAIServer(lambda body: "```\nnew instructions\n```", delay_s=1.5) as server:
        current = Settings(llm_request_timeout_s=0.5, llm_timeout_s=0.5, llm_max_retries=0)
        task = OpenAICompatModel(server.base_url, "task-model", request_timeout_s=0.5, max_retries=0)
        reflection = reflection_client(current, task_llm=task)
        try:
            completion = await reflection.complete([{"role": "user", "content": "rewrite"}], agent="reflection")
        finally:
            await reflection.aclose()
            await task.aclose()
    assert "new instructions" in completion.text and len(server.requests) == 1
    assert server.requests[0]["model"] == "task-model"
    assert reflection_client(current, task_llm=ScriptedLLM()) is None  # nothing to share: reflect with the fake


async def test_a_crashed_session_still_counts_its_agent_runs_and_reflection_calls(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "job"

    def reflection_down(call: Call) -> str:
        raise TimeoutError("reflection server gone")

    with pytest.raises(Exception, match="reflection server gone"):
        await run_job(
            config(dataset, out, method="textgrad"),
            Settings(),
            scripted("unused"),
            reflection_llm=ScriptedLLM(fn=reflection_down),
        )
    counts = json.loads((out / "counts.json").read_text())["textgrad"]
    assert counts["agent_runs"] >= 4  # the seed's validation runs at least
    resumed = await run_job(config(dataset, out, method="textgrad"), Settings(), scripted("MAGIC: the city."))
    assert resumed.report["methods"]["textgrad"]["agent_runs"] > counts["agent_runs"]


def _two_role_reply(call: Call) -> dict[str, Any] | str:
    """Three kinds of question: right with ALPHA in `ask_read`, with BETA in `ask_read_next`, and only without
    ALPHA; so one candidate per role improves a different part, and only their merge has both."""
    if call.agent == "reflection":
        if "Reply with only the new instruction" in call.prompt:  # the cue role ask_read_next
            return "```\nBETA: reply with JSON.\n```"
        return "```\nALPHA: answer from the passages.\n```"
    system, user = call.messages[0]["content"], call.messages[-1]["content"]
    kind = int(re.findall(r"variant (\d+)", user)[0]) % 3
    right = "ALPHA" in system if kind == 0 else "BETA" in user if kind == 1 else "ALPHA" not in system
    answer = "Paris" if right else "Rome"
    return {"answer": answer} if call.schema_name == "FinalReading" else {"answer": answer, "next_search": ""}


async def test_gepa_merges_candidates_that_improved_different_roles(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    rows = [
        {"id": f"q{i}", "question": f"What is the capital of France? (variant {i})", "answers": ["Paris"]}
        for i in range(24)
    ]
    (folder / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in CORPUS))
    options: dict[str, Any] = {
        "budget": 80,
        "val_limit": 9,
        "limit": 9,
        "test_limit": 4,
        "roles": ["ask_read", "ask_read_next"],
        "seed": 2,
    }
    merged = await run_job(config(folder, tmp_path / "a", **options), Settings(), ScriptedLLM(fn=_two_role_reply))
    gepa = merged.report["methods"]["gepa"]
    (event,) = [e for e in gepa["iterations"] if e["event"] == "merged"]
    child = merged.outcome.candidates[event["candidate"]]
    assert "ALPHA" in child["ask_read"] and "BETA" in child["ask_read_next"]
    assert sorted(merged.outcome.parents[event["candidate"]]) == sorted(event["parents"])
    plain = await run_job(
        config(folder, tmp_path / "b", merge=False, **options), Settings(), ScriptedLLM(fn=_two_role_reply)
    )
    assert not any(len(p) > 1 for p in plain.outcome.parents)


def test_a_test_difference_that_covers_zero_says_how_many_questions_would_show_it() -> None:
    pattern = [0.5] * 3 + [-0.5] * 2 + [0.0] * 15  # +0.025 from 3 answers up and 2 down
    covers = paired_bootstrap([0.0] * 20, pattern).to_json()
    shows = paired_bootstrap([0.0] * 20, [0.5] * 20).to_json()
    notes = power_notes(
        [
            {"method": "gepa", "test_delta": covers},
            {"method": "textgrad", "test_delta": shows},
            {"method": "none", "test_delta": None},
        ],
        20,
    )
    assert notes == [
        f"gepa: the interval covers zero; a difference of +0.025 with this spread (sd 0.255 per question) needs "
        f"about {covers['questions_needed']} test questions to exclude it (this test has 20)"
    ]


@pytest.mark.allow_llm
@pytest.mark.parametrize(
    ("server_kind", "flag", "exact_calls"),
    [("embedded", "--exact", True), ("embedded", "--cached-prefix", False), ("url", "--exact", False)],
)
def test_exact_scoring_turns_the_prompt_cache_off_on_the_embedded_server_only(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server_kind: str, flag: str, exact_calls: bool
) -> None:
    """A reading sent to the embedded llama.cpp server (here a fake one recorded as `sleuth llm serve`) carries
    `cache_prompt: false`; a server given by URL may be OpenAI's, which refuses fields it does not know."""
    from sleuth.cli import app

    with FakeOpenAIServer(_http_reply) as server:
        if server_kind == "embedded":
            settings = Settings()
            settings.home.mkdir(parents=True, exist_ok=True)
            url = server.base_url.removesuffix("/v1")
            settings.local_server_file.write_text(
                json.dumps({"url": url, "pid": 1, "model": settings.local_model})
            )
        else:
            monkeypatch.setenv("SLEUTH_LLM_BASE_URL", server.base_url)
        sizes = ["--val-limit", "4", "--limit", "5", "--test-limit", "3", "--budget", "8"]
        args = ["optimize", "--dataset", str(dataset), "--out", str(tmp_path / "job"), "--roles", "ask_read"]
        result = CliRunner().invoke(app, [*args, *sizes, flag, "--json"])
    assert result.exit_code == 0, result.output
    readings = [r for r in server.requests if "response_format" in r]
    others = [r for r in server.requests if "response_format" not in r]  # the reflection model's
    assert readings and others
    assert {r.get("cache_prompt", True) for r in readings} == {not exact_calls}
    assert all("cache_prompt" not in r for r in others)
