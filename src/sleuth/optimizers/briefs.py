"""What the reflection model is told about each prompt role: its job, the mistakes to look for, the protocol a
rewrite keeps, and the reflection prompts built from that (shared by GEPA and the TextGrad-style baseline)."""

from __future__ import annotations

from dataclasses import dataclass


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
    agent: str = ""
    """The agent name the role's calls carry, when it is not the role's own (the grounded readings' system
    prompt `ask_read` is sent on calls named `ask`)."""
    transcript: bool = False
    """Records show the whole conversation (the ASP loop, whose turns are the role's doing) rather than each
    call's input and output."""

    @property
    def line(self) -> bool:
        return bool(self.said_in)

    @property
    def caller(self) -> str:
        """The agent name of the calls its records come from ("" means the role's own name)."""
        return self.said_in or self.agent


_READING = (
    "a small reading model in a search assistant (code searches a collection for the question, the model reads "
    "a few passages and replies with JSON: the shortest answer copied from the passages and, when a fact is "
    "missing, a short search for it, which code runs before the model reads again; an answer that no passage "
    "contains is rejected). It is scored on whether the final answer matches the gold answer"
)
_READING_MISTAKES = (
    "an answer that is a sentence or carries extra words, the first step's name given as the answer of a "
    "two-step question, an answer not copied from the passages, an empty answer although a passage gives it, "
    "a next_search that repeats the question instead of asking for the missing fact by name"
)
BRIEFS: dict[str, RoleBrief] = {
    "ask_read": RoleBrief(
        job=_READING,
        mistakes=_READING_MISTAKES,
        keep='the JSON fields "answer" and "next_search"',
        agent="ask",
    ),
    "ask_read_next": RoleBrief(
        job=f"{_READING}. The instruction is said last in each reading that may still ask for a search",
        mistakes=_READING_MISTAKES,
        keep='the JSON fields "answer" and "next_search"',
        said_in="ask",
    ),
    "ask_read_final": RoleBrief(
        job=f"{_READING}. The instruction is said last in the final reading, after the follow-up searches",
        mistakes="an answer that is a sentence, an answer not copied from the passages, an empty answer "
        "although a passage gives it",
        keep='the JSON field "answer"',
        said_in="ask",
    ),
    "ask": RoleBrief(
        job="a small search assistant. It answers a question by searching a collection: it writes "
        "<search>query</search>, gets <information>...</information> back, and ends with "
        "<answer>short answer</answer>. It is scored on whether its final answer matches the gold answer",
        mistakes="a sentence instead of a short answer, the question copied as the answer, a guess that "
        "is not in the information, a search that skipped a step of the question",
        keep="the tags <search>, <information> and <answer>",
        transcript=True,
    ),
    "ask_reminder": RoleBrief(
        job="a small search assistant that is said to it just before its first search (the assistant answers a "
        "question by writing <search>query</search>, reading <information>...</information>, and ending with "
        "<answer>short answer</answer>, and is scored on whether its answer matches the gold answer)",
        mistakes="a first search that copied the whole question instead of asking for the first fact needed, "
        "an answer written before the facts were found",
        keep="the tags <search> and </search>",
        said_in="ask",
        transcript=True,
    ),
    "ask_followup": RoleBrief(
        job="a small search assistant that is said to it right after each search result (the assistant answers "
        "a question by writing <search>query</search>, reading <information>...</information>, and ending with "
        "<answer>short answer</answer>, and is scored on whether its answer matches the gold answer)",
        mistakes="an answer after one search when the question needed a second fact, a second search that "
        "repeated the first, an answer that is not in the information, a sentence instead of a short answer",
        keep="the tags <search>, </search>, <answer> and </answer>",
        said_in="ask",
        transcript=True,
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


DIAGNOSIS = """First, for each example above, write one short line: what went wrong, and what it should have done \
instead according to the feedback."""


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

{DIAGNOSIS}
{rewrite_rules(role)}"""
