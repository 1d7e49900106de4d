"""Model clients built from settings: the configured models (`connect`: the default one and each role's),
another OpenAI-compatible server (a teacher or judge model) and the reflection model that rewrites prompts,
each with the settings' timeouts, retries and concurrency. A model put in `model_override` (`sleuth.testing.override(llm=...)`) stands in for
the configured model and for any other server opened by URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sleuth.config import Settings
from sleuth.llm.base import ChatModel, ModelWrapper, model_override
from sleuth.llm.cache import CachedModel
from sleuth.llm.openai_compat import OpenAICompatModel
from sleuth.llm.roles import default_route, role_routes
from sleuth.llm.router import RoleRouter, Route


def openai_client(
    settings: Settings,
    base_url: str,
    model: str,
    *,
    api_key: str | None = None,
    timeout_s: float | None = None,
    concurrency: int | None = None,
    llama_cpp: bool = False,
) -> OpenAICompatModel:
    """A client for `base_url` configured from `settings`.

    Args:
        api_key: default `llm_api_key`.
        timeout_s: the whole-call and per-request timeout; default `llm_timeout_s` and `llm_request_timeout_s`.
        concurrency: calls in flight at once; default `llm_concurrency` (a server given by URL).
        llama_cpp: the server is the embedded llama.cpp one (it takes `GenParams.exact`).
    """
    return OpenAICompatModel(
        base_url,
        model,
        api_key=api_key or settings.llm_api_key,
        timeout_s=settings.llm_timeout_s if timeout_s is None else timeout_s,
        request_timeout_s=settings.llm_request_timeout_s if timeout_s is None else timeout_s,
        connect_timeout_s=settings.llm_connect_timeout_s,
        max_retries=settings.llm_max_retries,
        retry_wait_s=settings.llm_retry_wait_s,
        concurrency=settings.llm_concurrency if concurrency is None else concurrency,
        http=settings.llm_http,
        llama_cpp=llama_cpp,
    )


def embedded_concurrency(settings: Settings, *, reused: bool) -> int:
    """Calls in flight at once to the embedded llama.cpp server: its slot count, those a running
    `sleuth llm serve` recorded when `reused`, else `local_parallel` (`llm_concurrency` may only lower it).
    The server decodes that many requests together; more would only queue inside llama.cpp, where the wait
    counts against each call's timeout."""
    from sleuth.llm.local import recorded_slots

    slots = (recorded_slots(settings) if reused else None) or settings.local_parallel
    return max(1, min(settings.llm_concurrency, slots))


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[ChatModel]:
    """Yield the configured models for the duration of a block, as one `RoleRouter`: each role's calls go
    to its `SLEUTH_ROLE_MODELS` entry, the rest to the default model.

    The default model: `SLEUTH_LLM_BASE_URL` set, a client for that server; unset, a running
    `sleuth llm serve` for this home if there is one, else the embedded llama.cpp server started for this
    block and stopped after. One client per distinct server, model and key, shared by every role, reader
    and job of the block (so its bound on calls in flight is too).
    """
    standin = model_override.get()
    if standin is not None:
        yield standin
        return
    from sleuth.llm.local import EmbeddedServer, running_server

    default = default_route(settings)
    server: EmbeddedServer | None = None
    base_url = default.base_url or running_server(settings)
    if base_url is None:
        server = EmbeddedServer(settings)
        base_url = server.start()
    embedded = None if default.base_url else embedded_concurrency(settings, reused=server is None)
    client = openai_client(
        settings, base_url, settings.llm_model, concurrency=embedded, llama_cpp=embedded is not None
    )
    opened = [client]
    models: dict[tuple[str | None, str, str], ChatModel] = {
        default.client_key: _cached(settings, client, client.model)
    }
    routes: dict[str, Route] = {}
    try:
        for role, spec in role_routes(settings).items():
            if spec == default:
                continue
            if spec.client_key not in models:
                # Settings refuse a role on the embedded server under another name, so a role has a URL.
                other = openai_client(
                    settings,
                    spec.base_url or base_url,
                    spec.request_model,
                    api_key=spec.api_key,
                    concurrency=None if spec.base_url else embedded,
                    llama_cpp=not spec.base_url and embedded is not None,
                )
                opened.append(other)
                # Another server's replies are cached under its URL too: two servers may share a model name.
                models[spec.client_key] = _cached(settings, other, f"{other.model}@{other.base_url}")
            routes[role] = Route(spec.model, models[spec.client_key], spec.where)
        yield RoleRouter(Route(default.model, models[default.client_key], base_url), routes)
    finally:
        for each in opened:
            await each.aclose()
        if server is not None:
            server.stop()


def _cached(settings: Settings, client: OpenAICompatModel, name: str) -> ChatModel:
    """`client` behind the on-disk response cache when `SLEUTH_LLM_CACHE` is on (replies keyed by `name`)."""
    return CachedModel(client, settings.cache_path, name) if settings.llm_cache else client


@asynccontextmanager
async def open_model(
    settings: Settings, url: str | None = None, model: str | None = None, api_key: str | None = None
) -> AsyncIterator[ChatModel]:
    """The configured model (`connect`), or the OpenAI-compatible server at `url` (a teacher or judge model;
    `model` defaults to `llm_model`), closed when the block ends."""
    if url is None or model_override.get() is not None:  # a stand-in answers for every server
        async with connect(settings) as llm:
            yield llm
        return
    client = openai_client(settings, url, model or settings.llm_model, api_key=api_key)
    try:
        yield client
    finally:
        await client.aclose()


def reflection_client(settings: Settings, task_llm: ChatModel | None = None) -> OpenAICompatModel | None:
    """The reflection model's client: `SLEUTH_REFLECTION_BASE_URL` when set, else the task model's server.

    Either way it gets the reflection timeout: a reflection reads a whole minibatch and writes a long reply,
    and a job whose reflection shared the task model's 60 s request timeout died on a loaded 2-core machine.
    None when the task model has no URL to share (a fake in tests): the job then reflects with `task_llm`.
    """
    base_url = settings.reflection_base_url
    model = settings.reflection_model or settings.llm_model
    if not base_url:
        inner = task_llm
        while isinstance(inner, ModelWrapper):  # under the role router and the response cache
            inner = inner.inner
        if not isinstance(inner, OpenAICompatModel):
            return None
        base_url, model = inner.base_url, settings.reflection_model or inner.model
    return openai_client(
        settings,
        base_url,
        model,
        api_key=settings.reflection_api_key,
        timeout_s=settings.reflection_timeout_s,
    )


@asynccontextmanager
async def reflection_model(settings: Settings, task_llm: ChatModel) -> AsyncIterator[ChatModel]:
    """`reflection_client(settings, task_llm)` for the duration of a block, or `task_llm` itself when
    there is no server to reach (a fake model)."""
    client = reflection_client(settings, task_llm)
    if client is None:
        yield task_llm
        return
    try:
        yield client
    finally:
        await client.aclose()
