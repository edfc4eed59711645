"""API tokens: each bound to a user, a role and a unit (the scope is that unit's subtree).

Only a SHA-256 of the token is stored; the token itself is printed once, by
`alarmgw token create`. Tokens are long random strings, so a plain hash suffices (no
password stretching needed)."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from gateway.errors import DomainError
from gateway.store.tables import tokens
from gateway.store.transaction import WriteContext
from gateway.workflow import records
from gateway.workflow.machine import Actor, EventDraft
from gateway.workflow.table import Role

TOKEN_PREFIX = "agw_"
# Roles a person or system can hold; SYSTEM is the gateway's own.
GRANTABLE = tuple(r for r in Role if r is not Role.SYSTEM)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    ctx: WriteContext, user: str, role: str, unit: str, org: Any, now: datetime
) -> str:
    try:
        r = Role(role)
    except ValueError:
        raise DomainError(
            f"unknown role {role!r} (one of: {', '.join(str(x) for x in GRANTABLE)})"
        ) from None
    if r is Role.SYSTEM:
        raise DomainError("the system role cannot be granted")
    if unit not in org:
        raise DomainError(f"unknown unit {unit!r}")
    if not user or len(user) > 64:
        raise DomainError("user must be 1 to 64 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ctx.conn.execute(
        insert(tokens).values(
            token_hash=digest(token), user=user, role=str(r), unit=unit, created_at=now
        )
    )
    return token


def lookup(conn: Connection, token: str) -> Actor | None:
    row = conn.execute(
        select(tokens.c.user, tokens.c.role, tokens.c.unit).where(
            tokens.c.token_hash == digest(token), tokens.c.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else Actor(row.user, Role(row.role), row.unit)


class TokenCache:
    """A short memory of recent look-ups, so a busy integration does not cost a query per
    request. Revocation takes effect within `ttl` seconds."""

    def __init__(self, ttl: float = 30.0, size: int = 1024) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Actor | None]] = {}

    def get(self, token: str) -> tuple[bool, Actor | None]:
        hit = self._entries.get(token)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def clear(self) -> None:
        self._entries.clear()

    def put(self, token: str, actor: Actor | None) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[token] = (time.monotonic() + self.ttl, actor)


def list_tokens(conn: Connection) -> list[dict[str, Any]]:
    """Every token (never the token itself): id, user, role, unit, created, revoked."""
    return [
        dict(r._mapping)
        for r in conn.execute(
            select(
                tokens.c.id,
                tokens.c.user,
                tokens.c.role,
                tokens.c.unit,
                tokens.c.created_at,
                tokens.c.revoked_at,
            ).order_by(tokens.c.id)
        )
    ]


def revoke_token(ctx: WriteContext, token_id: int, now: datetime, by: Actor) -> dict[str, Any]:
    row = ctx.conn.execute(select(tokens).where(tokens.c.id == token_id)).first()
    if row is None:
        raise DomainError(f"no token {token_id}", "token")
    if row.revoked_at is None:
        ctx.conn.execute(update(tokens).where(tokens.c.id == token_id).values(revoked_at=now))
        data = {"token": token_id, "user": row.user, "role": row.role}
        draft = EventDraft("token_revoked", None, None, by, data=data)
        records.add_event(ctx, None, None, draft, now, drill=False)
    return {"id": row.id, "user": row.user, "role": row.role, "unit": row.unit}
