"""The grounded ask strategy: code drives the searches, the model makes narrow JSON choices, code checks them.

A small model cannot keep a free-text search protocol (the ASP tag loop, `ask.py`); it can read
passages and fill a two-field JSON object. So the loop is code:

1. Search the question itself: the evidence is never less than one retrieve-then-read's. A comparison's
   sides are searched by name too: each is a fact of its own.
2. The model reads a few of its hits whole, the two best and the hits they name (`linking`: a bridge
   question's second hop), and replies `{"answer": ..., "next_search": ...}`.
3. A name (not a number, yes/no or one side of a comparison) is the first hop's entity as often as the
   final answer: code searches it together with the question and the model reads again; the new answer is
   taken only if a passage links it to the name (a hop along the chain, not a drift). Any other answer that
   is grounded, of the asked shape and read with both hops in view (a linked pair, or both sides of a
   comparison) stands. Otherwise code runs the follow-up searches (the fact the model says is missing, the
   question with the draft answer) and the model reads again, up to `ask_max_reads` readings, the last one
   asked only for `{"answer": ...}`. A later reading sees a focused few passages (the one holding the draft
   answer, each follow-up's best hits), not the whole pool: a 0.5B reader given the two gold passages
   scores about twice what it scores among distractors.
   A yes/no comparison ("Are A and B in the same province?", "... both P?") is first read one side at
   a time, a narrow question per side (`sides`), and code combines the two answers. A composed question
   ("the spouse of the director of Jaws") is first read inside out (`inside_out`): each inner question
   searched and read on its own, its answer put in its place, the rewritten question searched and read.
4. The answer must be grounded: unless it is yes/no, its content words occur in a pooled passage or a
   user correction's evidence. A guess is replaced by the latest grounded answer, or refused.
"""

from __future__ import annotations

import time
from typing import TypeVar

from pydantic import BaseModel, Field

from sleuth.agents.ask.answer_check import cite, evidence_passages, is_grounded
from sleuth.agents.ask.grounding import (
    asks_yes_no,
    compared_names,
    decide_by_year,
    fits_question,
    follow_up_queries,
    grounding_passage,
    is_number,
    is_yes_no,
    query_key,
    side_passages,
    side_quotes,
    trim_answer,
)
from sleuth.agents.ask.inside_out import read_inside_out
from sleuth.agents.ask.linking import linked_context, names
from sleuth.agents.ask.pool import Pool, listing
from sleuth.agents.ask.sides import Sides, split_sides
from sleuth.agents.deps import AgentDeps
from sleuth.agents.records import SearchCall
from sleuth.agents.results import NO_ANSWER, AskResult, Finish, TrajectoryStep
from sleuth.feedback.render import render_patches
from sleuth.llm.base import GenParams, Message, StructuredOutputError
from sleuth.llm.structured import generate
from sleuth.llm.usage import MeteredModel, UsageLog
from sleuth.retrieval.base import Passage

READ_MAX_TOKENS = 96
Choice = TypeVar("Choice", bound=BaseModel)
FOCUS_TOP = 2
"""Hits of each follow-up search a focused reading shows before the question's own hits."""


class Reading(BaseModel):
    """One reading of the pooled passages: the answer they give, and the fact still missing."""

    answer: str = Field(
        max_length=100,
        description="The shortest answer, copied from the passages: a name, date, number, yes or no. "
        "Empty if the passages do not give it.",
    )
    next_search: str = Field(
        default="",
        max_length=160,
        description="A short search question for the one fact still missing; empty if nothing is missing.",
    )


class FinalReading(BaseModel):
    """The last reading: only the answer (no follow-up can run after it)."""

    answer: str = Field(max_length=100, description="The shortest answer, copied from the passages.")


