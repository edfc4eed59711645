"""Console sessions over HTTP: the cookie, its look-up (briefly cached), idle and maximum
age, login with throttling, logout. Every login, failure, refusal and logout lands in the
audit log (`accounts.audit`)."""

from __future__ import annotations

import functools
import hmac
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from twisted.internet import threads
from twisted.logger import Logger

from gateway.config import ConsoleSettings
from gateway.console import accounts
from gateway.console.accounts import Session, Throttle
from gateway.workflow.machine import SYSTEM, Actor

log = Logger()

COOKIE = b"alarmgw_session"
TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most this often
CACHE_S = 5.0  # a disabled user or ended session is noticed within this


class LoginRefused(Exception):
    """A login that did not succeed; the message is for the person (Chinese)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class LiveSession:
    """A session as a request holds it (`gateway.http.resource.Call.session`)."""

    session: Session

    @property
    def actor(self) -> Actor:
        return self.session.actor

    @property
    def user(self) -> accounts.User:
        return self.session.user

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def csrf_matches(self, sent: str) -> bool:
        return bool(sent) and hmac.compare_digest(sent.encode(), self.session.csrf.encode())


def client_address(request: Any) -> str:
    """The browser's address. Behind a reverse proxy on this host, nginx's
    X-Forwarded-For (its last entry, the one nginx added) — not trusted from elsewhere."""
    peer = getattr(request.getClientAddress(), "host", "") or ""
    if peer in ("127.0.0.1", "::1"):
        forwarded = request.getHeader(b"x-forwarded-for")
        if forwarded:
            return str(forwarded.decode("latin-1").split(",")[-1].strip()[:64])
    return str(peer)


def is_secure(request: Any) -> bool:
    if request.isSecure():
        return True
    proto = request.getHeader(b"x-forwarded-proto") or b""
    return proto.strip().lower() == b"https"


class Sessions:
    def __init__(self, db: Any, clock: Any, settings: ConsoleSettings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.throttle = Throttle(settings.login_failures, settings.login_window_s)
        self._cache: dict[str, tuple[float, Session | None]] = {}

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    @staticmethod
    def login_url(call: Any) -> str:
        path = call.request.uri.decode("latin-1")
        return "/console/login" + (f"?next={quote(path, safe='')}" if path.startswith("/") else "")

    # -- a request's session ------------------------------------------------------------------

    async def of(self, call: Any) -> LiveSession | None:
        cookie = call.request.getCookie(COOKIE)
        if not cookie:
            return None
        key = accounts.digest(cookie.decode("latin-1"))
        hit = self._cache.get(key)
        cached = hit is not None and hit[0] > time.monotonic()
        if hit is not None and cached:
            session = hit[1]
        else:
            # Read again at least every CACHE_S: a disabled user or a session ended on
            # another node is noticed within that.
            session = await self.db.read(accounts.load_session, key)
            self._remember(key, session)
        if session is None:
            return None
        now = self.now()
        why = accounts.expired(
            session, now, self.settings.idle_timeout_s, self.settings.session_max_s
        )
        if why is not None:
            self._remember(key, None)
            await self.db.write(accounts.end_session, session, now, why)
            return None
        if now - session.last_seen >= TOUCH_EVERY:
            session = replace(session, last_seen=now)
            if hit is not None and cached:
                self._cache[key] = (hit[0], session)  # keep its time of reading
            self.db.write(accounts.touch_session, key, now).addErrback(
                lambda f: log.warn("Console: could not note a session's use: {f}", f=f.value)
            )
        return LiveSession(session)

    def _remember(self, key: str, session: Session | None) -> None:
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + CACHE_S, session)

    def forget(self, key: str) -> None:
        self._cache.pop(key, None)

    # -- login and logout ---------------------------------------------------------------------

    async def login(self, name: str, password: str, address: str) -> tuple[str, Session]:
        now_s = self.clock.seconds()
        now = self.now()
        who = SYSTEM  # the gateway records it; the name tried is in the event's data
        wait = self.throttle.blocked(name, address, now_s)
        if wait > 0:
            await self.db.write(
                functools.partial(
                    accounts.audit, user=name[:64], address=address, reason="throttled"
                ),
                "login_refused",
                who,
                now,
            )
            minutes = max(1, round(wait / 60))
            raise LoginRefused(f"登录失败次数过多，请约 {minutes} 分钟后再试。", 429)
        found = await self.db.read(accounts.find_user, name) if name else None
        user, password_hash = found if found is not None else (None, None)
        good = await threads.deferToThread(accounts.verify, password_hash, password)
        if user is None or not good or user.disabled:
            self.throttle.failed(name, address, now_s)
            reason = "unknown_user" if user is None else "disabled" if good else "wrong_password"
            await self.db.write(
                functools.partial(accounts.audit, user=name[:64], address=address, reason=reason),
                "login_failed",
                who,
                now,
            )
            raise LoginRefused("用户名或密码错误，或账号已停用。")
        self.throttle.succeeded(name)
        return await self.db.write(accounts.start_session, user, address, now)  # type: ignore[no-any-return]

    async def logout(self, live: LiveSession, why: str = "logout") -> None:
        self.forget(live.session.key)
        await self.db.write(accounts.end_session, live.session, self.now(), why)

    def cookie(self, value: str, secure: bool, clear: bool = False) -> bytes:
        parts = [
            f"{COOKIE.decode()}={'' if clear else value}",
            "Path=/",
            "HttpOnly",
            "SameSite=Strict",
        ]
        if clear:
            parts.append("Max-Age=0")
        else:
            parts.append(f"Max-Age={self.settings.session_max_s}")
        if secure:
            parts.append("Secure")
        return "; ".join(parts).encode()
