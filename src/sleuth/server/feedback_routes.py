"""Feedback routes: submit, list, show and retract corrections (patches) in the caller's tenant, and the
audit log of who created, superseded or retracted which patch."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query

from sleuth.server.auth import Principal, Role
from sleuth.server.guards import Admin, CorrectorWrite, Reader, ServerState, State
from sleuth.server.schemas import FeedbackRequest

router = APIRouter(tags=["feedback"])


def _store(state: ServerState) -> Any:
    if state.patches is None:
        raise HTTPException(503, "this server has no feedback store")
    return state.patches


def _patch_for(state: ServerState, patch_id: str, who: Principal) -> Any:
    """The patch, when it exists and belongs to the caller's tenant (404 otherwise: no leak across tenants)."""
    from sleuth.feedback.models import PatchNotFound

    try:
        patch = _store(state).get(patch_id)
    except PatchNotFound:
        patch = None
    if patch is None or not who.can_touch(patch.tenant):
        raise HTTPException(404, f"no patch {patch_id!r} in your tenant")
    return patch


@router.post("/v1/feedback", status_code=201)
def add_feedback(body: FeedbackRequest, who: CorrectorWrite, state: State) -> dict[str, Any]:
    """Store a correction for the caller's tenant; it applies from the next query on."""
    from sleuth.feedback.models import PatchError, PatchInput, PatchNotFound

    limit = state.settings.patch_max_chars
    for name in ("query", "answer", "evidence"):
        if len(getattr(body, name)) > limit:
            raise HTTPException(
                413,
                f"the correction's {name} is longer than {limit} characters "
                "(SLEUTH_PATCH_MAX_CHARS): quote only what supports the answer",
            )
    if body.supersedes:
        _patch_for(state, body.supersedes, who)
    submission = PatchInput(**body.model_dump(), author=who.name or who.token_id, tenant=who.tenant)
    try:
        added = _store(state).add(submission)
    except PatchNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except PatchError as exc:
        raise HTTPException(422, str(exc)) from exc
    state.audit.record(
        who,
        "created",
        added.patch.id,
        collection=added.patch.collection,
        conflicts=[p.id for p in added.conflicts],
    )
    for old_id in added.superseded:
        state.audit.record(who, "superseded", old_id, by=added.patch.id)
    return added.to_json()


@router.get("/v1/feedback")
def list_feedback(
    who: Reader,
    state: State,
    status: Literal["active", "superseded", "retracted", "all"] = "active",
    collection: str | None = None,
    tenant: str | None = Query(None, description="Admins only: one tenant's patches (default: all)."),
) -> list[dict[str, Any]]:
    """Patches of the caller's tenant (admins: every tenant, or `tenant`), oldest first."""
    from sleuth.feedback.models import PatchStatus

    scope = tenant if who.role is Role.admin else who.tenant
    patches = _store(state).list(
        status=None if status == "all" else PatchStatus(status), collection=collection, tenant=scope
    )
    if who.role is not Role.admin and scope is None:
        patches = [p for p in patches if p.tenant is None]
    return [p.model_dump(mode="json") for p in patches]


@router.get("/v1/feedback/{patch_id}")
def show_feedback(patch_id: str, who: Reader, state: State) -> dict[str, Any]:
    return _patch_for(state, patch_id, who).model_dump(mode="json")


@router.delete("/v1/feedback/{patch_id}")
def retract_feedback(
    patch_id: str, who: CorrectorWrite, state: State, note: str = Query("", max_length=2000)
) -> dict[str, Any]:
    """Retract a patch of your tenant: kept on record, never retrieved again."""
    from sleuth.feedback.models import PatchError

    _patch_for(state, patch_id, who)
    try:
        patch = _store(state).retract(patch_id, note)
    except PatchError as exc:
        raise HTTPException(409, str(exc)) from exc
    state.audit.record(who, "retracted", patch_id, note=note)
    return patch.model_dump(mode="json")


@router.get("/v1/audit", tags=["admin"])
def audit_log(
    who: Admin, state: State, patch_id: str | None = None, limit: int = Query(200, ge=1, le=5000)
) -> list[dict[str, Any]]:
    """Who created, superseded or retracted which patch, newest first."""
    return state.audit.list(patch_id=patch_id, limit=limit)