class _GroundedRun:
    """State of one grounded run; `run_grounded` is its only user."""

    def __init__(self, question: str, deps: AgentDeps) -> None:
        self.question = question
        self.deps = deps
        self.settings = deps.settings
        self.usage = UsageLog()
        self.llm = MeteredModel(deps.llm, self.usage)
        self.pool = Pool(self.settings.ask_pool_size)
        self.searches: list[SearchCall] = []
        self.found: list[list[Passage]] = []
        """Each search's hits in rank order (pooled before or not), for the focused readings."""
        self.readings: list[Reading] = []
        self.narrow_reads = 0
        """Readings of one narrow question each (a comparison's side, a composed question's link), not in
        `readings`."""
        self.shown: list[Passage] = []
        """What the latest reading showed the model."""
        self.trajectory: list[TrajectoryStep] = []
        self.bridged: dict[int, str] = {}
        """Reading number -> the name its searches started from (the previous reading's answer)."""
        self.patches = deps.patches.relevant(question, collection=deps.collection, tenant=deps.tenant)
        # Only a correction with evidence can ground an answer: a blank or evidence-free one must not
        # override what the passages say (it is still shown to the model, flagged as unverified).
        self.patch_passages = evidence_passages(self.patches)

    def emit(self, type_: str, node: str = "ask", **data: object) -> None:
        self.deps.events.emit(type_, node, **data)  # type: ignore[arg-type]  # EventType names are passed

    async def search(self, query: str, k: int, *, pool: int | None = None) -> int:
        """Retrieve `k` hits for `query` and pool up to `pool` (default `k`) new ones; returns how many were new."""
        hits = await self.deps.search(query, k)
        self.emit("search", query=query, k=k, hits=len(hits), hit_ids=[h.passage.id for h in hits])
        self.searches.append(SearchCall(query=query, k=k, hit_ids=[h.passage.id for h in hits]))
        self.found.append([h.passage for h in hits])
        return self.pool.add([h.passage for h in hits], take=k if pool is None else pool)

    async def first_context(self) -> list[Passage]:
        """Search the question itself; pool and return what the first reading shows (the best hits and the
        hits they name, `linking.linked_context`), then pool the next best hits as further evidence."""
        settings = self.settings
        await self.search(self.question, max(settings.ask_link_depth, settings.ask_first_k), pool=0)
        hits = list(self.found[0])
        for side in compared_names(self.question):
            # Each side of a comparison is a fact of its own: searched by its name, so its passage is read
            # even when the question's wording favours the other side.
            await self.search(side, settings.ask_follow_k, pool=0)
            seen = {h.id for h in hits}
            hits += [p for p in self.found[-1] if p.id not in seen]
        shown = linked_context(self.question, hits, settings.ask_read_size)
        self.pool.add(shown, take=len(shown))
        self.pool.add(self.found[0], take=max(0, settings.ask_first_k - len(shown)))
        return shown

    def focus(self, draft: str, first: list[Passage]) -> list[Passage]:
        """What a later reading shows: the passage holding the draft answer (the bridge a second hop
        starts from), each follow-up search's best hits, then what the first reading showed, at most
        `ask_focus_size`, in the order they were pooled. The whole pool when the size is 0."""
        size = self.settings.ask_focus_size
        pooled = self.pool.passages
        if not size or len(pooled) <= size:
            return list(pooled)
        ids = {p.id for p in pooled}
        anchor = grounding_passage(draft, pooled, slack=1) if draft and not is_yes_no(draft) else None
        follow_ups = self.found[1:]
        ranked = [anchor] if anchor else []
        ranked += [hits[rank] for rank in range(FOCUS_TOP) for hits in follow_ups if rank < len(hits)]
        ranked += [*first, *self.found[0], *(p for hits in follow_ups for p in hits[FOCUS_TOP:])]
        chosen: list[str] = []
        for passage in ranked:
            if passage.id in ids and passage.id not in chosen and len(chosen) < size:
                chosen.append(passage.id)
        return [p for p in pooled if p.id in chosen]

    def user_prompt(self, role: str, passages: list[Passage], question: str = "") -> str:
        # Corrections and passages first, the question and the instruction last, so the server reuses
        # the cached system prompt and corrections across readings.
        block = render_patches(self.patches)
        head = f"{block}\n\n" if block else ""
        instruction = self.deps.prompts.get(role).strip()
        shown = listing(passages) or "(none)"
        return f"{head}Passages:\n{shown}\n\nQuestion: {question or self.question}\n\n{instruction}"

    async def ask_json(self, user: str, schema: type[Choice], max_tokens: int = READ_MAX_TOKENS) -> Choice | None:
        """One schema-constrained call under the shared system prompt, kept in the trajectory; an invalid
        reply is logged and gives None."""
        messages: list[Message] = [
            {"role": "system", "content": self.deps.prompts["ask_read"]},
            {"role": "user", "content": user},
        ]
        params = GenParams(temperature=0.0, max_tokens=min(max_tokens, self.settings.llm_max_tokens))
        reply: Choice | None = None
        try:
            reply = await generate(self.llm, messages, schema, agent="ask", params=params)
        except StructuredOutputError as exc:
            self.usage.add_error("ask", str(exc), exc.raw_outputs)
        self.trajectory += [
            TrajectoryStep(role="user", content=user),
            TrajectoryStep(role="assistant", content=reply.model_dump_json() if reply else "(invalid reply)"),
        ]
        return reply

    async def read(self, passages: list[Passage], *, final: bool = False) -> Reading:
        """One reading of `passages`; an invalid reply counts as "nothing found" (and is logged)."""
        self.emit("node_started", node="reader", passages=len(passages), passage_ids=[p.id for p in passages])
        self.shown = passages
        reply = await self.ask_json(
            self.user_prompt("ask_read_final" if final else "ask_read_next", passages),
            FinalReading if final else Reading,
        )
        if reply is None:
            self.emit("warning", message="the reading was not valid JSON; taken as nothing found")
        answer, next_search = getattr(reply, "answer", ""), getattr(reply, "next_search", "")
        reading = Reading(answer=" ".join(answer.split()), next_search=" ".join(next_search.split()))
        self.readings.append(reading)
        self.emit("node_finished", node="reader", answer=reading.answer, next_search=reading.next_search)
        return reading

    def grounded(self, answer: str) -> bool:
        """Yes/no to a yes/no question, or an answer whose words are in a pooled passage or correction."""
        return is_grounded(self.question, answer, [*self.patch_passages, *self.pool.passages])

    async def read_narrow(self, role: str, passages: list[Passage], question: str) -> str:
        """The answer to one narrow question about `passages` ("" when the reply is invalid or empty)."""
        self.narrow_reads += 1
        reply = await self.ask_json(self.user_prompt(role, passages, question), FinalReading)
        return " ".join(reply.answer.split()) if reply else ""

    async def read_sides(self, sides: Sides) -> str | None:
        """A yes/no comparison answered one side at a time: each side's own passage read for the narrow
        question about it (`sides.Sides`), the two answers combined in code. None when a side has no
        passage, or its answer is empty or in no passage of its own: the whole question is read instead."""
        answers: list[str] = []
        for side, passage in enumerate(side_passages(self.question, self.pool.passages)):
            if passage is None:
                return None
            answer = await self.read_narrow("ask_read_side", [passage], sides.question(side))
            if not (is_yes_no(answer) or grounding_passage(answer, [passage], slack=1)):
                return None
            answers.append(answer)
        decided = sides.combine((answers[0], answers[1]))
        if decided:
            self.emit(
                "node_finished", node="decide", answer=decided, reason="each side read on its own", sides=answers
            )
        return decided

    async def loop(self) -> str:
        """Search, read, search the follow-ups, read again; returns the accepted answer or ""."""
        first = await self.first_context()
        sides = split_sides(self.question)
        decided = await self.read_sides(sides) if sides else await read_inside_out(self)
        if decided:
            return decided
        reading = await self.read(first)
        while len(self.readings) < self.settings.ask_max_reads and not self.settled(reading):
            asked = [s.query for s in self.searches]
            if self.bridges(reading.answer):
                self.bridged[len(self.readings)] = reading.answer
                hop = f"{reading.answer} {self.question}"
                queries = [] if query_key(hop) in {query_key(q) for q in asked} else [hop]
            else:
                queries = follow_up_queries(self.question, reading.answer, reading.next_search, asked)
            new = 0
            for query in queries:
                new += await self.search(query, self.settings.ask_follow_k)
            if not new:
                break  # nothing new to read: another reading would say the same
            final = len(self.readings) + 1 == self.settings.ask_max_reads
            reading = await self.read(self.focus(reading.answer, first), final=final)
            if not reading.next_search and self.grounded(reading.answer):
                break
        return self.choose()

    def settled(self, reading: Reading) -> bool:
        """Whether a reading's answer stands without another hop: grounded, of the shape the question asks
        for, and read with both hops in view: for a comparison, a passage about each side in the pool;
        otherwise a passage shown beside one its text names (a linked pair, `linking.names`).

        The model names a "missing fact" after nearly every reading, so that is no signal. A reading over a
        linked pair already holds both hops of most bridge questions, and a later one, shown passages from
        noisier follow-up searches, changed such answers for the worse as often as for the better
        (docs/architecture.md) at twice the time. With no link in view ("founded in Brno by Marta Lenkova",
        and no passage about her), the founder's birthplace is still to be searched for.
        """
        if not (self.grounded(reading.answer) and fits_question(self.question, reading.answer)):
            return False
        if compared_names(self.question):
            return None not in side_passages(self.question, self.pool.passages)
        if self.bridges(reading.answer):
            return False
        return any(names(a, b) for a in self.shown for b in self.shown if a.id != b.id)

    def bridges(self, answer: str) -> bool:
        """Whether a grounded answer is a name the next hop starts from: a name (no number, no yes/no) of
        the asked shape, to a question that is no comparison and no yes/no question.

        Such a first answer is as often the first hop's entity (the country Baure lies in, when the question
        asks what that country is named after) as the final answer, and code cannot tell which; so the name
        is searched together with the question and read again, and `choose` takes the new answer only when a
        passage links it to the name (a hop beyond it)."""
        return bool(
            self.grounded(answer)
            and fits_question(self.question, answer)
            and not is_number(answer)
            and not is_yes_no(answer)
            and not asks_yes_no(self.question)
            and not compared_names(self.question)
        )

    def choose(self) -> str:
        """The answer: a comparison by time decided from its two quotes' years; else the latest grounded
        answer of the shape the question asks for; else the latest grounded one; else "" (refused). The
        answer type the question names is cut off its front (`trim_answer`).

        A later reading has seen more evidence, but a small model sometimes answers it with the wrong line
        of a passage (a year for "which company"), so an earlier answer of the right shape wins over it; and
        a reading searched from a name counts only if its answer is that name or a hop beyond it (`hop_from`).
        """
        grounded = []
        for number in reversed(range(len(self.readings))):
            candidate = self.readings[number]
            start = self.bridged.get(number)
            if start and candidate.answer and not self.hop_from(start, candidate.answer):
                self.emit(
                    "warning",
                    message="answer not linked to the name it was searched from",
                    answer=candidate.answer,
                )
            elif self.grounded(candidate.answer):
                grounded.append(candidate.answer)
            elif candidate.answer:
                self.emit(
                    "warning", message="answer found in no passage: rejected as a guess", answer=candidate.answer
                )
        decided = decide_by_year(self.question, side_quotes(self.question, self.pool.passages))
        if decided:
            self.emit("node_finished", node="decide", answer=decided, reason="the years in the two quotes")
            return decided
        fitting = [a for a in grounded if fits_question(self.question, a)]
        if grounded and not fitting:
            self.emit("warning", message="no answer has the shape the question asks for", answer=grounded[0])
        return trim_answer(self.question, (fitting or grounded or [""])[0])

    def hop_from(self, start: str, answer: str) -> bool:
        """Whether `answer` is `start` again or a hop beyond it: a pooled passage holds both names."""
        if query_key(answer) == query_key(start):
            return True
        pooled = [*self.patch_passages, *self.pool.passages]
        return any(grounding_passage(start, [p]) and grounding_passage(answer, [p], slack=1) for p in pooled)


