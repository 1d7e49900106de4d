"""Which model each role's calls go to, as settings say: the plan `connect` builds its clients from and
`sleuth config show` prints (no client is built here, no server is reached)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sleuth.config import Settings
from sleuth.names import ROLES

NO_KEY = "sk-no-key"
"""The key sent to a server the user gave no key for (local servers accept anything)."""


@dataclass(frozen=True)
class RouteSpec:
    """Where one role's calls go.

    Args:
        model: the name recorded with each call and looked up in the price table.
        base_url: the server; None for the embedded llama.cpp model (or a running `sleuth llm serve`).
        request_model: the name sent to the server (llama.cpp ignores it).
        api_key: the key sent to the server.
    """

    model: str
    base_url: str | None
    request_model: str
    api_key: str = field(repr=False)

    @property
    def client_key(self) -> tuple[str | None, str, str]:
        """Routes with the same key share one client (and so one bound on calls in flight)."""
        return (self.base_url, self.request_model, self.api_key)

    @property
    def where(self) -> str:
        return self.base_url or "embedded llama.cpp"


def default_route(settings: Settings) -> RouteSpec:
    """The default model: `SLEUTH_LLM_BASE_URL` with `SLEUTH_LLM_MODEL`, or the embedded server, which serves
    `SLEUTH_LOCAL_MODEL` whatever name is sent (so calls are recorded under that name)."""
    if settings.llm_base_url:
        return RouteSpec(settings.llm_model, settings.llm_base_url, settings.llm_model, settings.llm_api_key)
    return RouteSpec(settings.local_model, None, settings.llm_model, settings.llm_api_key)


def role_routes(settings: Settings) -> dict[str, RouteSpec]:
    """Every role -> its route: its `SLEUTH_ROLE_MODELS` entry, or the default model.

    A role's entry without a base_url is on the default server (settings refuse one when that server is the
    embedded model); without a model it asks for `SLEUTH_LLM_MODEL`; without a key it gets the default key
    only on the default server, so that key never goes anywhere the user did not send it.
    """
    default = default_route(settings)
    routes: dict[str, RouteSpec] = {}
    for role in ROLES:
        chosen = settings.role_models.get(role)
        if chosen is None:
            routes[role] = default
            continue
        base_url = chosen.base_url or default.base_url
        on_default_server = _same_url(base_url, default.base_url)
        model = chosen.model or settings.llm_model
        api_key = chosen.api_key or (settings.llm_api_key if on_default_server else NO_KEY)
        # Whatever name is asked of the embedded server, the local model answers.
        routes[role] = RouteSpec(model if base_url else default.model, base_url, model, api_key)
    return routes


def _same_url(a: str | None, b: str | None) -> bool:
    return (a or "").rstrip("/") == (b or "").rstrip("/")
