"""Per-role reflective records: what each role was given, what it wrote, and feedback aimed at that role.

GEPA's reflection model sees these records for the one role it is rewriting (and so does the
TextGrad-style critic). Texts are clipped so a prompt built from a minibatch fits a small local model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sleuth.optimizers.base import RoleCall, Rollout, Score
from sleuth.optimizers.briefs import brief
from sleuth.optimizers.metrics import gold_in

MAX_INPUT_CHARS = 1200
MAX_OUTPUT_CHARS = 600
MAX_CALLS_PER_EXAMPLE = 2


@dataclass
class Trace:
    """One example's rollout with its score: GEPA's trajectory type."""

    rollout: Rollout
    score: Score


def clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 15].rstrip() + " …[clipped]"


def _verdict(trace: Trace) -> str:
    golds = " | ".join(trace.rollout.example.answers) or "(none)"
    return f"Final answer of the agent: '{clip(trace.rollout.answer, 200)}' (gold: '{golds}', score {trace.score.value:.2f})."


def _conversation(rollout: Rollout, role: str) -> str:
    """The role's last conversation without its system prompt (the prompt being rewritten)."""
    calls = rollout.calls_by(role)
    if not calls:
        return ""
    last = calls[-1]
    turns = [f"[{m['role']}] {m['content']}" for m in last.messages if m["role"] != "system"]
    turns.append(f"[assistant] {last.output}")
    return "\n".join(turns)


def picked_text(call: RoleCall) -> str:
    """What the summariser's reply amounts to: its picked sentence numbers (`{"sentences": [..]}`) resolved
    against the numbered sentences it was shown; any other reply as it is."""
    try:
        picks = json.loads(call.output).get("sentences", [])
    except (ValueError, AttributeError):
        return call.output
    listing = dict(re.findall(r"^\[(\d+)\] (.*)$", call.user_input, re.MULTILINE))
    return " ".join(listing.get(str(n), "") for n in picks if isinstance(n, int)).strip()


def _summarizer_feedback(call: RoleCall, trace: Trace) -> str:
    golds = trace.rollout.example.answers
    in_passages, in_summary = gold_in(call.user_input, golds), gold_in(picked_text(call), golds)
    if in_passages and in_summary:
        note = "Good: the summary kept the fact that answers the question."
    elif in_passages:
        note = (
            "The passages contain the gold answer but the summary dropped it: keep the exact names, dates "
            "and numbers that answer the question."
        )
    elif in_summary:
        note = "The summary states the gold answer although the passages shown do not: do not add outside facts."
    else:
        note = (
            "These passages do not contain the final answer; a useful summary states the intermediate fact "
            "the search query asked for, or 'No helpful information found.'."
        )
    return f"{note} {_verdict(trace)}"


def _reading_input(call: RoleCall) -> str:
    """A grounded reading's passages (the question is a field of its own; the instruction is the prompt)."""
    text = call.user_input
    passages = text.split("Passages:\n", 1)[-1].rsplit("\n\nQuestion:", 1)[0]
    return clip(passages, MAX_INPUT_CHARS)


def _said(call: RoleCall, text: str | None) -> bool:
    """Whether a cue's text (None: unknown) was said in this call."""
    return text is None or (bool(text.strip()) and text.strip() in call.user_input)


def role_records(role: str, traces: list[Trace], text: str | None = None) -> list[dict[str, Any]]:
    """The reflective records of one role over a minibatch (GEPA's Inputs / Generated Outputs / Feedback).

    Args:
        text: the role's current text; a cue's records are then only the calls it was said in (the grounded
            readings say `ask_read_next` or `ask_read_final`, never both).
    """
    records: list[dict[str, Any]] = []
    role_brief = brief(role)
    caller = role_brief.caller or role
    for trace in traces:
        rollout = trace.rollout
        calls = rollout.calls_by(caller)
        if role_brief.line and not role_brief.transcript:
            calls = [c for c in calls if _said(c, text)]
        question = rollout.example.question
        if rollout.error and not calls:
            records.append(
                {
                    "Inputs": {"question": question},
                    "Generated Outputs": "(the run failed)",
                    "Feedback": trace.score.feedback,
                }
            )
        elif not calls:
            records.append(
                {
                    "Inputs": {"question": question},
                    "Generated Outputs": "(this role was not called)",
                    "Feedback": f"This role was not used on this question. {trace.score.feedback}",
                }
            )
        elif role_brief.transcript:
            records.append(
                {
                    "Inputs": {"question": question},
                    "Generated Outputs": clip(_conversation(rollout, caller), MAX_INPUT_CHARS + MAX_OUTPUT_CHARS),
                    "Feedback": trace.score.feedback,
                }
            )
        elif caller == "ask":  # the grounded readings: the passages shown, the JSON reply
            for number, call in enumerate(calls[:MAX_CALLS_PER_EXAMPLE], 1):
                records.append(
                    {
                        "Inputs": {"question": question, "passages": _reading_input(call)},
                        "Generated Outputs": clip(call.output, MAX_OUTPUT_CHARS),
                        "Feedback": f"Reading {number} of {len(calls)}. {trace.score.feedback}",
                    }
                )
        else:
            for call in calls[:MAX_CALLS_PER_EXAMPLE]:
                feedback = (
                    _summarizer_feedback(call, trace)
                    if role == "summarizer"
                    else f"{trace.score.feedback} {_verdict(trace)}"
                )
                records.append(
                    {
                        "Inputs": {"question": question, "input": clip(call.user_input, MAX_INPUT_CHARS)},
                        "Generated Outputs": clip(call.output, MAX_OUTPUT_CHARS),
                        "Feedback": feedback,
                    }
                )
    return records


def reflective_dataset(
    traces: list[Trace], roles: list[str], candidate: dict[str, str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """role -> records, for each role asked for (`candidate` gives the cues' current texts)."""
    return {role: role_records(role, traces, (candidate or {}).get(role)) for role in roles}