async def run_grounded(question: str, deps: AgentDeps) -> AskResult:
    """Answer in a few words with code-driven searches and schema-constrained readings.

    Args:
        question: the user's question.
        deps: model, retriever, prompts (roles `ask_read`, `ask_read_next`, `ask_read_final`, `ask_read_side`), patches, settings, events.

    Returns:
        The answer (or "No answer found." when every candidate was a guess), its citations, the searches,
        the readings as a trajectory, patches used and usage.
    """
    question = question.strip()
    if not question:
        raise ValueError("the question is empty")
    started = time.perf_counter()
    first_event = len(deps.events.events)
    run = _GroundedRun(question, deps)
    run.emit("node_started", strategy="grounded", question=question)
    if run.patches:
        run.emit("patches", ids=[p.id for p in run.patches])
    answer = await run.loop()
    finish: Finish = "answer" if answer else "refused"
    citations = cite(question, answer, [*run.patch_passages, *run.pool.passages]) if answer else []
    answer = answer or NO_ANSWER
    run.emit("answer", answer=answer, citations=[c.passage_id for c in citations], finish=finish)
    run.emit("node_finished", turns=len(run.readings) + run.narrow_reads, searches=len(run.searches))
    run.usage.write_errors(deps.settings.run_log_path, node="ask", question=question)
    return AskResult(
        question=question,
        answer=answer,
        citations=citations,
        search_calls=run.searches,
        turns=len(run.readings) + run.narrow_reads,
        finish=finish,
        trajectory=run.trajectory,
        patches_used=[p.id for p in run.patches],
        prompt_set_hash=deps.prompts.hash,
        strategy="grounded",
        usage=run.usage.by_agent(deps.prices),
        events=list(deps.events.events[first_event:]),
        latency_s=round(time.perf_counter() - started, 3),
    )
