"""Per-role reflective records: what each role was given, what it wrote, and feedback aimed at that role.

GEPA's reflection model sees these records for the one role it is rewriting (and so does the
TextGrad-style critic). Texts are clipped so a prompt built from a minibatch fits a small local model.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sleuth.optimizers.base import RoleCall, Rollout, Score
from sleuth.optimizers.metrics import gold_in


@dataclass(frozen=True)
class RoleBrief:
    """What the reflection model must know about one role to rewrite its prompt well."""

    job: str
    """What the step does and how it is scored."""
    mistakes: str
    """The mistakes to look for in the feedback."""
    keep: str
    """The protocol the prompt defines, which a rewrite must keep verbatim."""
    said_in: str = ""
    """For a cue (a short line said inside another role's conversation, not a system prompt of its own): that
    role. Its reflective records are that role's calls, and a rewrite replaces the line with another short one
    instead of growing it into a list of rules."""

    @property
    def line(self) -> bool:
        return bool(self.said_in)


BRIEFS: dict[str, RoleBrief] = {
    "ask": RoleBrief(
        job="a small search assistant. It answers a question by searching a collection: it writes "
        "<search>query</search>, gets <information>...</information> back, and ends with "
        "<answer>short answer</answer>. It is scored on whether its final answer matches the gold answer",
        mistakes="a sentence instead of a short answer, the question copied as the answer, a guess that "
        "is not in the information, a search that skipped a step of the question",
        keep="the tags <search>, <information> and <answer>",
    ),
    "ask_reminder": RoleBrief(
        job="a small search assistant that is said to it just before its first search (the assistant answers a "
        "question by writing <search>query</search>, reading <information>...</information>, and ending with "
        "<answer>short answer</answer>, and is scored on whether its answer matches the gold answer)",
        mistakes="a first search that copied the whole question instead of asking for the first fact needed, "
        "an answer written before the facts were found",
        keep="the tags <search> and </search>",
        said_in="ask",
    ),
    "ask_followup": RoleBrief(
        job="a small search assistant that is said to it right after each search result (the assistant answers "
        "a question by writing <search>query</search>, reading <information>...</information>, and ending with "
        "<answer>short answer</answer>, and is scored on whether its answer matches the gold answer)",
        mistakes="an answer after one search when the question needed a second fact, a second search that "
        "repeated the first, an answer that is not in the information, a sentence instead of a short answer",
        keep="the tags <search>, </search>, <answer> and </answer>",
        said_in="ask",
    ),
    "summarizer": RoleBrief(
        job="a step in a search assistant. It gets a question, a search query and numbered sentences from "
        "the passages the search returned, and picks the 1 to 3 sentences the assistant gets to read. Good "
        "picks hold the names, dates and numbers that answer the search query",
        mistakes="the picks missed the sentence holding the answer, or picked sentences about another subject",
        keep='the reply format {"sentences": [numbers]}',
    ),
    "orchestrator": RoleBrief(
        job="the planner of a research assistant. It writes the searches to run next for a question, as "
        "JSON tasks; the answer is scored on its facts and on citing the passages those searches found",
        mistakes="a search that skipped a step of the question, vague queries without the names of the "
        "question, repeated searches, stopping while facts were still unknown",
        keep='the JSON format {"tasks": [{"query": "...", "instructions": "..."}]}',
    ),
    "reader": RoleBrief(
        job="the reader of a research assistant. It picks numbered passage sentences that are evidence for a "
        "question, as JSON; the answer can only use and cite what it picked",
        mistakes="the sentence with the answer not picked, sentences about another subject picked",
        keep='the JSON format {"evidence": [{"passage": P, "sentence": S, "claim": "..."}]}',
    ),
    "aggregator": RoleBrief(
        job="the aggregator of a research assistant. It merges a round's evidence into a summary and lists "
        "what is still unknown, as JSON; the unknowns decide the next searches",
        mistakes="facts in the summary that the evidence does not give, unknowns that were already answered, "
        "a missing unknown for a step of the question",
        keep='the JSON format {"summary": "...", "unknown": ["..."]}',
    ),
    "writer": RoleBrief(
        job="the writer of a research assistant. It answers from numbered evidence in sentences that each cite "
        "evidence numbers, as JSON; sentences that the cited evidence does not support are dropped",
        mistakes="a first sentence that does not answer the question, claims the cited evidence does not "
        "support, facts from memory",
        keep='the JSON format {"sentences": [{"text": "...", "evidence": [n]}]}',
    ),
}
GENERIC_BRIEF = RoleBrief(
    job="one step of a search-and-answer assistant whose answers must be correct and cite retrieved passages",
    mistakes="wrong or missing facts, claims without a citation, steps that ignored the feedback's hints",
    keep="every tag, JSON format and exact sentence they define",
)


def brief(role: str) -> RoleBrief:
    return BRIEFS.get(role, GENERIC_BRIEF)


def rewrite_rules(role: str) -> str:
    """How to write the new prompt: shared by GEPA's reflection template and the TextGrad-style rewrite,
    so both methods get the same guidance."""
    if brief(role).line:
        return f"""Write a different, better instruction that fixes what the feedback points out. It must be \
general (no names from these questions), one or two sentences of plain English, and keep {brief(role).keep} \
exactly as spelled. Reply with only the new instruction inside a ``` block."""
    # Prose, not a numbered checklist or a list of example mistakes: a 1.5B model copied both into the new
    # prompt ("1. Look at the feedback.") as if they were rules for the agent.
    return f"""Then write the new instructions inside one ``` block, at the end of your reply: the current \
instructions word for word (keep {brief(role).keep} exactly as spelled), followed by 2 to 5 short numbered rules \
that tell it what to do instead. Write the rules in general words that fit any question: no names or answers \
from these examples."""


def reflection_template(role: str) -> str:
    """gepa's `reflection_prompt_template` for `role`: a task-specific reflection prompt (the GEPA paper's
    strongest setting). The brief keeps a small reflection model on task (with a generic template a 1.5B
    model returned near copies of the prompt or chatter), and a one-line diagnosis per example before the
    rewrite makes it read the feedback: without that step its rules ignored the feedback.

    A cue role (`RoleBrief.line`) gets no diagnosis step: asked for one, the 1.5B model gave no usable line in
    4 of 4 replies (the diagnosis alone, Python, the old line with example questions pasted in); asked for the
    new line alone it wrote a line, often a copy, which `first_new_text` re-asks."""
    if brief(role).line:
        return f"""You improve the instruction of {brief(role).job}.

