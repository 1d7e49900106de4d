"""The names every layer shares: the ask strategies and the ASP loop's variants, the research forms, and the web
search providers and modes (the settings, the agents, the evals, the CLI, the API and the MCP tools all speak of
them)."""

from __future__ import annotations

from typing import Literal

Strategy = Literal["grounded", "asp"]
STRATEGIES: tuple[Strategy, ...] = ("grounded", "asp")
"""`grounded`: code drives the searches and the model makes narrow choices; `asp`: the model's own tag loop."""

Variant = Literal["always", "free", "closed"]
VARIANTS: tuple[Variant, ...] = ("always", "free", "closed")
"""The ASP loop's prompt variants: always-search, free-search, closed-book."""

Form = Literal["answer", "report"]
FORMS: tuple[Form, ...] = ("answer", "report")
"""What research writes: a short cited answer, or a sectioned report with a sources list."""

WebSearch = Literal["off", "searxng", "tavily"]
WEB_SEARCHES: tuple[WebSearch, ...] = ("off", "searxng", "tavily")
"""The web search providers: a SearXNG instance's JSON API, or a Tavily-compatible API."""

WebMode = Literal["off", "web", "mixed"]
WEB_MODES: tuple[WebMode, ...] = ("off", "web", "mixed")
"""What a run searches: its collection only, the web only, or both fused."""
