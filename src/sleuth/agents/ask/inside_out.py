"""A composed question answered inside out by a grounded run: each inner question searched and read on its
own, its answer put in its place, and the rewritten one-hop question searched and read last.

The descriptions are found by `chain.innermost`. Every step is checked in code: an inner answer must be a
name (no number, no yes/no), other than the name it was asked about, found in a passage shown for it; the
final answer must be grounded, of the asked shape, and none of the names the chain went through. When a step
fails the run goes on with the whole question (`grounded._GroundedRun.loop`), as if no chain were there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sleuth.agents.ask.answer_check import is_grounded
from sleuth.agents.ask.chain import Inner, innermost, substitute
from sleuth.agents.ask.grounding import (
    fits_question,
    grounding_passage,
    is_number,
    is_yes_no,
    query_key,
    titled_by,
    trim_answer,
)

if TYPE_CHECKING:
    from sleuth.agents.ask.grounded import _GroundedRun

MAX_LINKS = 3
"""Most inner questions answered before the last one: a 4-hop question has three."""
INNER_SHOWN = 2
"""Most passages shown for an inner question: those titled by its name, else its search's best. Few: a
small reader copies a fact from one short passage far more reliably than from several (shown "Sarah Sorge
(born ... in Frankfurt)" beside a passage on Trajan, the 1.5B answered Trajan's birthplace)."""


async def read_inside_out(run: _GroundedRun) -> str | None:
    """The answer of a composed question, or None when the question holds no description or a step of the
    chain fails its check, or when a user correction with evidence is relevant: the whole question is then
    read beside it, so a correction takes effect on the very next related question."""
    if run.patch_passages:
        return None
    question, passed = run.question, []
    read: set[str] = set()
    for _ in range(MAX_LINKS):
        inner = innermost(question)
        if inner is None:
            break
        link = await _answer_inner(run, inner, read)
        if link is None:
            return None
        passed += [inner.name, link]
        question = substitute(question, inner, link)
    if not passed:
        return None
    run.emit("node_started", node="chain", question=question)
    # The passages the links were read from are about the names behind, and a passage that does not name
    # the last link is about something else ("Who is the sibling of Neil Young?" is not answered from a
    # passage on Ralph Lauren's children): the hits naming a link come first, alone when there are any.
    size = run.settings.ask_read_size
    await run.search(question, 2 * size + len(read))
    hits = [p for p in run.found[-1] if p.id not in read]
    links = [link for link in passed[1::2] if link in question]
    linked = [p for p in hits if any(grounding_passage(link, [p], slack=1) for link in links)]
    shown = (linked or hits)[:size]
    reply = await run.read_narrow("ask_read_final", shown, question)
    answer = trim_answer(question, reply)
    stands = (
        is_grounded(question, answer, [*run.patch_passages, *shown])
        and fits_question(question, answer)
        and query_key(answer) not in {query_key(name.removeprefix("the ")) for name in passed}
    )
    run.emit("node_finished", node="chain", answer=answer, accepted=stands)
    return answer if stands else None


async def _answer_inner(run: _GroundedRun, inner: Inner, read: set[str]) -> str | None:
    """The answer of one inner question ("What is the state where the Atwater Congregational Church
    is?"), read from its own search's best passages (their ids added to `read`); None when it fails the
    checks."""
    asked = inner.question()
    # The fact sits in the named thing's own passage, which a search for the whole inner question can miss
    # ("What is the country containing Nugegoda?" ranks passages about countries): the name is searched
    # alone too, and only passages titled by it are shown when there are any.
    await run.search(inner.name.removeprefix("the "), run.settings.ask_follow_k)
    await run.search(asked, run.settings.ask_follow_k)
    shown = titled_by(inner.name, [*run.found[-2], *run.found[-1]]) or run.found[-1]
    shown = shown[:INNER_SHOWN]
    read.update(p.id for p in shown)
    answer = trim_answer(asked, await run.read_narrow("ask_read_final", shown, asked))
    own = query_key(inner.name.removeprefix("the "))
    found = grounding_passage(answer, shown, slack=1) if answer else None
    if found is None or is_yes_no(answer) or is_number(answer) or query_key(answer) == own:
        run.emit("warning", message="an inner question got no usable answer", question=asked, answer=answer)
        return None
    run.emit("node_finished", node="link", question=asked, answer=answer)
    return answer
