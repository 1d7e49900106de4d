"""A model per role: a `ChatModel` that sends each call to the model of the role it is made for (the call's
`agent=`), the default model answering every other role, and names on each reply the model that served it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sleuth.llm.base import ChatModel, ChatRequest, Completion, ModelWrapper


@dataclass(frozen=True)
class Route:
    """One model a call may be sent to.

    Args:
        model: its name as settings give it: recorded on each reply (`Completion.model`) and priced.
        llm: the client that answers.
        where: the server, for people (a URL, or "embedded llama.cpp").
    """

    model: str
    llm: ChatModel
    where: str = ""


class RoleRouter(ModelWrapper):
    """Sends each call to `routes[call.agent]`, or to `default` for a role without a route of its own.

    It wraps the default model (`inner`), so code that looks under wrappers for the default client (the
    reflection model shares its server) still finds it.

    Args:
        default: the model of every role not in `routes`.
        routes: role -> its model.
    """

    def __init__(self, default: Route, routes: Mapping[str, Route] | None = None) -> None:
        super().__init__(default.llm)
        self.default = default
        self.routes = dict(routes or {})

    def route(self, role: str) -> Route:
        """The model a call made for `role` goes to."""
        return self.routes.get(role, self.default)

    async def respond(self, request: ChatRequest) -> Completion:
        route = self.route(request.agent)
        completion = await route.llm.complete(
            request.messages, params=request.params, json_schema=request.json_schema, agent=request.agent
        )
        completion.model = route.model
        return completion


def model_name(llm: ChatModel, role: str) -> str:
    """The name of the model a call made for `role` through `llm` is asked of, looking under wrappers: the
    role's route of a `RoleRouter`, else the `model` of the client at the bottom ('' when it has none)."""
    while True:
        if isinstance(llm, RoleRouter):
            return llm.route(role).model
        if not isinstance(llm, ModelWrapper):
            return str(getattr(llm, "model", "") or "")
        llm = llm.inner
