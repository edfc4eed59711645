"""The SMTP server (aiosmtpd, on the reactor's asyncio loop): who may send what, and the
answer to each command. What a message becomes is the channel's (`service.SmtpChannel`).

- RCPT: only our alarm and fax addresses (550 for any other: never an open relay).
- MAIL: a client outside `trusted_networks` must have authenticated when AUTH is set up
  (530); each client address has a message rate (451 over it) and a number of connections
  at once (421 at connect over it), so that a flood cannot fill the store.
- DATA: over `max_message_size` is 552 (aiosmtpd's own check); otherwise 250 only after
  the commit, 451 when the store fails or anything of ours goes wrong: aiosmtpd answers an
  exception with a permanent 500, which would bounce an alarm.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import re
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from twisted.logger import Logger

from gateway.channels.smtp.settings import SmtpSettings

log = Logger()

TEMPORARY = "451 4.3.0 Alarm not stored this time, please try again later"


class RateLimiter:
    """Per client address: messages in a sliding window, and connections at once."""

    def __init__(self, settings: SmtpSettings, clock: Callable[[], float]) -> None:
        self.rate = settings.rate
        self.exempt = settings.networks(settings.rate_exempt)
        self.clock = clock
        self._sent: dict[str, deque[float]] = {}
        self._open: dict[str, int] = {}

    def limited(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return True
        return not any(address in n for n in self.exempt)

    def connect(self, ip: str) -> bool:
        if self.limited(ip) and self._open.get(ip, 0) >= self.rate.connections:
            return False
        self._open[ip] = self._open.get(ip, 0) + 1
        return True

    def disconnect(self, ip: str) -> None:
        n = self._open.get(ip, 0) - 1
        if n > 0:
            self._open[ip] = n
        else:
            self._open.pop(ip, None)

    def message(self, ip: str) -> bool:
        """One more message from `ip`: False when it is over its rate."""
        if not self.limited(ip):
            return True
        now = self.clock()
        window = self._sent.setdefault(ip, deque())
        while window and window[0] <= now - self.rate.seconds:
            window.popleft()
        if len(window) >= self.rate.messages:
            return False
        window.append(now)
        return True

    def forget_idle(self) -> None:
        now = self.clock()
        for ip in [ip for ip, w in self._sent.items() if not w or w[-1] <= now - self.rate.seconds]:
            del self._sent[ip]


Receive = Callable[[Session, Envelope], Awaitable[str]]


class Handler:
    """aiosmtpd's handler: the hooks of RCPT, MAIL, DATA and exceptions."""

    def __init__(self, settings: SmtpSettings, limiter: RateLimiter, receive: Receive) -> None:
        self.settings = settings
        self.limiter = limiter
        self.receive = receive
        self.trusted = settings.networks(settings.trusted_networks)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        ip = _ip(session)
        if self.settings.auth_users and not session.authenticated and not self._trusted(ip):
            return "530 5.7.0 Authentication required"
        if not self.limiter.message(ip):
            log.warn("SMTP: {client} is over its message rate", client=ip)
            return f"451 4.7.1 Too many messages from {ip}, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.settings.kind_of(address) is None:
            # RFC 5321 §3.6.2: a server that is not a relay refuses other domains' mail.
            return f"550 5.1.1 <{address}>: no such alarm address here (not a relay)"
        if len(envelope.rcpt_tos) >= 100:  # RFC 5321 §4.5.3.1.8's minimum
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return await self.receive(session, envelope)

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP: {error!r} in a session, answered 451", error=error)
        return TEMPORARY

    def _trusted(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in n for n in self.trusted)


# A reverse-path or forward-path as clients send it: `<local@domain>` and parameters, the
# local part a dot-string, the domain a name (RFC 5321 §4.1.2). Anything else (quoted local
# parts, address literals, the null path `<>`, no brackets) goes to aiosmtpd's own parser.
_PLAIN_PATH = re.compile(
    r"\s*<((?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(?P<rest>(?:\s.*)?)",
    re.DOTALL,
)


class Server(SMTP):
    """One client's session; refuses a client over its connections at once with 421."""

    def __init__(self, handler: Handler, limiter: RateLimiter, **kw: Any) -> None:
        super().__init__(handler, **kw)
        self.limiter = limiter
        self._client: str | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # the connection itself, not its switch to TLS
            peer = transport.get_extra_info("peername")
            ip = str(peer[0]) if peer else "?"
            if not self.limiter.connect(ip):
                self._refused = True
                log.warn("SMTP: {client} has too many connections open", client=ip)
                transport.write(f"421 4.7.0 Too many connections from {ip}\r\n".encode())  # type: ignore[attr-defined]
                transport.close()
                return
            self._client = ip
        super().connection_made(transport)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """The usual `<a@b.c> PARAMS` without email's header parser (aiosmtpd's takes a
        sixth of the listener's time on a plain message); the same answer."""
        m = _PLAIN_PATH.fullmatch(arg) if arg else None
        if m is None:
            try:
                return super()._getaddr(arg)
            except Exception:  # noqa: BLE001 - its parser trips on some malformed paths:
                return None, None  # a syntax error for the client (501/553), not our 451
        if self.local_part_limit and len(m["local"]) > self.local_part_limit:
            return None, None
        return m[1], m["rest"].lstrip()

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._client is not None:
            self.limiter.disconnect(self._client)
            self._client = None
        super().connection_lost(error)


def authenticator(users: dict[str, str]) -> Callable[..., AuthResult]:
    """SMTP AUTH PLAIN/LOGIN against `user → sha256:<hex>` (long random secrets, as the
    API tokens: a plain hash is enough)."""

    def check(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = data.login.decode("utf-8", "replace")
        want = users.get(user)
        got = "sha256:" + hashlib.sha256(data.password).hexdigest()
        ok = want is not None and hmac.compare_digest(want, got)
        if not ok:
            log.warn("SMTP: AUTH failed for {user!r}", user=user[:64])
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    return check


def tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


def _ip(session: Session) -> str:
    peer = session.peer
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"
