"""API tokens (stored as sha256 hashes), roles, per-token write rate limits, and the patch audit log."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sleuth.server.db import ServerDB, utc_now

TOKEN_PREFIX = "slt_"


class Role(StrEnum):
    """What a token may do; each role includes the ones before it."""

    reader = "reader"
    """Ask, research, read jobs and patches of its tenant."""
    corrector = "corrector"
    """Also submit and retract corrections (patches) in its tenant."""
    admin = "admin"
    """Everything: every tenant, optimization jobs, the audit log."""


_RANK = {Role.reader: 0, Role.corrector: 1, Role.admin: 2}


def role_allows(have: Role, need: Role) -> bool:
    return _RANK[have] >= _RANK[need]


@dataclass(frozen=True)
class Principal:
    """Who made a request: the token's id (never its secret), role and tenant."""

    token_id: str
    role: Role
    tenant: str | None
    name: str = ""

    def can_touch(self, tenant: str | None) -> bool:
        """True when this principal may change things that belong to `tenant`."""
        return self.role is Role.admin or tenant == self.tenant


@dataclass(frozen=True)
class TokenInfo:
    """A stored token as listed (the secret is never stored, only its hash)."""

    id: str
    role: Role
    tenant: str | None
    name: str
    created_at: str
    revoked_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role.value,
            "tenant": self.tenant,
            "name": self.name,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    """Creates, checks, lists and revokes API tokens in the server database."""

    def __init__(self, db: ServerDB) -> None:
        self.db = db

    def create(self, role: Role | str, *, tenant: str | None = None, name: str = "") -> tuple[TokenInfo, str]:
        """Store a new token and return it with its secret (shown once; only the hash is kept)."""
        role = Role(role)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo("t" + uuid.uuid4().hex[:10], role, tenant, name, utc_now(), None)
        with self.db.connect() as conn:
            conn.execute(
                "INSERT INTO tokens (id, hash, role, tenant, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (info.id, hash_token(secret), role.value, tenant, name, info.created_at),
            )
        return info, secret

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of a live token, or None for an unknown or revoked one."""
        if not secret:
            return None
        with self.db.connect() as conn:
            row = conn.execute(
                "SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL", (hash_token(secret),)
            ).fetchone()
        if row is None:
            return None
        return Principal(row["id"], Role(row["role"]), row["tenant"], row["name"])

    def list(self) -> list[TokenInfo]:
        with self.db.connect() as conn:
            rows = conn.execute("SELECT * FROM tokens ORDER BY created_at").fetchall()
        return [
            TokenInfo(r["id"], Role(r["role"]), r["tenant"], r["name"], r["created_at"], r["revoked_at"])
            for r in rows
        ]

    def revoke(self, token_id: str) -> bool:
        """Revoke a token by id; False when no live token has that id."""
        with self.db.connect() as conn:
            cur = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (utc_now(), token_id)
            )
        return cur.rowcount > 0


class AuditLog:
    """Who created, superseded or retracted which patch, in order."""

    def __init__(self, db: ServerDB) -> None:
        self.db = db

    def record(self, who: Principal, action: str, patch_id: str, **detail: Any) -> None:
        with self.db.connect() as conn:
            conn.execute(
                "INSERT INTO audit (at, token_id, tenant, action, patch_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (utc_now(), who.token_id, who.tenant, action, patch_id, json.dumps(detail)),
            )

    def list(self, *, patch_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        query, args = "SELECT * FROM audit", []
        if patch_id:
            query, args = query + " WHERE patch_id = ?", [patch_id]
        with self.db.connect() as conn:
            rows = conn.execute(query + " ORDER BY seq DESC LIMIT ?", [*args, limit]).fetchall()
        return [
            {
                "seq": r["seq"],
                "at": r["at"],
                "token_id": r["token_id"],
                "tenant": r["tenant"],
                "action": r["action"],
                "patch_id": r["patch_id"],
                "detail": json.loads(r["detail"]),
            }
            for r in rows
        ]


class RateLimiter:
    """A token bucket per API token: `burst` writes at once, refilled at `per_minute` a minute.

    Kept in memory: a restart refills every bucket, which errs on the side of letting users write.
    """

    def __init__(self, per_minute: float, burst: int, *, clock: Any = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one write for `key`; return 0 when allowed, else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            level, last = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (1.0 - level) / self.rate if self.rate > 0 else 60.0
