"""The names every layer shares: the ask strategies and the ASP loop's variants, the research forms, the model
roles, the LLM client's HTTP backends, and the web search providers and modes (the settings, the agents, the evals, the CLI, the API and the MCP
tools all speak of them)."""

from __future__ import annotations

from typing import Literal, get_args

Strategy = Literal["grounded", "asp"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)
"""`grounded`: code drives the searches and the model makes narrow choices; `asp`: the model's own tag loop."""

Variant = Literal["always", "free", "closed"]
VARIANTS: tuple[Variant, ...] = get_args(Variant)
"""The ASP loop's prompt variants: always-search, free-search, closed-book."""

Form = Literal["answer", "report"]
FORMS: tuple[Form, ...] = get_args(Form)
"""What research writes: a short cited answer, or a sectioned report with a sources list."""

Role = Literal[
    "orchestrator",
    "reader",
    "aggregator",
    "writer",
    "planner",
    "section_writer",
    "ask",
    "summarizer",
    "judge",
]
ROLES: tuple[Role, ...] = get_args(Role)
"""The roles a model call is made for (its `agent=`), each of which may be routed to a model of its own: the
research graph's nodes (`planner` drafts a report's outline, `section_writer` writes its sections), `ask`
(both ask strategies, and the grounded reading that opens a research answer), the ASP loop's `summarizer`,
and the eval `judge`."""

LLMHttp = Literal["aiohttp", "httpx"]
LLM_HTTPS: tuple[LLMHttp, ...] = get_args(LLMHttp)
"""The openai SDK's HTTP backends: aiohttp (its `DefaultAioHttpClient`), or its default httpx2 client."""

WebSearch = Literal["off", "searxng", "tavily"]
WEB_SEARCHES: tuple[WebSearch, ...] = get_args(WebSearch)
"""The web search providers: a SearXNG instance's JSON API, or a Tavily-compatible API."""

WebMode = Literal["off", "web", "mixed"]
WEB_MODES: tuple[WebMode, ...] = get_args(WebMode)
"""What a run searches: its collection only, the web only, or both fused."""