Its current instruction:
```
<curr_param>
```

Here is what the assistant did with it on some questions, with feedback:

<side_info>

{rewrite_rules(role)}"""
    return f"""You improve the instructions of {brief(role).job}.

Its current instructions:
```
<curr_param>
```

How it did with them on some questions (its input, its output, and feedback):

<side_info>

First, for each example above, write one short line: what went wrong, and what it should have done \
instead according to the feedback.
{rewrite_rules(role)}"""


_CHATTER = re.compile(
    r"^\s*((certainly|sure|of course)\b.*|(here|below) (is|are)\b.*:|.*\b(new|updated|improved|revised) "
    r"instructions\b.*:|-{3,})\s*$",
    re.IGNORECASE,
)


_FENCED = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_HEADING = re.compile(
    r"^[#*\s]*(?:the )?(?:new|updated|improved|revised) instructions\W*$", re.IGNORECASE | re.MULTILINE
)
_NEW_TEXT_KEY = re.compile(r"new|improved|updated|revised", re.IGNORECASE)


def _unwrap_json(body: str) -> str:
    """The instructions of a rewrite sent as JSON: its one text field, or its "new_instructions" field."""
    try:
        fields = json.loads(body, strict=False)  # models put raw newlines inside JSON strings
    except ValueError:
        return body
    if not isinstance(fields, dict):
        return body
    texts = {k: v for k, v in fields.items() if isinstance(v, str)}
    if len(fields) == 1 and texts:
        return next(iter(texts.values()))
    new = [v for k, v in texts.items() if _NEW_TEXT_KEY.search(k)]
    return new[0] if len(new) == 1 else body


def _unwrap_code(body: str) -> str:
    """The text of a rewrite sent as code: one string literal, alone or assigned (`new_text = "..."`), with any
    comments around it; anything else as it is."""
    try:
        tree = ast.parse(body)
    except (SyntaxError, ValueError):
        return body
    values = [node.value for node in tree.body if isinstance(node, (ast.Assign, ast.Expr))]
    if len(values) == len(tree.body) == 1 and isinstance(values[0], ast.Constant):
        value = values[0].value
        return value if isinstance(value, str) else body
    return body


def tidy_reflection(text: str) -> str:
    """The reflection reply reduced to the new instructions, fenced, so gepa's extractor (which takes the text
    between the first and last ```) gets only them.

    The reply may reason first, so the last fenced block is the rewrite (or, unfenced, the text under the last
    "New instructions" heading). Small models wrap their rewrite:
    lead-in lines ("Certainly! Here are the new instructions:") are dropped, and so is a comment after a
    `---` rule ("This version uses simpler language"); a rewrite sent as JSON (`{"instructions": "..."}`,
    or old and new side by side) or as a Python string (`new_text = "..."`) is unwrapped.
    """
    blocks = _FENCED.findall(text)
    headed = _HEADING.split(text)
    if blocks:
        body = blocks[-1]
    elif len(headed) > 1:  # "### New instructions" after the diagnosis, without the asked-for fence
        body = headed[-1]
    else:
        lines = text.strip().splitlines()
        while lines and (not lines[0].strip() or _CHATTER.match(lines[0])):
            lines.pop(0)
        body = re.split(r"\n\s*-{3,}\s*\n", "\n".join(lines), maxsplit=1)[0]
    return f"```\n{_unwrap_code(_unwrap_json(body.strip())).strip()}\n```"


PROPOSAL_TRIES = 3
"""Reflection replies asked for per proposal while they are empty or a copy of the current text. At
temperature 0.7 the 1.5B reflection model copied the cue line it was shown in 16 of 27 replies to GEPA's
one-call prompt; a copy spends a minibatch of agent runs on nothing (GEPA) or a whole iteration (the baseline)."""


def first_new_text(ask: Callable[[], str], current: str, tries: int = PROPOSAL_TRIES) -> str:
    """The first of up to `tries` proposals from `ask()` that is neither empty nor `current`; else the last."""
    text = ""
    for _ in range(tries):
        text = ask()
        if text.strip() and text.strip() != current.strip():
            break
    return text


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


def role_records(role: str, traces: list[Trace]) -> list[dict[str, Any]]:
    """The reflective records of one role over a minibatch (GEPA's Inputs / Generated Outputs / Feedback)."""
    records: list[dict[str, Any]] = []
    caller = brief(role).said_in or role  # a cue's records are the calls it was said in
    for trace in traces:
        rollout = trace.rollout
        calls = rollout.calls_by(caller)
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
        elif caller == "ask":
            records.append(
                {
                    "Inputs": {"question": question},
                    "Generated Outputs": clip(_conversation(rollout, caller), MAX_INPUT_CHARS + MAX_OUTPUT_CHARS),
                    "Feedback": trace.score.feedback,
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


def reflective_dataset(traces: list[Trace], roles: list[str]) -> dict[str, list[dict[str, Any]]]:
    """role -> records, for each role asked for."""
    return {role: role_records(role, traces) for role in roles}
