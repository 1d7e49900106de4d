"""Reflection replies reduced to the new prompt text, and the re-ask loop that keeps the first acceptable one."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable

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


def first_new_text(
    ask: Callable[[str | None], str],
    current: str,
    check: Callable[[str], str | None] | None = None,
    tries: int = PROPOSAL_TRIES,
) -> str | None:
    """The first of up to `tries` proposals from `ask(refusal)` that `check` passes (default: neither empty nor
    a copy of `current`; the jobs pass `guards.ProposalGuard.check`, which also refuses leaks and growth); None
    when every one was refused. `refusal` is None on the first try, then why the last reply was refused: the
    same prompt again gets the same reply from a local model (the 1.5B sent one copy three times), so a re-ask
    must differ and say what to fix (`with_refusal`)."""
    refusal: str | None = None
    for _ in range(tries):
        text = ask(refusal)
        refusal = check(text) if check is not None else _unchanged(text, current)
        if refusal is None:
            return text
    return None


def with_refusal(prompt: str, refusal: str | None) -> str:
    """`prompt` as re-asked after a refused reply: the reason appended, with what to do instead."""
    if refusal is None:
        return prompt
    return (
        f"{prompt}\n\nYour last reply was refused ({refusal}). Write a new reply that changes the instructions "
        "as asked above, in general words, with no names or answers from the examples."
    )


def _unchanged(text: str, current: str) -> str | None:
    return "empty or a copy" if not text.strip() or text.strip() == current.strip() else None
