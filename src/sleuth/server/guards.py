"""Request guards: who is calling (bearer token or `?token=`), what their role allows, the write rate
limit, and the request-body size limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from sleuth.server.auth import AuditLog, Principal, RateLimiter, Role, TokenStore, role_allows

if TYPE_CHECKING:
    from sleuth.config import Settings
    from sleuth.server.jobs import Job, JobRegistry
    from sleuth.server.runner import Runner


@dataclass
class ServerState:
    """Everything the routes share, built once by `create_app`."""

    settings: Settings
    tokens: TokenStore
    audit: AuditLog
    limiter: RateLimiter
    jobs: JobRegistry
    runner: Runner | None = None
    sleuth: Any = None
    """The `sleuth.api.Sleuth` facade the MCP tools call (None: they say the server has no model)."""
    patches: Any = None
    """The feedback `PatchStore` (add/get/list/retract); None: feedback endpoints answer 503."""
    optimizer: Callable[..., Any] | None = None
    collections: Any = None
    """The `OpenCollections` that `/v1/search` searches (kept open, so their models stay loaded)."""


def server_state(request: Request) -> ServerState:
    return request.app.state.sleuth


_bearer = HTTPBearer(auto_error=False, description="An API token from `sleuth token create`.")
_query_token = APIKeyQuery(
    name="token", auto_error=False, description="The token as a query parameter, for EventSource clients."
)


State = Annotated[ServerState, Depends(server_state)]


def current_principal(
    state: State,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    query_token: Annotated[str | None, Depends(_query_token)],
) -> Principal:
    """The caller, from `Authorization: Bearer <token>` (or `?token=`); 401 when missing or not valid."""
    secret = bearer.credentials if bearer else query_token
    if not secret:
        raise HTTPException(
            401,
            "missing API token: send 'Authorization: Bearer <token>' (create one with `sleuth token create`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = state.tokens.authenticate(secret)
    if principal is None:
        raise HTTPException(401, "invalid or revoked API token", headers={"WWW-Authenticate": "Bearer"})
    return principal


def _check_role(principal: Principal, role: Role) -> Principal:
    if not role_allows(principal.role, role):
        raise HTTPException(403, f"this needs a {role.value} token; yours is {principal.role.value}")
    return principal


# The guards' annotations name only module globals: FastAPI resolves them from the module namespace.
def require(role: Role) -> Callable[..., Principal]:
    """A dependency admitting callers whose role includes `role` (403 otherwise)."""

    def guard(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        return _check_role(principal, role)

    return guard


def require_write(role: Role) -> Callable[..., Principal]:
    """Like `require`, and spends one write from the token's rate-limit bucket (429 when empty)."""

    def guard(principal: Annotated[Principal, Depends(current_principal)], state: State) -> Principal:
        _check_role(principal, role)
        wait_s = state.limiter.take(principal.token_id)
        if wait_s > 0:
            raise HTTPException(
                429,
                f"too many writes with this token; retry in {wait_s:.1f} s",
                headers={"Retry-After": str(max(1, round(wait_s)))},
            )
        return principal

    return guard


Reader = Annotated[Principal, Depends(require(Role.reader))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
ReaderWrite = Annotated[Principal, Depends(require_write(Role.reader))]
CorrectorWrite = Annotated[Principal, Depends(require_write(Role.corrector))]
AdminWrite = Annotated[Principal, Depends(require_write(Role.admin))]


def job_for(state: ServerState, job_id: str, who: Principal) -> Job:
    """The job, when it exists and belongs to the caller's tenant (404 otherwise: no leak across tenants)."""
    job = state.jobs.get(job_id)
    if job is None or not who.can_touch(job.tenant):
        raise HTTPException(404, f"no job {job_id!r}")
    return job


class BodySizeLimit:
    """ASGI middleware: answer 413 to a request whose body is larger than `max_bytes`, before any
    handler reads it (Content-Length is checked first; chunked bodies are counted as they arrive)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        # Read the body here (at most max_bytes + 1 chunk) and replay it, so no handler sees a partial one.
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Callable[..., Any]) -> None:
        payload = json.dumps(
            {
                "detail": f"request body too large: the limit is {self.max_bytes} bytes "
                "(SLEUTH_SERVER_MAX_BODY_BYTES)"
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
