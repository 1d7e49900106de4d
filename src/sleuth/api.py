"""The Python API: `Sleuth`, one object that runs research and ask over a collection with a model."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sleuth.agents.deps import AgentDeps
from sleuth.agents.events import Event, EventLog, streamed
from sleuth.agents.research.report import ReportOptions
from sleuth.agents.results import ResearchReport
from sleuth.config import Settings
from sleuth.feedback.base import NoPatches, PatchSource
from sleuth.llm.base import ChatModel
from sleuth.llm.pricing import PriceTable, load_prices
from sleuth.names import Strategy, Variant, WebMode
from sleuth.prompts.sets import PromptSet, load_prompt_set
from sleuth.retrieval.base import Filter, Hit, Lookup, Retriever, retriever_override
from sleuth.retrieval.opened import OpenedCollections, SearchMode
from sleuth.tracing import record_hits, search_span, setup_tracing

if TYPE_CHECKING:
    from sleuth.agents.results import AskResult
    from sleuth.retrieval.base import Embedder
    from sleuth.retrieval.web.pages import RunPages
    from sleuth.retrieval.worker import WorkerLink


PromptsArg = PromptSet | str | Path | None
"""A prompt set, the name of a built-in one (`defaults`, `minimal`) or a directory of `<role>.yaml`."""


class Sleuth:
    """Deep research and short answers over one collection, with injectable parts.

    Everything the agents use can be passed in (tests pass `ScriptedLLM` and `StaticRetriever`); what is
    not passed is built from `settings` when first needed (the collection's hybrid retriever).
    `Sleuth.open(settings)` also connects the real LLM and the patch store.

    Args:
        settings: limits and defaults; `Settings()` when omitted.
        llm: the chat model (required to run anything; `Sleuth.open` connects one).
        retriever: the retriever of the default collection; opened from the index when omitted.
        patches: user corrections (PatchRAG); none by default.
        prompts: the prompt set (default: the built-in `defaults`).
        lookup: passage id -> passage, to verify citations of passages outside a run's hits.
        collection: the default collection (default: `settings.collection`).
        tenant: whose patches apply.
        checkpoints: `sqlite` keeps every run resumable under `SLEUTH_HOME/runs`; `memory` for this
            object's lifetime only.
        prices: what calls cost per model; default: the shipped table with `SLEUTH_PRICES_PATH` over it.
        worker: the warm worker to search and embed through when it answers (the CLI's); default: in-process.

    Raises:
        PriceError: the price table at `SLEUTH_PRICES_PATH` cannot be read.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        llm: ChatModel | None = None,
        retriever: Retriever | None = None,
        patches: PatchSource | None = None,
        prompts: PromptsArg = None,
        lookup: Lookup | None = None,
        collection: str | None = None,
        tenant: str | None = None,
        checkpoints: Literal["sqlite", "memory"] = "sqlite",
        prices: PriceTable | None = None,
        worker: WorkerLink | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.prices = prices if prices is not None else load_prices(self.settings.prices_path)
        self.llm = llm
        self.patches: PatchSource = patches or NoPatches()
        self.prompts = _prompt_set(prompts) if prompts is not None else load_prompt_set()
        self.collection = collection or self.settings.collection
        self.tenant = tenant
        self.checkpoints = checkpoints
        self.worker = worker
        self._injected: dict[str, tuple[Retriever, Lookup | None]] = {}
        if retriever is not None:
            self._injected[self.collection] = (retriever, lookup)
        self._opened = OpenedCollections(self.settings, worker, lambda: _lazy_embedder(worker))
        # The in-memory checkpoint store lives in a dict so that shallow copies (the server's view of the
        # facade per tenant) share it: a run paused in one job must be found when another job resumes it.
        self._memory_savers: dict[str, Any] = {}

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings | None = None,
        *,
        collection: str | None = None,
        prompts: PromptsArg = None,
        tenant: str | None = None,
        worker: bool | WorkerLink = False,
    ) -> AsyncIterator[Sleuth]:
        """A `Sleuth` on the configured LLM (`sleuth.llm.connect`: a URL or the embedded model), the
        collection's retriever and the patch store when one exists; all closed when the block ends. Tracing
        is set up for the process as `SLEUTH_TRACING` says (once). With `worker`, searches and embeddings go
        through the warm worker as `SLEUTH_WORKER` says (`sleuth.retrieval.worker`), or through the link
        given."""
        from sleuth.llm import connect
        from sleuth.retrieval.worker import WorkerLink

        settings = settings or Settings()
        setup_tracing(settings)
        prices = load_prices(settings.prices_path)  # a bad price file fails before any model starts
        async with AsyncExitStack() as stack:
            llm = await stack.enter_async_context(connect(settings))
            link = worker if isinstance(worker, WorkerLink) else WorkerLink(settings) if worker else None
            patches = _open_patch_store(settings, stack, _lazy_embedder(link))
            sleuth = cls(
                settings,
                llm=llm,
                patches=patches,
                prompts=prompts,
                collection=collection,
                tenant=tenant,
                prices=prices,
                worker=link,
            )
            stack.callback(sleuth.close)
            yield sleuth

    # --- deep research -------------------------------------------------------------------------------
    async def research(
        self,
        question: str,
        *,
        collection: str | None = None,
        prompts: PromptsArg = None,
        run_id: str | None = None,
        max_rounds: int | None = None,
        events: EventLog | None = None,
        options: ReportOptions | None = None,
        follow_up: str | None = None,
        web: WebMode | None = None,
    ) -> ResearchReport:
        """Plan, search, read, aggregate and write a cited answer or, with `options.form="report"`, a sectioned
        report (see ARCHITECTURE.md §3). `follow_up` names an earlier run whose evidence this one starts from.
        `web` picks the sources: the collection (`off`), the web (`web`) or both (`mixed`); default: settings.

        Raises:
            ValueError: the question is empty, or the web is asked for and no search provider is configured.
            UnknownRunError: `follow_up` names no stored run.
        """
        if not question.strip():
            raise ValueError("the question is empty")
        from sleuth.agents.research.run import new_run_id, run_research
        from sleuth.retrieval.web.sources import run_pages, web_mode

        run_id = run_id or new_run_id()
        with run_pages(self.settings, run_id, web_mode(self.settings, web)) as pages:
            deps = self._deps(collection, prompts, events, pages)
            async with self._checkpointer() as saver:
                return await run_research(
                    question.strip(),
                    deps,
                    run_id=run_id,
                    checkpointer=saver,
                    max_rounds=max_rounds,
                    options=options,
                    follow_up=follow_up,
                )

    async def resume(
        self,
        run_id: str,
        *,
        prompts: PromptsArg = None,
        events: EventLog | None = None,
        approve: bool = False,
        plan: dict[str, Any] | None = None,
        web: WebMode | None = None,
    ) -> ResearchReport:
        """Continue an interrupted run from its last checkpoint (finished steps are not redone). A report
        paused for approval runs on with `approve` (the drafted plan, or `plan` when given); without it,
        it stays paused. The run searches the sources it started with (its pages read from the web kept),
        unless `web` names others.

        Raises:
            UnknownRunError: no run with that id was checkpointed.
            PlanError: `plan` is not a valid plan.
        """
        from sleuth.agents.research.run import UnknownRunError, run_research, stored_run
        from sleuth.retrieval.web.sources import run_pages, web_mode

        async with self._checkpointer() as saver:
            stored = await stored_run(run_id, saver)
            if stored is None:
                raise UnknownRunError(f"no run {run_id!r} in the checkpoint store")
            with run_pages(self.settings, run_id, web_mode(self.settings, web) if web else None) as pages:
                deps = self._deps(stored.get("collection"), prompts, events, pages)
                return await run_research(
                    None, deps, run_id=run_id, checkpointer=saver, approve=approve, plan=plan
                )

    async def research_stream(
        self,
        question: str | None = None,
        *,
        collection: str | None = None,
        prompts: PromptsArg = None,
        run_id: str | None = None,
        max_rounds: int | None = None,
        resume: bool = False,
        options: ReportOptions | None = None,
        follow_up: str | None = None,
        approve: bool = False,
        plan: dict[str, Any] | None = None,
        web: WebMode | None = None,
    ) -> AsyncIterator[Event | ResearchReport]:
        """Yield the run's events as they happen, then its `ResearchReport` as the last item.

        With `resume=True` the run `run_id` is continued instead of starting a new one (`approve`, `plan` and
        `web` as in `resume`).
        """
        if resume and not run_id:
            raise ValueError("resume needs a run_id")

        def run(events: EventLog) -> Coroutine[Any, Any, ResearchReport]:
            if resume and run_id:
                return self.resume(run_id, prompts=prompts, events=events, approve=approve, plan=plan, web=web)
            return self.research(
                question or "",
                collection=collection,
                prompts=prompts,
                run_id=run_id,
                max_rounds=max_rounds,
                events=events,
                options=options,
                follow_up=follow_up,
                web=web,
            )

        async for item in streamed(run):
            yield item

    # --- short answers -------------------------------------------------------------------------------
    async def ask(
        self,
        question: str,
        *,
        collection: str | None = None,
        prompts: PromptsArg = None,
        strategy: Strategy | None = None,
        variant: Variant = "always",
        events: EventLog | None = None,
        web: WebMode | None = None,
    ) -> AskResult:
        """A short answer: the grounded strategy (default, `settings.ask_strategy`) or the ASP tag loop,
        whose `variant` picks always-search, free-search or closed-book; `web` as in `research` (the pages
        read are dropped after the answer)."""
        from sleuth.agents.ask.short_answer import ask_short
        from sleuth.retrieval.web.sources import run_pages, web_mode

        with run_pages(self.settings, None, web_mode(self.settings, web)) as pages:
            deps = self._deps(collection, prompts, events, pages)
            return await ask_short(question, deps, strategy=strategy, variant=variant)

    # --- plumbing ------------------------------------------------------------------------------------
    def _deps(
        self, collection: str | None, prompts: PromptsArg, events: EventLog | None, pages: RunPages | None = None
    ) -> AgentDeps:
        if self.llm is None:
            raise ValueError("Sleuth has no LLM: pass llm=... or use `async with Sleuth.open(settings)`")
        name = collection or self.collection
        events = events or EventLog()
        retriever, lookup = self._sources(name, pages, events)
        return AgentDeps(
            llm=self.llm,
            retriever=retriever,
            settings=self.settings,
            patches=self.patches,
            prompts=_prompt_set(prompts) if prompts is not None else self.prompts,
            lookup=lookup,
            events=events,
            collection=name,
            tenant=self.tenant,
            prices=self.prices,
        )

    def _sources(self, name: str, pages: RunPages | None, events: EventLog) -> tuple[Retriever, Lookup | None]:
        """A run's retriever: the collection's, or the web's over the run's `pages` (fused with the collection's
        in mixed mode); pages skipped and failed web searches become the run's warning events."""
        if pages is None:
            return self.retriever(name)
        from sleuth.retrieval.web.sources import web_sources

        local = self.retriever(name) if pages.mode == "mixed" else None
        return web_sources(
            self.settings,
            pages,
            local,
            lambda message, **data: events.emit("warning", "web", message=message, **data),
        )

    def retriever(self, collection: str) -> tuple[Retriever, Lookup | None]:
        """The hybrid retriever (and passage lookup) of `collection`, opened once and kept; the stand-in in
        `retriever_override` (a test's) for every collection when there is one.

        Raises:
            ValueError: the collection does not exist (the bundled `demo` one is built on first use).
        """
        standin = retriever_override.get()
        if standin is not None:
            return standin
        if collection in self._injected:
            return self._injected[collection]
        return self._opened.hybrid(collection)

    def for_tenant(self, tenant: str | None) -> Sleuth:
        """This facade as `tenant` sees it: that tenant's corrections apply. It shares this one's model,
        retrievers, collections and patch store (a shallow copy), so all tenants draw on one LLM client."""
        if tenant == self.tenant:
            return self
        scoped = copy.copy(self)
        scoped.tenant = tenant
        return scoped

    # --- search --------------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        mode: SearchMode = "hybrid",
        collection: str | None = None,
        where: Filter | None = None,
    ) -> list[Hit]:
        """The best `k` passages of `collection` for `query`: BM25, dense vectors, or both fused (hybrid).

        An injected retriever (or a test's stand-in) answers every mode itself.

        Raises:
            ValueError: the query is empty, or the collection does not exist.
            CollectionError: the search cannot run as asked (an unknown mode, vectors of another embedder).
        """
        if not query.strip():
            raise ValueError("the query is empty")
        k = k or self.settings.search_k
        name = collection or self.collection
        standin = retriever_override.get() or self._injected.get(name)
        with search_span(query, k) as span:
            retriever = standin[0] if standin is not None else self._opened.retriever(name, mode)
            hits = retriever.search(query, k, where=where)
            record_hits(span, len(hits))
        return hits

    def close(self) -> None:
        """Close the collections this object opened (injected parts are the caller's to close)."""
        self._opened.close()

    @asynccontextmanager
    async def _checkpointer(self) -> AsyncIterator[Any]:
        if self.checkpoints == "memory":
            from langgraph.checkpoint.memory import InMemorySaver

            if "memory" not in self._memory_savers:
                self._memory_savers["memory"] = InMemorySaver()
            yield self._memory_savers["memory"]
            return
        from sleuth.agents.research.run import sqlite_checkpointer

        async with sqlite_checkpointer(self.settings) as saver:
            yield saver


def _prompt_set(prompts: PromptsArg) -> PromptSet:
    return prompts if isinstance(prompts, PromptSet) else load_prompt_set(prompts)


def _lazy_embedder(link: WorkerLink | None) -> Embedder | None:
    """The embedder of collections and patches with a worker link: the worker's, or the model loaded here,
    decided on first use."""
    from sleuth.feedback.api import lazy_embedder

    return lazy_embedder(link.embedder) if link is not None else None


def _open_patch_store(settings: Settings, stack: AsyncExitStack, embedder: Embedder | None) -> PatchSource:
    """The feedback store when one was created (`sleuth feedback add`) or lives in Postgres, else no patches."""
    if not settings.database_url and not settings.patches_path.exists():
        return NoPatches()
    from sleuth.feedback.api import open_patch_store

    store = open_patch_store(settings, embedder)
    stack.callback(store.close)
    return store
