"""`/mcp`: the MCP tools over streamable HTTP inside the API server, behind the API's own bearer tokens, roles,
tenants and write rate limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware, get_access_token
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings
from starlette.middleware.authentication import AuthenticationMiddleware

from sleuth.mcp.tools import Action, Admission, Caller, ToolDeps, build_mcp_server
from sleuth.server.auth import Role, TokenStore, role_allows

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from sleuth.server.guards import ServerState

PATH = "/mcp"


class ApiTokenVerifier:
    """The SDK's `TokenVerifier` over the API's tokens: a live token's scopes are the roles it holds."""

    def __init__(self, tokens: TokenStore) -> None:
        self.tokens = tokens

    async def verify_token(self, token: str) -> AccessToken | None:
        principal = await anyio.to_thread.run_sync(self.tokens.authenticate, token)
        if principal is None:
            return None
        scopes = [role.value for role in Role if role_allows(principal.role, role)]
        return AccessToken(token=token, client_id=principal.token_id, scopes=scopes)


def token_admission(state: ServerState) -> Admission:
    """Each tool call as the HTTP API would take it from the same token: a reader may search, list, research
    and ask (the last two spend a write, like `POST /v1/research`); storing a correction needs a corrector."""

    def admit(action: Action) -> Caller:
        access = get_access_token()  # set by the SDK's auth middleware for this request
        principal = state.tokens.authenticate(access.token) if access is not None else None
        if principal is None:
            raise PermissionError("invalid or revoked API token")
        need = Role.corrector if action == "correct" else Role.reader
        if not role_allows(principal.role, need):
            raise PermissionError(f"this needs a {need.value} token; yours is {principal.role.value}")
        if action != "read":
            wait_s = state.limiter.take(principal.token_id)
            if wait_s > 0:
                raise PermissionError(f"too many writes with this token; retry in {wait_s:.1f} s")
        return Caller(
            tenant=principal.tenant,
            author=principal.name or principal.token_id,
            every_tenant=principal.role is Role.admin,
        )

    return admit


def mcp_server(state: ServerState, version: str) -> MCPServer[ToolDeps]:
    """The MCP server whose tools call the API server's facade and patch store (as they are once the API
    server has started: its lifespan enters this server's lifespan after opening them)."""

    @asynccontextmanager
    async def open_deps() -> AsyncIterator[ToolDeps]:
        yield ToolDeps(sleuth=state.sleuth, patches=state.patches, admit=token_admission(state))

    return build_mcp_server(open_deps, version=version)


def mcp_endpoint(server: MCPServer[ToolDeps], state: ServerState) -> Any:
    """The ASGI app to route `/mcp` to: the SDK's streamable-HTTP app behind the SDK's bearer middleware, fed by
    our token verifier. (The SDK's own `auth=` settings expect an OAuth authorization server's URL; these are
    the API's static tokens, so the same middleware is composed here instead.) Run `server.session_manager.run()`
    for as long as the API server runs."""
    # No Host/Origin allow-list (the SDK's DNS-rebinding guard): every request must carry an API token, which a
    # rebound page cannot know, and the list would refuse the API's own clients behind a proxy or on 0.0.0.0.
    unguarded = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(streamable_http_path=PATH, transport_security=unguarded)
    guarded = AuthContextMiddleware(RequireAuthMiddleware(app, required_scopes=[Role.reader.value]))
    return AuthenticationMiddleware(guarded, backend=BearerAuthBackend(ApiTokenVerifier(state.tokens)))
