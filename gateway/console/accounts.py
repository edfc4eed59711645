"""Console users and their sessions.

Passwords are Argon2id hashes (argon2-cffi, its default parameters: RFC 9106's second
recommended option); verifying one costs tens of milliseconds of CPU, so it runs in a
thread, never on the reactor and never in the writer's transaction. A session is a random
cookie of which only the SHA-256 is stored, with its own CSRF token; it ends when unused
for `idle_timeout_s`, `session_max_s` after login, at logout, or when the user is
disabled. Logins, failures, refusals and logouts are events in the audit log (without an
incident), so they are hash-chained like everything else."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import argon2
from sqlalchemy import Connection, insert, select, update

from gateway.errors import DomainError
from gateway.store.tables import console_sessions, users
from gateway.store.transaction import WriteContext
from gateway.workflow import records
from gateway.workflow.machine import Actor, EventDraft
from gateway.workflow.table import Role

MIN_PASSWORD = 8
MAX_PASSWORD = 256
GRANTABLE = tuple(r for r in Role if r not in (Role.SYSTEM, Role.INTEGRATION))
_hasher = argon2.PasswordHasher()
# Verified against when the user is unknown, so that the answer takes as long either way.
_DUMMY = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    unit: str
    extension: str | None
    disabled: bool

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.role, self.unit)


@dataclass(frozen=True)
class Session:
    """A logged-in console user as a request sees them."""

    key: str  # the SHA-256 of the cookie
    user: User
    csrf: str
    created_at: datetime
    last_seen: datetime

    @property
    def actor(self) -> Actor:
        return self.user.actor


def digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise DomainError(f"password too short (at least {MIN_PASSWORD} characters)", "password")
    if len(password) > MAX_PASSWORD:
        raise DomainError(f"password too long (at most {MAX_PASSWORD} characters)", "password")


def verify(password_hash: str | None, password: str) -> bool:
    """Blocking (tens of ms): call from a thread."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:
        return False


def _user(row: Any) -> User:
    return User(
        row.id, row.name, Role(row.role), row.unit, row.extension, row.disabled_at is not None
    )


def audit(ctx: WriteContext, action: str, actor: Actor, now: datetime, **data: Any) -> None:
    """An event of the log that concerns no incident."""
    draft = EventDraft(
        action, None, None, actor, data={k: v for k, v in data.items() if v is not None}
    )
    records.add_event(ctx, None, None, draft, now, drill=False)


# -- administration (CLI and console) -----------------------------------------------------------


def create_user(
    ctx: WriteContext,
    name: str,
    role: str,
    unit: str,
    extension: str | None,
    password_hash: str,
    org: Any,
    now: datetime,
    by: Actor,
) -> User:
    try:
        r = Role(role)
    except ValueError:
        raise DomainError(
            f"unknown role {role!r} (one of: {', '.join(str(x) for x in GRANTABLE)})", "role"
        ) from None
    if r not in GRANTABLE:
        raise DomainError(f"role {r} is not for people (use an API token)", "role")
    if unit not in org:
        raise DomainError(f"unknown unit {unit!r}", "unit")
    if not name or len(name) > 64 or not name.isprintable() or name != name.strip():
        raise DomainError("user must be 1 to 64 printable characters", "user")
    if extension is not None and not (1 <= len(extension) <= 32 and extension.isalnum()):
        raise DomainError("extension must be 1 to 32 letters or digits (e.g. 1001)", "extension")
    if ctx.conn.execute(select(users.c.id).where(users.c.name == name)).first():
        raise DomainError(f"user {name!r} exists", "user")
    key = ctx.conn.execute(
        insert(users).values(
            name=name,
            role=str(r),
            unit=unit,
            extension=extension,
            password_hash=password_hash,
            created_at=now,
            password_changed_at=now,
        )
    ).inserted_primary_key
    assert key is not None
    uid = key[0]
    audit(ctx, "user_created", by, now, user=name, role=str(r), unit=unit, extension=extension)
    return User(int(uid), name, r, unit, extension, False)


def find_user(conn: Connection, name: str) -> tuple[User, str] | None:
    row = conn.execute(select(users).where(users.c.name == name)).first()
    return None if row is None else (_user(row), row.password_hash)


def list_users(conn: Connection) -> list[User]:
    return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]


