"""The ASP short-answer agent: think, `<search>`, read a summary in `<information>`, `<answer>` (arXiv 2604.04651).

The loop is plain async code, not a graph: one conversation with the model, at most `ask_max_turns`
actions, then a "time is up" turn. The always-search policy is enforced here, not only in the prompt:
in the `always` variant an answer before the first search is rejected and the model is sent to search, and
an answer no retrieved passage (or correction's evidence) holds is refused as a guess.
"""

from __future__ import annotations

import time
from importlib import resources

import yaml
from pydantic import BaseModel, Field

from sleuth.agents.ask.answer_check import evidence_passages, is_grounded
from sleuth.agents.ask.parse import (
    ANSWER_STOPS,
    NO_INFO,
    Action,
    UsedSearch,
    choose_citations,
    number_sentences,
    parse_action,
    picked_summary,
    short_answer,
    untagged_answer,
)
from sleuth.agents.deps import AgentDeps
from sleuth.agents.events import EventType
from sleuth.agents.records import Citation, SearchCall
from sleuth.agents.results import NO_ANSWER, AskResult, Finish, TrajectoryStep
from sleuth.feedback.base import PatchView
from sleuth.llm.base import GenParams, Message, StructuredOutputError
from sleuth.llm.structured import generate
from sleuth.llm.usage import MeteredModel, UsageLog
from sleuth.names import VARIANTS, Variant
from sleuth.retrieval.base import Hit, Passage
from sleuth.text import inline_text

RESAMPLE_TRIES = 2
"""Extra attempts when a turn has no usable tag, before the loop falls back."""
ASK_MAX_TOKENS = 160
SUMMARY_MAX_TOKENS = 120
RESAMPLE_TEMPERATURE = 0.7
"""Re-asking at temperature 0 would return the same tagless reply."""

NUDGES = (
    "ask_nudge_no_tag",
    "ask_nudge_search_first",
    "ask_nudge_repeated",
    "ask_nudge_not_an_answer",
    "ask_time_is_up",
)
"""What the loop says back to a turn it cannot use, and when the turns are spent: prompt roles, so an
optimizer can tune them like any prompt."""
# The closed-book comparison variant has no search engine; its two texts are fixed like its prompt.
TIME_IS_UP_CLOSED = "Time is up. Write <answer>, then your answer in a few words, then </answer>."
NUDGE_NO_SEARCH = "There is no search engine. Write <answer>, then your answer in a few words, then </answer>."
# Said last in the question message: a small model follows the most recent instruction best. The
# `always` variant reads its reminder from the prompt set (role `ask_reminder`) so optimizers can tune it.
FORMAT_REMINDER: dict[str, str] = {
    "free": "Write <answer>, the answer, </answer> if you are sure; else write <search>, a full question, </search>.",
    "closed": "Write <answer>, then the answer in a few words, then </answer>.",
}


def load_ask_variant(variant: Variant) -> str:
    """The shipped `ask` prompt text of a comparison variant (`free` or `closed`)."""
    if variant not in ("free", "closed"):
        raise ValueError(f"no prompt file for ask variant {variant!r}; use 'free' or 'closed'")
    text = resources.files("sleuth.prompts").joinpath("variants", f"ask_{variant}.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise ValueError(f"variants/ask_{variant}.yaml needs a string field 'text'")
    return data["text"]


def _render_patches(patches: list[PatchView]) -> str:
    from sleuth.feedback.render import render_patches

    return render_patches(patches)


def _is_non_answer(text: str) -> bool:
    """An "answer" that only says nothing was found (a small model copies the summariser's phrase)."""
    key = " ".join(text.lower().strip(" .!").split())
    return key in {NO_INFO.lower().rstrip("."), NO_ANSWER.lower().rstrip("."), "unknown", "i don't know"}


def _same_query(query: str, earlier: list[str]) -> bool:
    def key(text: str) -> str:
        return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())

    return key(query) in {key(q) for q in earlier} or key(query) == key(NO_INFO)


