"""Optimization jobs end to end with the scripted LLM: GEPA accepts better prompts and rejects worse ones,
resumes from its folder, writes a loadable best set and a report; the CLI drives it over HTTP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sleuth.agents.ask.loop import run_ask
from sleuth.agents.deps import AgentDeps
from sleuth.config import Settings
from sleuth.evals.datasets import QAExample
from sleuth.optimizers.config import OptimizeConfig
from sleuth.optimizers.jobs import JobError, run_job
from sleuth.optimizers.splits import split_examples
from sleuth.prompts.sets import load_builtin, load_prompt_set
from sleuth.testing import FakeOpenAIServer, ScriptedLLM, StaticRetriever

CORPUS = [
    {"id": "p-paris", "title": "Paris", "text": "Paris is the capital of France."},
    {"id": "p-rome", "title": "Rome", "text": "Rome is the capital of Italy."},
]


def answer_for(system_prompt: str, conversation: str, rewrite: str, summary: str = '{"sentences": [1]}') -> str:
    """The scripted agent: right when its ask prompt says MAGIC. Shared by the fake server."""
    if "You improve the instructions" in conversation or "Write a short critique" in conversation:
        return "Look at the gold answers." if "Write a short critique" in conversation else f"```\n{rewrite}\n```"
    if "Search query:" in conversation and "Sentences:" in conversation:  # the summariser
        return summary
    if "<information>" not in conversation:
        return "<search>What is the capital of France?</search>"
    # HALF: right on the even-numbered questions only (a seed that leaves room to improve or regress).
    variant = re.search(r"variant (\d+)", conversation)
    half = "HALF" in system_prompt and variant is not None and int(variant.group(1)) % 2 == 0
    return "<answer>Paris</answer>" if "MAGIC" in system_prompt or half else "<answer>London</answer>"


def scripted(rewrite: str) -> ScriptedLLM:
    return ScriptedLLM(fn=lambda call: answer_for(call.messages[0]["content"], call.prompt, rewrite))


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    rows = [
        {"id": f"q{i}", "question": f"What is the capital of France? (variant {i})", "answers": ["Paris"]}
        for i in range(10)
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
        "roles": ["ask", "summarizer"],
        "seed_prompts": "minimal",
    }
    values.update(kwargs)
    return OptimizeConfig(**values)  # type: ignore[arg-type]


async def test_gepa_accepts_a_better_candidate_and_writes_a_loadable_best_set(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "job"
    result = await run_job(config(dataset, out), Settings(), scripted("MAGIC: answer with the city name."))
    report = result.report
    assert report["seed_val_score"] == 0.0
    assert report["best_val_score"] == 1.0
    assert report["best_candidate"] >= 1
    assert report["split_disjoint"] and report["train_size"] == 5 and report["val_size"] == 4
    assert "+MAGIC: answer with the city name." in report["diff_vs_seed"]
    assert report["candidates"][report["best_candidate"]]["on_pareto_front"]
    assert (out / "progress.png").stat().st_size > 1000
    assert "Optimization report" in (out / "report.md").read_text()
    # The best set loads as a prompt set, and a run with it records its hash.
    best = load_prompt_set(out / "best")
    assert best.hash == result.best_set.hash
    assert "MAGIC" in best["ask"]
    llm = scripted("unused")
    answer = await run_ask("What is the capital of France?", AgentDeps(llm, StaticRetriever([]), best, Settings()))
    assert answer.prompt_set_hash == best.hash


async def test_gepa_rejects_a_worse_candidate(dataset: Path, tmp_path: Path) -> None:
    good = tmp_path / "good"
    seed = load_builtin("minimal").with_prompts({"ask": "HALF: search, then answer with the city."})
    seed.save(good)
    # Every reflection proposes a prompt without MAGIC: the minibatch gets worse, so nothing is accepted.
    result = await run_job(
        config(dataset, tmp_path / "job", seed_prompts=str(good), budget=12),
        Settings(),
        scripted("Answer however you like."),
    )
    events = [e["event"] for e in result.report["iterations"]]
    assert result.report["best_candidate"] == 0
    assert len(result.outcome.candidates) == 1
    assert 0 < result.report["best_val_score"] < 1
    assert "rejected" in events and "accepted" not in events


async def test_a_job_resumes_from_its_folder_instead_of_restarting(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "job"
    first = await run_job(config(dataset, out, budget=8), Settings(), scripted("HALF: answer with the city."))
    llm = scripted("HALF: answer with the city.")
    second = await run_job(config(dataset, out, budget=20), Settings(), llm)
    assert second.outcome.total_metric_calls > first.outcome.total_metric_calls >= 8
    assert second.outcome.candidates[: len(first.outcome.candidates)] == first.outcome.candidates
    assert second.outcome.val_scores[0] == first.outcome.val_scores[0]
    # The report counts the whole job's cost: a session with nothing left to do reports the same totals.
    third = await run_job(config(dataset, out, budget=20), Settings(), scripted("HALF: answer with the city."))
    assert second.report["agent_runs"] > first.report["agent_runs"] > 0
    assert (third.report["agent_runs"], third.report["reflection_calls"]) == (
        second.report["agent_runs"],
        second.report["reflection_calls"],
    )
    # The seed's validation questions were not asked again: their scores came from the job folder.
    val_questions = {q for q in json.loads((out / "split.json").read_text())["val"]}
    seed_prompt = load_builtin("minimal")["ask"]
    rerun = [
        c
        for c in llm.calls_for("ask")
        if c.messages[0]["content"] == seed_prompt and any(f"(variant {q[1:]})" in c.prompt for q in val_questions)
    ]
    assert rerun == []
    assert llm.calls  # it did go on with new minibatches


async def test_held_out_test_questions_score_seed_and_best_without_changing_the_split(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "job"
    first = await run_job(config(dataset, out, limit=4), Settings(), scripted("MAGIC: answer with the city."))
    split = json.loads((out / "split.json").read_text())
    # Adding a test set to the finished job resumes it (same split, no new search) and scores the test set.
    second = await run_job(config(dataset, out, limit=4, test_limit=2), Settings(), scripted("unused"))
    report = second.report
    assert json.loads((out / "split.json").read_text()) == split
    assert report["test_size"] == 2 and report["split_disjoint"]
    assert (report["seed_test_score"], report["best_test_score"]) == (0.0, 1.0)
    assert second.outcome.candidates == first.outcome.candidates
    assert "held-out test score (2 questions" in (out / "report.md").read_text()
    with pytest.raises(JobError, match="only 2 questions are left"):
        await run_job(config(dataset, out, limit=4, test_limit=3), Settings(), scripted("unused"))


async def test_a_folder_holding_another_job_is_refused(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "job"
    await run_job(config(dataset, out, budget=6), Settings(), scripted("MAGIC"))
    with pytest.raises(JobError, match="differs in: metric"):
        await run_job(config(dataset, out, budget=6, metric="f1"), Settings(), scripted("MAGIC"))


async def test_bad_options_fail_clearly(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(JobError, match="has no role writer"):
        await run_job(config(dataset, tmp_path / "a", roles=["writer"]), Settings(), scripted("x"))
    with pytest.raises(JobError, match="too few"):
        await run_job(config(dataset, tmp_path / "b", val_limit=10), Settings(), scripted("x"))
    assert not (tmp_path / "a").exists()


def test_split_is_seeded_disjoint_and_dedupes_repeated_questions() -> None:
    rows = [QAExample(f"q{i}", f"question {i % 12}?", ["a"]) for i in range(15)]
    train, val = split_examples(rows, None, 4, seed=7)
    again = split_examples(rows, None, 4, seed=7)
    assert [e.id for e in train] == [e.id for e in again[0]]
    assert len(val) == 4 and len(train) == 8  # 12 distinct questions
    assert not {e.question for e in train} & {e.question for e in val}
    assert [e.id for e in split_examples(rows, None, 4, seed=8)[1]] != [e.id for e in val]


async def test_corrections_become_separately_reported_validation_questions(dataset: Path, tmp_path: Path) -> None:
    class Store:
        def list(self, *, status: object = None, collection: object = None) -> list[object]:
            from sleuth.feedback.models import Patch

            return [Patch(query="Which city is the capital of France, really?", answer="Paris")]

        def relevant(self, query: str, *, collection: str | None = None, tenant: str | None = None) -> list:
            return []

    result = await run_job(
        config(dataset, tmp_path / "job", corrections=True, budget=10),
        Settings(),
        scripted("MAGIC"),
        patch_store=Store(),
    )
    assert result.report["corrections_size"] == 1
    assert result.report["seed_corrections_score"] == 0.0
    assert result.report["val_size"] == 4
    assert any(k.startswith("correction:") for k in result.report["pareto_by_val_question"])


@pytest.mark.allow_llm
def test_cli_optimize_runs_against_an_openai_compatible_server(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sleuth.cli import app

    def reply(body: dict) -> str:
        messages = body["messages"]
        return answer_for(messages[0]["content"], "\n".join(m["content"] for m in messages), "MAGIC: the city.")

    out = tmp_path / "job"
    with FakeOpenAIServer(reply) as server:
        monkeypatch.setenv("SLEUTH_LLM_BASE_URL", server.base_url)
        result = CliRunner().invoke(
            app,
            [
                "optimize",
                "--dataset",
                str(dataset),
                "--out",
                str(out),
                "--budget",
                "16",
                "--val-limit",
                "4",
                "--limit",
                "5",
                "--roles",
                "ask,summarizer",
                "--json",
            ],
        )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["best_val_score"] == 1.0 and report["seed_val_score"] == 0.0
    assert load_prompt_set(out / "best").hash == report["best_hash"]


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
    assert second.report["method"] == "textgrad" and (out / "report.md").exists()


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

    def reflection_down(call: object) -> str:
        raise TimeoutError("reflection server gone")

    with pytest.raises(Exception, match="reflection server gone"):
        await run_job(
            config(dataset, out, method="textgrad"),
            Settings(),
            scripted("unused"),
            reflection_llm=ScriptedLLM(fn=reflection_down),
        )
    counts = json.loads((out / "counts.json").read_text())
    assert counts["agent_runs"] >= 4  # the seed's validation runs at least
    resumed = await run_job(config(dataset, out, method="textgrad"), Settings(), scripted("MAGIC: the city."))
    assert resumed.report["agent_runs"] > counts["agent_runs"]