def disable_user(ctx: WriteContext, name: str, now: datetime, by: Actor) -> None:
    found = find_user(ctx.conn, name)
    if found is None:
        raise DomainError(f"no user {name!r}", "user")
    user, _ = found
    ctx.conn.execute(update(users).where(users.c.id == user.id).values(disabled_at=now))
    _end_sessions(ctx.conn, user.id, now)
    audit(ctx, "user_disabled", by, now, user=name)


def set_password(
    ctx: WriteContext, name: str, password_hash: str, now: datetime, by: Actor
) -> None:
    found = find_user(ctx.conn, name)
    if found is None:
        raise DomainError(f"no user {name!r}", "user")
    user, _ = found
    ctx.conn.execute(
        update(users)
        .where(users.c.id == user.id)
        .values(password_hash=password_hash, password_changed_at=now, disabled_at=None)
    )
    _end_sessions(ctx.conn, user.id, now)  # a new password logs every session out
    audit(ctx, "user_password", by, now, user=name)


def _end_sessions(conn: Connection, user_id: int, now: datetime) -> None:
    conn.execute(
        update(console_sessions)
        .where(console_sessions.c.user_id == user_id, console_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )


# -- sessions ----------------------------------------------------------------------------------


def start_session(
    ctx: WriteContext, user: User, address: str, now: datetime
) -> tuple[str, Session]:
    """The cookie (given to the browser once) and the session."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    key = digest(cookie)
    ctx.conn.execute(
        insert(console_sessions).values(
            id_hash=key,
            user_id=user.id,
            csrf=csrf,
            address=address[:64],
            created_at=now,
            last_seen=now,
        )
    )
    audit(ctx, "login", user.actor, now, address=address)
    return cookie, Session(key, user, csrf, now, now)


def end_session(ctx: WriteContext, session: Session, now: datetime, why: str) -> None:
    ctx.conn.execute(
        update(console_sessions)
        .where(console_sessions.c.id_hash == session.key, console_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )
    audit(ctx, "logout", session.actor, now, reason=why)


def load_session(conn: Connection, key: str) -> Session | None:
    row = conn.execute(
        select(console_sessions, users)
        .join(users, users.c.id == console_sessions.c.user_id)
        .where(console_sessions.c.id_hash == key, console_sessions.c.ended_at.is_(None))
    ).first()
    if row is None or row.disabled_at is not None:
        return None
    user = User(row.user_id, row.name, Role(row.role), row.unit, row.extension, False)
    return Session(key, user, row.csrf, row.created_at, row.last_seen)


def touch_session(ctx: WriteContext, key: str, now: datetime) -> None:
    ctx.conn.execute(
        update(console_sessions).where(console_sessions.c.id_hash == key).values(last_seen=now)
    )


def expired(session: Session, now: datetime, idle_s: int, max_s: int) -> str | None:
    if now - session.last_seen > timedelta(seconds=idle_s):
        return "idle"
    if now - session.created_at > timedelta(seconds=max_s):
        return "max_age"
    return None


class Throttle:
    """Failed logins per user and per address within a sliding window. In memory: on
    several nodes each counts its own, which is the same order of protection."""

    def __init__(self, failures: int, window_s: float, per_address_factor: int = 4) -> None:
        self.failures = failures
        self.window_s = window_s
        self.per_address = failures * per_address_factor
        self._seen: dict[str, list[float]] = {}

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._seen.get(key, ()) if now - t < self.window_s]
        if times:
            self._seen[key] = times
        else:
            self._seen.pop(key, None)
        return times

    def blocked(self, user: str, address: str, now: float) -> float:
        """Seconds until a login may be tried again (0: now)."""
        wait = 0.0
        for key, limit in ((f"u:{user}", self.failures), (f"a:{address}", self.per_address)):
            times = self._recent(key, now)
            if len(times) >= limit:
                wait = max(wait, times[-limit] + self.window_s - now)
        return wait

    def failed(self, user: str, address: str, now: float) -> None:
        if len(self._seen) > 100_000:  # a spray of names: forget the oldest half
            for key in list(self._seen)[:50_000]:
                del self._seen[key]
        for key in (f"u:{user}", f"a:{address}"):
            self._seen.setdefault(key, []).append(now)

    def succeeded(self, user: str) -> None:
        self._seen.pop(f"u:{user}", None)