class SummaryPicks(BaseModel):
    """The summariser's choice: the numbers of the sentences that answer the search query."""

    sentences: list[int] = Field(max_length=3, description="1 to 3 sentence numbers; [] when none helps.")


class _AskRun:
    """State of one run; `run_ask` is its only user."""

    def __init__(self, question: str, deps: AgentDeps, variant: Variant, max_turns: int) -> None:
        self.question = question
        self.deps = deps
        self.variant = variant
        self.max_turns = max_turns
        self.usage = UsageLog()
        self.llm = MeteredModel(deps.llm, self.usage)
        self.k = deps.settings.search_k
        self.searches: list[SearchCall] = []
        self.used: list[UsedSearch] = []
        self.turns = 0
        self.last_reply = ""
        """The latest raw model turn; an untagged one may still be the answer (see `untagged_answer`)."""
        self.evidence: list[Passage] = []
        """The corrections shown whose evidence may ground an answer (`open` fills it)."""
        if variant == "always":
            ask_prompt, self.reminder = deps.prompts["ask"], deps.prompts["ask_reminder"]
            self.followup = deps.prompts.get("ask_followup").strip()
        else:
            ask_prompt, self.reminder, self.followup = load_ask_variant(variant), FORMAT_REMINDER[variant], ""
        self.nudge = {role: deps.prompts[role] for role in NUDGES}
        self.prompt_set = deps.prompts.with_prompts({"ask": ask_prompt})
        self.messages: list[Message] = [{"role": "system", "content": ask_prompt}]

    def emit(self, type_: EventType, node: str = "ask", **data: object) -> None:
        self.deps.events.emit(type_, node, **data)

    def open(self) -> list[str]:
        """Put the question (and any user corrections, as quoted data) in the conversation."""
        patches: list[PatchView] = []
        if self.variant != "closed":  # closed book means no outside knowledge, corrections included
            patches = self.deps.patches.relevant(
                self.question, collection=self.deps.collection, tenant=self.deps.tenant
            )
        self.evidence = evidence_passages(patches)
        block = _render_patches(patches) if patches else ""
        if patches:
            self.emit("patches", ids=[p.id for p in patches])
        user = f"Question: {self.question}\n\n{self.reminder.strip()}"
        user = f"{block}\n\n{user}" if block else user
        self.messages.append({"role": "user", "content": user})
        return [p.id for p in patches]

    async def next_action(self, extra: list[Message] | None = None) -> Action | None:
        """One model turn, re-sampled with a reminder when it has no tag (at most RESAMPLE_TRIES times)."""
        messages = self.messages + (extra or [])
        params = GenParams(
            temperature=self.deps.settings.llm_temperature,
            max_tokens=min(ASK_MAX_TOKENS, self.deps.settings.llm_max_tokens),
            stop=ANSWER_STOPS,
        )
        for attempt in range(RESAMPLE_TRIES + 1):
            reply = await self.llm.complete(messages, params=params, agent="ask")
            self.last_reply = reply.text
            action = parse_action(reply.text)
            if action is not None:
                return action
            self.emit(
                "warning",
                message="no <search> or <answer> tag; re-asking",
                attempt=attempt + 1,
                reply=reply.text[:200],
            )
            messages = [
                *self.messages,
                *(extra or []),
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": self.nudge["ask_nudge_no_tag"]},
            ]
            params = GenParams(temperature=RESAMPLE_TEMPERATURE, max_tokens=params.max_tokens, stop=ANSWER_STOPS)
        return None

    async def search(self, query: str, thought: str = "") -> None:
        """Retrieve, summarise, and hand the summary back to the model as `<information>`."""
        self.turns += 1
        hits = await self.deps.search(query, self.k)
        self.emit("search", query=query, k=self.k, hit_ids=[h.passage.id for h in hits])
        summary = await self.summarise(query, hits) if hits else NO_INFO
        self.searches.append(
            SearchCall(query=query, k=self.k, hit_ids=[h.passage.id for h in hits], summary=summary)
        )
        self.used.append(UsedSearch(tuple(hits), summary))
        self.messages.append({"role": "assistant", "content": Action("search", query, thought).as_message()})
        # The follow-up cue (role `ask_followup`) comes after the result: the step a small model skips is
        # the second search, and it reads the last instruction best.
        # Passage text inside the block: made one line with its tags defused, so it cannot close the block.
        information = f"<information>{inline_text(summary)}</information>"
        self.messages.append(
            {"role": "user", "content": f"{information}\n\n{self.followup}" if self.followup else information}
        )

    async def summarise(self, query: str, hits: list[Hit]) -> str:
        """Condense the hits into 1-3 sentences copied from them, or `NO_INFO`.

        The model picks sentence numbers under a JSON schema and code copies the sentences: a 0.5B model
        asked to write the summary itself mostly answered "No helpful information found." even when the
        answer was in the first passage, and what it did write could drift from the passage text.
        """
        self.emit("node_started", node="summarizer", query=query)
        listing, numbered = number_sentences(hits)
        messages: list[Message] = [
            {"role": "system", "content": self.deps.prompts["summarizer"]},
            {
                "role": "user",
                "content": f"Question: {self.question}\nSearch query: {query}\n\nSentences:\n{listing}",
            },
        ]
        params = GenParams(temperature=0.0, max_tokens=min(SUMMARY_MAX_TOKENS, self.deps.settings.llm_max_tokens))
        try:
            picks = await generate(self.llm, messages, SummaryPicks, agent="summarizer", params=params)
            summary = picked_summary(numbered, picks.sentences)
        except StructuredOutputError as exc:
            self.usage.add_error("summarizer", str(exc), exc.raw_outputs)
            self.emit("warning", node="summarizer", message="summariser output was not valid JSON")
            summary = NO_INFO
        self.emit("node_finished", node="summarizer", summary=summary)
        return summary

    async def loop(self) -> tuple[str, Finish]:
        """Search/answer turns until an accepted answer or the turn limit."""
        rejected: list[Message] = []  # the last rejected turn and its reminder, shown once
        while self.turns < self.max_turns:
            action = await self.next_action(rejected)
            rejected = []
            if action is None:
                if self.variant == "always" and not self.searches:
                    # Never answer without a search: fall back to searching the question itself.
                    self.emit("warning", message="model gave no usable tag; searching the question itself")
                    await self.search(self.question)
                    continue
                answer = untagged_answer(self.last_reply)
                if answer and not _is_non_answer(answer):
                    # A small model often answers in a plain sentence despite the reminders: keep its words.
                    self.emit(
                        "warning", message="answer taken from a reply without tags", reply=self.last_reply[:200]
                    )
                    self.messages.append({"role": "assistant", "content": f"<answer>{answer}</answer>"})
                    return answer, "untagged"
                break
            if action.kind == "search" and self.variant != "closed":
                if _same_query(action.text, [s.query for s in self.searches]):
                    # Searching again would return the same summary; spend the turn on a hint instead.
                    self.turns += 1
                    rejected = [
                        {"role": "assistant", "content": action.as_message()},
                        {"role": "user", "content": self.nudge["ask_nudge_repeated"]},
                    ]
                    continue
                await self.search(action.text, action.thought)
                continue
            self.turns += 1
            if action.kind == "search":  # closed book: there is nothing to search
                rejected = [
                    {"role": "assistant", "content": action.as_message()},
                    {"role": "user", "content": NUDGE_NO_SEARCH},
                ]
                continue
            if self.variant == "always" and not self.searches:
                self.emit("warning", message="answer before any search rejected", answer=action.text)
                rejected = [
                    {"role": "assistant", "content": action.as_message()},
                    {"role": "user", "content": self.nudge["ask_nudge_search_first"]},
                ]
                continue
            if _is_non_answer(action.text) and self.variant != "closed" and self.turns < self.max_turns:
                rejected = [
                    {"role": "assistant", "content": action.as_message()},
                    {"role": "user", "content": self.nudge["ask_nudge_not_an_answer"]},
                ]
                continue
            self.messages.append({"role": "assistant", "content": action.as_message()})
            return short_answer(action.text), "answer"
        return await self.time_is_up()

    async def time_is_up(self) -> tuple[str, Finish]:
        if self.variant == "always" and not self.searches:
            await self.search(self.question)
        self.messages.append(
            {
                "role": "user",
                "content": TIME_IS_UP_CLOSED if self.variant == "closed" else self.nudge["ask_time_is_up"],
            }
        )
        self.turns += 1
        extra: list[Message] = []
        for _ in range(RESAMPLE_TRIES):
            action = await self.next_action(extra)
            if action is None:
                break
            if action.kind == "answer":
                self.messages.append({"role": "assistant", "content": action.as_message()})
                return short_answer(action.text), "time_up"
            extra = [
                {"role": "assistant", "content": action.as_message()},
                {"role": "user", "content": self.nudge["ask_time_is_up"]},
            ]
        answer = untagged_answer(self.last_reply) if action is None else ""
        if answer:
            # A small model often answers in a plain sentence despite the reminders: keep its words, marked.
            self.emit("warning", message="answer taken from a reply without tags", reply=self.last_reply[:200])
            self.messages.append({"role": "assistant", "content": f"<answer>{answer}</answer>"})
            return answer, "untagged"
        self.emit("warning", message="no answer on the time-is-up turn")
        return NO_ANSWER, "fallback"


