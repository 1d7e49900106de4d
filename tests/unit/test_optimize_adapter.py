"""The GEPA adapter and the TextGrad-style baseline, driven by the scripted LLM and the real ask agent (the ASP
tag loop here; the grounded strategy, the default, in test_optimize_jobs.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from sleuth.config import Settings
from sleuth.evals.datasets import QAExample
from sleuth.llm.base import GenParams
from sleuth.optimizers.base import Rollout, Score
from sleuth.optimizers.briefs import reflection_template, rewrite_rules
from sleuth.optimizers.gepa_adapter import ReflectionModel, SleuthAdapter
from sleuth.optimizers.metrics import AnswerMetric
from sleuth.optimizers.stopping import Stoppers
from sleuth.optimizers.tasks import AskTask
from sleuth.optimizers.textgrad import extract_instruction, run_textgrad
from sleuth.prompts.sets import PromptSet, load_builtin
from sleuth.retrieval.base import Passage
from sleuth.testing import Call, ScriptedLLM, StaticRetriever

PASSAGES = [
    Passage("p-paris", "Paris is the capital of France.", "Paris"),
    Passage("p-rome", "Rome is the capital of Italy.", "Rome"),
]


def scripted(
    rewrite: str = "MAGIC: answer with the city.",
    summary: str = '{"sentences": [1]}',
    rewrites: list[str] | None = None,
) -> ScriptedLLM:
    """Answers right only when the ask prompt says MAGIC; the reflection model proposes `rewrites` in turn,
    then `rewrite`."""
    queue = list(rewrites or [])

    def reply(call: Call) -> str:
        if call.agent == "reflection":
            if "Write a short critique" in call.prompt:  # the TextGrad-style critic
                return "The prompt never names the task."
            return f"```\n{queue.pop(0) if queue else rewrite}\n```"
        if call.agent == "summarizer":
            return summary
        if not any("<information>" in m["content"] for m in call.messages):
            return "<search>What is the capital of France?</search>"
        # Wrong but grounded (a passage holds it): an answer found in no passage would be refused.
        return "<answer>Paris</answer>" if "MAGIC" in call.messages[0]["content"] else "<answer>Rome</answer>"

    return ScriptedLLM(fn=reply)


def examples(n: int) -> list[QAExample]:
    return [QAExample(f"q{i}", f"What is the capital of France? (variant {i})", ["Paris"]) for i in range(n)]


def make_adapter(llm: ScriptedLLM, loop: asyncio.AbstractEventLoop, **kwargs: object) -> SleuthAdapter:
    task = AskTask(llm, StaticRetriever(PASSAGES), Settings(), strategy="asp")
    return SleuthAdapter(task, AnswerMetric("em"), load_builtin("minimal"), loop, **kwargs)  # type: ignore[arg-type]


def seed() -> dict[str, str]:
    minimal = load_builtin("minimal")
    return {"ask": minimal["ask"], "summarizer": minimal["summarizer"]}


async def test_evaluate_scores_candidates_and_records_each_role() -> None:
    llm = scripted()
    adapter = make_adapter(llm, asyncio.get_running_loop())
    batch = examples(2)
    plain = await asyncio.to_thread(adapter.evaluate, batch, seed(), True)
    magic = await asyncio.to_thread(adapter.evaluate, batch, {**seed(), "ask": "MAGIC prompt"}, True)
    assert plain.scores == [0.0, 0.0]
    assert magic.scores == [1.0, 1.0]
    trace = magic.trajectories[0]
    assert [c.role for c in trace.rollout.calls] == ["ask", "summarizer", "ask"]
    assert trace.rollout.searches[0].query == "What is the capital of France?"
    # The candidate's text is what the agent was given as its system prompt.
    assert trace.rollout.calls_by("ask")[0].messages[0]["content"] == "MAGIC prompt"


async def test_evaluate_never_raises_a_failed_example_scores_zero_with_its_error() -> None:
    def reply(call: Call) -> str:
        if "variant 1" in call.prompt:
            raise RuntimeError("server exploded")
        return scripted()._fn(call)  # type: ignore[misc]

    adapter = make_adapter(ScriptedLLM(fn=reply), asyncio.get_running_loop())
    result = await asyncio.to_thread(adapter.evaluate, examples(3), {**seed(), "ask": "MAGIC"}, True)
    assert result.scores == [1.0, 0.0, 1.0]
    failed = result.trajectories[1]
    assert "server exploded" in failed.rollout.error
    assert "server exploded" in failed.score.feedback
    records = adapter.make_reflective_dataset(seed(), result, ["ask"])["ask"]
    assert any("server exploded" in r["Feedback"] for r in records)


async def test_metric_failure_is_a_zero_score_not_an_exception() -> None:
    class Broken:
        name = "broken"

        async def score(self, rollout: Rollout) -> Score:
            raise KeyError("no gold")

    adapter = make_adapter(scripted(), asyncio.get_running_loop())
    adapter.metric = Broken()
    result = await asyncio.to_thread(adapter.evaluate, examples(1), seed(), False)
    assert result.scores == [0.0]
    assert "metric failed" in result.outputs[0]["feedback"]


async def test_rollouts_of_a_batch_run_concurrently_under_the_limit() -> None:
    in_flight = peak = 0

    class SlowTask:
        roles = ("ask",)

        async def run(self, example: QAExample, prompts: object) -> Rollout:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.05)
            in_flight -= 1
            return Rollout(example, answer="Paris")

    adapter = SleuthAdapter(
        SlowTask(), AnswerMetric("em"), load_builtin("minimal"), asyncio.get_running_loop(), concurrency=3
    )
    result = await asyncio.to_thread(adapter.evaluate, examples(7), seed(), False)
    assert result.scores == [1.0] * 7
    assert peak == 3


async def test_reflective_dataset_gives_each_role_its_own_inputs_outputs_and_feedback() -> None:
    # The summary drops the answer that the passages hold: the summarizer's feedback must say so.
    llm = scripted(summary='{"sentences": [2]}')  # sentence 2 is about Rome
    adapter = make_adapter(llm, asyncio.get_running_loop())
    result = await asyncio.to_thread(adapter.evaluate, examples(2), seed(), True)
    data = adapter.make_reflective_dataset(seed(), result, ["ask", "summarizer"])
    assert set(data) == {"ask", "summarizer"}
    ask, summ = data["ask"][0], data["summarizer"][0]
    assert "<search>" in ask["Generated Outputs"]
    assert "Wrong: the answer was 'Rome' but the gold answer is 'Paris'" in ask["Feedback"]
    assert "search(es)" in ask["Feedback"]
    assert "Paris is the capital of France." in summ["Inputs"]["input"]  # the passages it was shown
    assert summ["Generated Outputs"] == '{"sentences": [2]}'
    assert "dropped it" in summ["Feedback"]
    # Only the roles asked for, and no system prompt (the text being rewritten) in the ask transcript.
    assert list(adapter.make_reflective_dataset(seed(), result, ["summarizer"])) == ["summarizer"]
    assert "Answer the question. To search" not in ask["Generated Outputs"]


async def test_reflection_model_is_a_blocking_callable_on_the_job_loop() -> None:
    llm = scripted()
    reflection = ReflectionModel(llm, asyncio.get_running_loop(), GenParams(max_tokens=50))
    text = await asyncio.to_thread(reflection, "rewrite this")
    assert "MAGIC" in text
    assert llm.calls[-1].agent == "reflection"
    with pytest.raises(RuntimeError, match="worker thread"):
        reflection("called on the loop itself would deadlock")


async def _textgrad(llm: ScriptedLLM, run_dir: Path, seed_prompts: dict[str, str], budget: int):
    adapter = make_adapter(llm, asyncio.get_running_loop())
    reflection = ReflectionModel(llm, asyncio.get_running_loop(), GenParams())
    outcome = await asyncio.to_thread(
        run_textgrad,
        adapter,
        seed_prompts,
        examples(6)[:4],
        examples(6)[4:],
        reflection_lm=reflection,
        stoppers=Stoppers(budget, run_dir / "textgrad.stop"),
        run_dir=run_dir,
    )
    return outcome, reflection


async def test_textgrad_accepts_a_rewrite_that_improves(tmp_path: Path) -> None:
    outcome, reflection = await _textgrad(scripted(rewrite="MAGIC: answer with the city."), tmp_path, seed(), 12)
    assert outcome.val_scores[0] == 0.0
    assert outcome.val_scores[outcome.best_idx] == 1.0
    assert "MAGIC" in outcome.candidates[outcome.best_idx]["ask"]
    assert reflection.calls >= 2  # a critique, then a rewrite
    assert outcome.total_metric_calls >= 12


async def test_textgrad_keeps_the_current_prompt_when_the_rewrite_is_worse(tmp_path: Path) -> None:
    good = {**seed(), "ask": "MAGIC seed prompt"}
    outcome, _ = await _textgrad(scripted(rewrite="Answer however you like."), tmp_path, good, 14)
    assert outcome.best_idx == 0
    assert outcome.candidates == [good]  # rejected on the minibatch: never even validated
    assert outcome.val_scores == [1.0]


async def test_textgrad_resumes_from_its_state_file(tmp_path: Path) -> None:
    first, _ = await _textgrad(scripted(), tmp_path, seed(), 8)
    llm = scripted()
    second, _ = await _textgrad(llm, tmp_path, seed(), 14)
    assert second.total_metric_calls > first.total_metric_calls
    assert second.val_scores[: len(first.val_scores)] == first.val_scores
    # The seed's validation run was not redone.
    assert len(second.val_scores) >= len(first.val_scores)


async def test_research_rollouts_are_scored_on_citations_and_give_the_writer_its_own_records() -> None:
    from sleuth.optimizers.metrics import CitationMetric
    from sleuth.optimizers.tasks import ResearchTask

    lilu = Passage("p-lilu", "Lilu is a masculine Semitic name for a spirit or demon.", "Lilu (mythology)")
    replies = {
        "orchestrator": {"tasks": [{"query": "What is Lilu?", "instructions": ""}]},
        "reader": {"evidence": [{"passage": 1, "sentence": 1, "claim": "Lilu is a spirit"}]},
        "aggregator": {"summary": "Lilu is a spirit.", "unknown": []},
        "writer": {"sentences": [{"text": "Lilu is a Semitic name for a spirit or demon.", "evidence": [1]}]},
        "ask": {"answer": "a spirit", "next_search": ""},  # the direct answer's grounded reading
    }
    llm = ScriptedLLM(fn=lambda call: replies[call.agent])
    task = ResearchTask(llm, StaticRetriever([lilu]), Settings(max_rounds=1))
    adapter = SleuthAdapter(task, CitationMetric(), load_builtin("minimal"), asyncio.get_running_loop())
    example = QAExample("h1", "If Gallu is a demon Lilu is what?", ["a spirit"])
    result = await asyncio.to_thread(adapter.evaluate, [example], {"writer": "Write cited sentences."}, True)
    trace = result.trajectories[0]
    assert trace.rollout.error is None, trace.rollout.error
    assert trace.rollout.citations and trace.rollout.citations[0]["passage_id"] == "p-lilu"
    assert result.scores[0] > 0.5
    writer = adapter.make_reflective_dataset({}, result, ["writer"])["writer"][0]
    assert "Lilu is a Semitic name" in writer["Generated Outputs"]
    assert trace.rollout.calls_by("writer")[0].messages[0]["content"] == "Write cited sentences."


async def test_failed_runs_are_not_cached_for_a_resume(tmp_path: Path) -> None:
    from sleuth.optimizers.cache import EvalCache

    down = ScriptedLLM(fn=lambda call: (_ for _ in ()).throw(TimeoutError("server busy")))
    cache = EvalCache(tmp_path / "cache.jsonl")
    adapter = make_adapter(down, asyncio.get_running_loop(), cache=cache)
    candidate = {**seed(), "ask": "MAGIC"}
    assert (await asyncio.to_thread(adapter.evaluate, examples(1), candidate)).scores == [0.0]
    # A resumed job (new adapter, same cache file) runs the question again instead of reusing the failure.
    again = make_adapter(scripted(), asyncio.get_running_loop(), cache=EvalCache(tmp_path / "cache.jsonl"))
    assert (await asyncio.to_thread(again.evaluate, examples(1), candidate)).scores == [1.0]
    third = make_adapter(ScriptedLLM(), asyncio.get_running_loop(), cache=EvalCache(tmp_path / "cache.jsonl"))
    assert (await asyncio.to_thread(third.evaluate, examples(1), candidate)).scores == [1.0]  # from the file
    assert third.rollouts_run == 0


async def test_cached_scores_are_not_reused_under_other_agent_settings(tmp_path: Path) -> None:
    from sleuth.optimizers.cache import EvalCache

    candidate = {**seed(), "ask": "MAGIC"}
    first = make_adapter(scripted(), asyncio.get_running_loop(), cache=EvalCache(tmp_path / "c.jsonl", salt="k=8"))
    await asyncio.to_thread(first.evaluate, examples(1), candidate)
    same = make_adapter(scripted(), asyncio.get_running_loop(), cache=EvalCache(tmp_path / "c.jsonl", salt="k=8"))
    other = make_adapter(scripted(), asyncio.get_running_loop(), cache=EvalCache(tmp_path / "c.jsonl", salt="k=3"))
    await asyncio.to_thread(same.evaluate, examples(1), candidate)
    await asyncio.to_thread(other.evaluate, examples(1), candidate)
    assert (same.rollouts_run, other.rollouts_run) == (0, 1)


async def test_a_cached_rollout_feeds_reflection_without_a_rerun_and_old_score_rows_are_rerun(
    tmp_path: Path,
) -> None:
    from sleuth.optimizers.cache import EvalCache

    path = tmp_path / "c.jsonl"
    first = make_adapter(scripted(), asyncio.get_running_loop(), cache=EvalCache(path))
    ran = await asyncio.to_thread(first.evaluate, examples(1), seed(), True)
    # A resumed job whose model is down still reflects on the parent's minibatch: the rollout is on file.
    again = make_adapter(
        ScriptedLLM(fn=lambda call: "unreachable"), asyncio.get_running_loop(), cache=EvalCache(path)
    )
    cached = await asyncio.to_thread(again.evaluate, examples(1), seed(), True)
    assert again.rollouts_run == 0
    assert cached.scores == ran.scores
    records = again.make_reflective_dataset(seed(), cached, ["ask", "summarizer"])
    assert records == first.make_reflective_dataset(seed(), ran, ["ask", "summarizer"])
    assert "[assistant] <answer>Rome</answer>" in records["ask"][0]["Generated Outputs"]
    # A row holding only a score (written before rollouts were kept) serves scores but not reflection.
    key = first.cache.key(seed(), examples(1)[0])
    path.write_text(json.dumps({"key": key, "score": 0.5, "answer": "x"}) + "\n")
    old = make_adapter(scripted(), asyncio.get_running_loop(), cache=EvalCache(path))
    assert (await asyncio.to_thread(old.evaluate, examples(1), seed())).scores == [0.5]
    assert (await asyncio.to_thread(old.evaluate, examples(1), seed(), True)).scores == [0.0]
    assert old.rollouts_run == 1


def test_reflection_replies_without_a_fence_lose_the_chatter_but_keep_the_instructions() -> None:
    chatty = (
        "Certainly! Here are the updated instructions:\n\n---\n\nAnswer the question. Search first.\n"
        "1. Answer in a few words.\n\n---\n\nThis version uses simpler language."
    )
    assert extract_instruction(chatty) == "Answer the question. Search first.\n1. Answer in a few words."
    fenced = "Some words first.\n```\nKeep <search> and <answer>.\n```\nSome words after."
    assert extract_instruction(fenced) == "Keep <search> and <answer>."
    plain = "Here is how you work: search, then answer in a few words.\nNever guess."
    assert extract_instruction(plain) == plain  # an instruction is not chatter
    as_json = '```json\n{"instructions": "Search first. Answer in a few words."}\n```'
    assert extract_instruction(as_json) == "Search first. Answer in a few words."


def test_reflection_templates_name_each_roles_protocol_and_are_shared_by_both_methods() -> None:
    from gepa.strategies.instruction_proposal import InstructionProposalSignature

    for role, keep in (("ask", "<answer>"), ("summarizer", '{"sentences": [numbers]}'), ("judge", "every tag")):
        template = reflection_template(role)
        InstructionProposalSignature.validate_prompt_template(template)  # gepa accepts it
        assert keep in template
        assert rewrite_rules(role) in template  # the TextGrad-style rewrite gets the same rules
    assert reflection_template("ask") != reflection_template("summarizer")


def test_a_reply_that_reasons_first_gives_the_last_fenced_block_and_unwraps_old_and_new_json() -> None:
    reasoned = (
        "Example 1: it searched once.\n```\n<search>old query</search>\n```\n"
        "New instructions:\n```\nSearch each step.\n1. Search again with the name you found.\n```"
    )
    assert extract_instruction(reasoned) == "Search each step.\n1. Search again with the name you found."
    side_by_side = (
        '```json\n{"current_instructions": "Answer.", "new_instructions": "Answer after searching."}\n```'
    )
    assert extract_instruction(side_by_side) == "Answer after searching."
    raw_newlines = '{"current_instructions": "Answer.", "new_instructions": "Answer.\n1. Search each step."}'
    assert extract_instruction(raw_newlines) == "Answer.\n1. Search each step."
    ambiguous = '{"a": "one", "b": "two"}'
    assert extract_instruction(ambiguous) == ambiguous  # no field says which text is new: keep it all


def test_gepa_template_asks_for_a_diagnosis_per_example_before_the_rewrite() -> None:
    template = reflection_template("ask")
    diagnosis, rewrite = template.index("for each example above"), template.index(rewrite_rules("ask"))
    assert template.index("<side_info>") < diagnosis < rewrite
    assert "1." not in rewrite_rules("ask")  # no checklist for a small model to copy as rules


def test_an_unfenced_rewrite_under_a_new_instructions_heading_drops_the_diagnosis_above_it() -> None:
    reply = (
        "### Example 1\nWrong: it searched once.\n\n#### New Instructions\n"
        "Answer the question.\n1. Search again with the name you found."
    )
    assert extract_instruction(reply) == "Answer the question.\n1. Search again with the name you found."
    inline = "Keep the new instructions short: search, then answer."  # not a heading: kept whole
    assert extract_instruction(inline) == inline


async def test_cue_roles_reflect_on_the_ask_conversation_and_are_rewritten_as_short_cues() -> None:
    llm = scripted()
    adapter = make_adapter(llm, asyncio.get_running_loop())
    cues = {"ask_reminder": "CUE-FIRST", "ask_followup": "CUE-NEXT"}
    result = await asyncio.to_thread(adapter.evaluate, examples(1), {**seed(), **cues}, True)
    data = adapter.make_reflective_dataset({**seed(), **cues}, result, ["ask_reminder", "ask_followup"])
    for role in cues:
        (record,) = data[role]
        # The cue role is never called itself: its record is the ask conversation the cues were said in.
        assert "CUE-FIRST" in record["Generated Outputs"] and "CUE-NEXT" in record["Generated Outputs"]
        assert "Wrong: the answer was 'Rome'" in record["Feedback"]
        assert "one or two sentences" in rewrite_rules(role) and rewrite_rules(role) in reflection_template(role)
        assert "numbered rules" not in reflection_template(role)  # a cue is replaced, not grown into rules
        assert "write one short line" not in reflection_template(role)  # and gets no diagnosis step
    assert "<answer>" in rewrite_rules("ask_followup") and "numbered rules" in rewrite_rules("ask")


def test_the_ask_agent_optimizes_the_default_strategys_readings_and_the_asp_loops_cues_on_request() -> None:
    from sleuth.optimizers.config import OptimizeConfig
    from sleuth.optimizers.jobs import JobError, resolve_roles

    minimal = load_builtin("minimal")
    grounded = OptimizeConfig(agent="ask", dataset="unused", out=Path("unused"))
    assert resolve_roles(grounded, minimal) == ["ask_read", "ask_read_next", "ask_read_final"]
    with pytest.raises(JobError, match=r"\(grounded strategy\) has no role ask;"):
        resolve_roles(grounded.model_copy(update={"roles": ["ask"]}), minimal)
    config = grounded.model_copy(update={"strategy": "asp"})
    assert resolve_roles(config, minimal) == ["ask", "ask_reminder", "ask_followup", "summarizer"]
    # The defaults say nothing after a result (an empty cue), and that empty cue can still be optimized;
    # a role the set does not hold cannot.
    defaults = load_builtin("defaults")
    assert defaults["ask_followup"] == "" and minimal["ask_followup"]
    assert resolve_roles(config.model_copy(update={"roles": ["ask_followup"]}), defaults) == ["ask_followup"]
    lacking = PromptSet({"ask": "Search, then answer."}, "partial")
    with pytest.raises(JobError, match="has no prompt for ask_reminder"):
        resolve_roles(config.model_copy(update={"roles": ["ask_reminder"]}), lacking)


def test_a_rewrite_sent_as_python_is_reduced_to_its_string_and_other_code_is_kept() -> None:
    # What the 1.5B reflection model wrote for the `ask_reminder` cue (gepa ran a Python line as the prompt).
    as_code = 'Example 1: it searched the whole question.\n```python\n# New text\ncue = "Search for the first fact."\n```'
    assert extract_instruction(as_code) == "Search for the first fact."
    assert extract_instruction('```\n"""Search, then answer."""\n```') == "Search, then answer."
    prose = "Search first.\nThen answer = a few words."
    assert extract_instruction(f"```\n{prose}\n```") == prose  # not Python: kept as written
    assert extract_instruction("```\nprint('x')\n```") == "print('x')"  # code that is not one string: kept


async def test_each_raw_reflection_reply_is_logged_with_its_prompt(tmp_path: Path) -> None:
    llm = scripted(rewrite="Search twice.")
    log = tmp_path / "reflections.jsonl"
    model = ReflectionModel(llm, asyncio.get_running_loop(), GenParams(max_tokens=50), log_path=log)
    reply = await asyncio.to_thread(model, "Improve this: Answer.")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["call"], r["prompt"], r["reply"]) for r in rows] == [(1, "Improve this: Answer.", reply)]


def test_gepas_proposer_re_asks_a_copy_or_an_empty_reply_and_keeps_the_first_new_text() -> None:
    from sleuth.optimizers.gepa_adapter import Proposer

    replies = iter(
        ["```\nSearch first.\n```", "```\n\n```", "```\nSearch for the first fact.\n```", "```\nX\n```"]
    )
    prompts: list[str] = []

    def lm(prompt: str) -> str:
        prompts.append(prompt)
        return next(replies)

    records = [{"Inputs": {"question": "q"}, "Generated Outputs": "<search>q</search>", "Feedback": "Wrong."}]
    texts = Proposer(lm)({"ask_reminder": "Search first."}, {"ask_reminder": records}, ["ask_reminder"])
    assert texts == {"ask_reminder": "Search for the first fact."}
    assert len(prompts) == 3 and "Search first." in prompts[0] and "Wrong." in prompts[0]
    assert "Reply with only the new instruction" in prompts[0]  # the cue role's own template
    # A re-ask is the prompt plus why the last reply was refused: the same prompt would get the same reply.
    assert "refused" not in prompts[0]
    assert prompts[1].startswith(prompts[0]) and "refused (empty or a copy)" in prompts[1]
    assert prompts[2].startswith(prompts[0]) and "refused (empty or a copy)" in prompts[2]

    stubborn = Proposer(lambda prompt: "```\nSearch first.\n```")
    # Three copies: no proposal, so gepa skips the iteration instead of running a copy on a minibatch.
    assert stubborn({"ask_reminder": "Search first."}, {"ask_reminder": records}, ["ask_reminder"]) == {}


async def test_textgrad_re_asks_a_rewrite_that_copies_the_current_prompt(tmp_path: Path) -> None:
    llm = scripted(rewrites=[seed()["ask"], ""])  # a copy, then an empty reply, then the MAGIC rewrite
    outcome, reflection = await _textgrad(llm, tmp_path, seed(), 12)
    assert "MAGIC" in outcome.candidates[outcome.best_idx]["ask"]
    # Found in the first iteration (2 validation runs of the seed, then its minibatch and the rewrite's): the
    # copy and the empty reply cost reflection calls, not agent runs.
    assert outcome.discovered_at[outcome.best_idx] == 2 + 3 + 3
    assert reflection.calls >= 4  # the first iteration alone: the critique and three rewrites
