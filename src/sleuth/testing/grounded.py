"""A stand-in model for the browser test, the load benchmark and offline demos of the server: it answers
only from the passages and user corrections in its prompt, so a correction really changes the answer.

`grounded_reply(prompt, schema)` plays every role (keyed by the output schema, so it also works behind
`FakeOpenAIServer`, where the agent's role is not sent); `fake_sleuth(...)` wires it into the real agents.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from sleuth.config import Settings
from sleuth.retrieval.base import Passage
from sleuth.testing.models import ScriptedLLM
from sleuth.testing.retrieval import StaticRetriever
from sleuth.text import split_sentences

PASSAGES = [
    Passage(
        "p-lilu",
        "Lilu is a masculine Semitic name for a spirit or demon. It is also a wind spirit.",
        "Lilu (mythology)",
    ),
    Passage("p-alu", "Alû is a demon of Akkadian mythology. It is often named with Gallu.", "Alû"),
    Passage("p-jaws", "Jaws is a 1975 film directed by Steven Spielberg. It was a box-office hit.", "Jaws"),
]
"""A tiny collection for demos and tests."""

_QUESTION = re.compile(r"^QUESTION:\s*(.+)$", re.MULTILINE)
_CORRECTION = re.compile(r'Corrected answer:\s*"((?:[^"\\]|\\.)*)"')
_PASSAGE = re.compile(r"^PASSAGE (\d+):.*\n(.+)$", re.MULTILINE)
_EVIDENCE = re.compile(r'^\[(\d+)\] \((.*?)\) ("(?:[^"\\]|\\.)*") -> ("(?:[^"\\]|\\.)*")$', re.MULTILINE)
"""An evidence line of the writer prompt: `[n] (source) "quote" -> "claim"`, quote and claim JSON literals."""
_ASK_QUESTION = re.compile(r"Question:\s*(.+)")
_POOLED = re.compile(r"^\[\d+\] .*\n(.+)$", re.MULTILINE)
"""A passage of the grounded ask strategy's listing: `[n] Title`, then its text."""


def _first_sentence(text: str) -> str:
    return next(iter(split_sentences(text)), "")


def grounded_reply(messages: list[dict[str, Any]], schema: str) -> str | dict[str, Any]:
    """The reply of a careful, literal model to one call of the research or ask agents.

    Args:
        messages: the chat messages of the call.
        schema: the title of the JSON schema asked for ('' for free text).
    """
    prompt = "\n".join(str(m.get("content", "")) for m in messages)
    question = (_QUESTION.findall(prompt) or [""])[-1].strip()
    if schema == "Plan":
        return {"tasks": [{"query": question, "instructions": "Find the passage that answers it."}]}
    if schema == "ReaderOutput":
        passages = _PASSAGE.findall(prompt)
        if not passages:
            return {"evidence": []}
        number, text = passages[0]
        # Both reader styles: point at sentence (1) of the passage, or copy it (a JSON literal) as the quote.
        first = re.match(r'\(1\) ("(?:[^"\\]|\\.)*")', text)
        quote = json.loads(first.group(1)) if first else ""
        return {"evidence": [{"passage": int(number), "sentence": 1, "quote": quote, "claim": quote.rstrip(".")}]}
    if schema == "RoundSummary":
        return {"summary": "The evidence answers the question.", "unknown": []}
    if schema == "PlannedOutline":
        topic = question.rstrip("?").strip() or "the question"
        return {
            "title": topic[:120],
            "sections": [
                {"heading": "Overview", "questions": [f"{topic} overview"]},
                {"heading": "Details", "questions": [f"{topic} details"]},
                {"heading": "Other accounts", "questions": [f"{topic} other accounts"]},
            ],
        }
    if schema == "WriterOutput":
        # Only the run's own evidence, after the last header (the prompt's worked example comes before).
        evidence = _EVIDENCE.findall(prompt.rsplit("EVIDENCE:", 1)[-1])
        if not evidence:
            return {"sentences": []}
        # A user correction outranks a passage: that is what makes the answer change after feedback.
        chosen = next((e for e in evidence if e[1] == "user correction"), evidence[0])
        claim = json.loads(chosen[3]).strip().rstrip(".")
        return {"sentences": [{"text": claim + ".", "evidence": [int(chosen[0])]}]}
    if schema in ("Reading", "FinalReading"):
        # The grounded strategy's reading: a correction's answer, else the first passage's first sentence.
        corrections = _CORRECTION.findall(prompt)
        pooled = _POOLED.findall(prompt.split("Passages:", 1)[-1])
        answer = json.loads(f'"{corrections[0]}"') if corrections else _first_sentence(pooled[0]) if pooled else ""
        return {"answer": answer[:100], **({"next_search": ""} if schema == "Reading" else {})}
    return _ask_reply(messages, prompt)


def _ask_reply(messages: list[dict[str, Any]], prompt: str) -> str:
    """The `ask` loop and its summariser: search once, then answer from a correction or the summary."""
    last = str(messages[-1].get("content", "")) if messages else ""
    if "Search query:" in last:  # the summariser, shown numbered sentences: pick the first
        return json.dumps({"sentences": [1] if re.search(r"^\[1\] ", last, re.MULTILINE) else []})
    searched = any("<search>" in str(m.get("content", "")) for m in messages if m.get("role") == "assistant")
    if not searched:
        asked = (_ASK_QUESTION.findall(prompt) or [""])[-1].strip()
        return f"<search>{asked or 'the question'}</search>"
    corrections = _CORRECTION.findall(prompt)
    if corrections:
        return f"<answer>{json.loads(chr(34) + corrections[0] + chr(34))}</answer>"
    info = re.findall(r"<information>(.*?)</information>", prompt, re.DOTALL)
    found = re.sub(r"^(\[\d+\] )?[^:]*: ", "", info[-1].strip()) if info else "unknown"  # drop "Title: "
    return f"<answer>{_first_sentence(found)}</answer>"


def grounded_llm() -> ScriptedLLM:
    """A `ScriptedLLM` playing every role with `grounded_reply`."""
    return ScriptedLLM(fn=lambda call: grounded_reply([dict(m) for m in call.messages], call.schema_name))


def openai_body_reply(body: dict[str, Any]) -> str:
    """`grounded_reply` for a chat-completions request body (for `FakeOpenAIServer`)."""
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name", "")
    reply = grounded_reply(list(body.get("messages", [])), schema)
    return reply if isinstance(reply, str) else json.dumps(reply)


def fake_sleuth(
    settings: Settings,
    *,
    llm: Any = None,
    passages: list[Passage] | None = None,
    patches: Any = None,
    checkpoints: Literal["sqlite", "memory"] = "memory",
) -> Any:
    """A `Sleuth` on the grounded fake model (or `llm`) over `passages`, with the given patch store.

    `checkpoints="sqlite"` keeps runs under `SLEUTH_HOME/runs` (`sleuth serve --fake-llm`), so a report paused
    for plan approval, or a run to follow up on, outlives the process; `memory` (tests) forgets them.
    """
    from sleuth.api import Sleuth

    chosen = list(passages or PASSAGES)
    by_id = {p.id: p for p in chosen}
    return Sleuth(
        settings,
        llm=llm or grounded_llm(),
        retriever=StaticRetriever(chosen),
        patches=patches,
        lookup=by_id.get,
        checkpoints=checkpoints,
    )