async def run_ask(
    question: str,
    deps: AgentDeps,
    *,
    variant: Variant = "always",
    max_turns: int | None = None,
) -> AskResult:
    """Answer a question in a few words by searching the collection (ASP loop).

    Args:
        question: the user's question.
        deps: model, retriever, prompts (roles `ask`, `ask_reminder`, `ask_followup`, `summarizer`), patches,
            settings, event sink.
        variant: `always` (search before any answer, enforced), `free` (search only when needed) or
            `closed` (closed book, no retrieval); the last two read their prompt from `variants/`.
        max_turns: search/answer actions before the time-is-up turn (default `settings.ask_max_turns`).

    Returns:
        The answer with citations, searches, turns, trajectory, patches used and per-agent usage.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown ask variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if not question.strip():
        raise ValueError("the question is empty")
    started = time.perf_counter()
    first_event = len(deps.events.events)
    run = _AskRun(question.strip(), deps, variant, deps.settings.ask_max_turns if max_turns is None else max_turns)
    run.emit("node_started", variant=variant, question=run.question)
    patch_ids = run.open()
    answer, finish = await run.loop()
    retrieved = [hit.passage for used in run.used for hit in used.hits]
    if (
        variant == "always"
        and finish != "fallback"
        and not is_grounded(run.question, answer, [*run.evidence, *retrieved])
    ):
        run.emit("warning", message="answer found in no passage: refused as a guess", answer=answer)
        answer, finish = NO_ANSWER, "refused"
    citations = (
        []
        if finish in ("fallback", "refused")
        else [Citation.of(p, q, n) for n, (p, q) in enumerate(choose_citations(answer, run.used), start=1)]
    )
    run.emit("answer", answer=answer, citations=[c.passage_id for c in citations], finish=finish)
    run.emit("node_finished", turns=run.turns, searches=len(run.searches))
    run.usage.write_errors(deps.settings.run_log_path, node="ask", question=question)
    return AskResult(
        question=run.question,
        answer=answer,
        citations=citations,
        search_calls=run.searches,
        turns=run.turns,
        finish=finish,
        trajectory=[TrajectoryStep(role=m["role"], content=m["content"]) for m in run.messages],
        patches_used=patch_ids,
        prompt_set_hash=run.prompt_set.hash,
        variant=variant,
        usage=run.usage.by_agent(deps.prices),
        events=list(deps.events.events[first_event:]),
        latency_s=round(time.perf_counter() - started, 3),
    )
