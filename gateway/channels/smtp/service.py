"""The e-mail channel: mail to the alarm addresses and fax-to-mail become reports, the
citizen is answered by mail, and units can be notified by mail.

- the listener (`listener`, aiosmtpd on the reactor's asyncio loop, not its `Controller`,
  which would run a loop of its own in a thread): each message is read (`mime`), filed
  (`inbound`) and submitted with its bytes (a large one through the spool); 250 only after
  the commit (`intake.MailIntake` stores the raw message and the attachments in the same
  transaction). The commit is shielded from the client: one that hangs up after DATA does
  not cancel it.
- `faxreader`: after the commit, each fax document becomes page images and, in worker
  processes, OCR text; the report never waits for it.
- `mailer`: the mail the gateway sends (receipts, state updates, call-takers' replies, duty
  notices of the notify kind ``email``) goes out through the site's smarthost.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session
from twisted.application.service import Service
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.channel import ChannelContext
from gateway.channels.smtp import mime, ocr
from gateway.channels.smtp.duty import MailNotices
from gateway.channels.smtp.faxreader import FaxReader
from gateway.channels.smtp.inbound import INLINE_MAX, Envelope, Filed, file_mail, inline
from gateway.channels.smtp.listener import (
    TEMPORARY,
    Handler,
    RateLimiter,
    Server,
    authenticator,
    tls_context,
)
from gateway.channels.smtp.mailer import Mailer
from gateway.channels.smtp.settings import SmtpSettings
from gateway.channels.smtp.spool import Spool
from gateway.errors import DomainError
from gateway.reactor import event_loop
from gateway.report import Receipt
from gateway.service import InFlight, every
from gateway.store.engine import StoreUnavailable

log = Logger()


class SmtpChannel(Service):
    name = "smtp"  # type: ignore[assignment]

    def __init__(self, ctx: ChannelContext, poll_interval: float = 0.5) -> None:
        self.ctx = ctx
        self.settings: SmtpSettings = ctx.settings
        self.metrics: Any = ctx.metrics
        self.clock = ctx.clock
        self.poll_interval = poll_interval
        self.spool = Spool(self.settings.spool)
        self.limiter = RateLimiter(self.settings, self.clock.seconds)
        self.handler = Handler(self.settings, self.limiter, self.receive)
        self.mailer = Mailer(self)
        self.fax = FaxReader(self)
        self.duty = MailNotices(self)
        self.server: asyncio.AbstractServer | None = None
        self.port: int | None = None  # the port listened on (settings.port 0: any free one)
        self.stopping = False
        self.inflight = InFlight(ctx.clock, "SMTP")
        self._loops: list[task.LoopingCall] = []
        self._unsubscribe: Callable[[], None] | None = None

    # -- life cycle ----------------------------------------------------------------------

    @defer.inlineCallbacks
    def startService(self) -> Any:
        super().startService()
        left = yield threads.deferToThread(self.spool.clear)
        if left:
            log.info("SMTP: cleared {n} spool files of an earlier run (never acknowledged)", n=left)
        if self.settings.ocr and self.settings.fax_recipients:
            missing = yield threads.deferToThread(ocr.available, self.settings.ocr_lang)
            if missing:  # said once at start, not only as each fax's failed reading
                log.warn("SMTP: fax pages will be imaged but not read: {why}", why=missing)
        loop = event_loop(self.ctx.reactor)
        s = self.settings
        tls = tls_context(s)

        def session() -> Server:
            return Server(
                self.handler,
                self.limiter,
                loop=loop,
                hostname=s.hostname,
                ident="alarmgw ESMTP",
                data_size_limit=s.max_message_size,
                enable_SMTPUTF8=True,
                tls_context=tls,
                require_starttls=s.require_tls,
                timeout=s.timeout,
                auth_require_tls=not s.auth_plaintext,
                authenticator=authenticator(dict(s.auth_users)) if s.auth_users else None,
            )

        self.server = server = yield defer.Deferred.fromFuture(
            asyncio.ensure_future(loop.create_server(session, s.host, s.port), loop=loop)
        )
        self.port = server.sockets[0].getsockname()[1]
        log.info("SMTP: listening on {host}:{port}", host=s.host, port=self.port)
        for fn, interval in (
            (self.fax.poll, self.poll_interval),
            (self.mailer.poll, self.poll_interval),
            (self.limiter.forget_idle, 60.0),
        ):
            self._loops.append(every(self.clock, interval, fn, "SMTP"))
        self._unsubscribe = self.ctx.on_action(self.mailer.after_action)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        self.stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        for loop_call in self._loops:
            if loop_call.running:
                loop_call.stop()
        if self.server is not None:
            self.server.close()  # no new clients; a message in DATA finishes below
        yield self.inflight.drain()  # commits in flight are answered first (bounded)
        yield self.fax.stop()

    def now(self) -> datetime:
        return self.ctx.now()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> defer.Deferred[Any]:
        """Run `coro` (it awaits Deferreds); a stop waits for it (bounded)."""
        return self.inflight.spawn(coro)

    def track(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        """A stop waits for `d` (bounded)."""
        return self.inflight.track(d)

    # -- a message (DATA) ------------------------------------------------------------------------

    async def receive(self, session: Session, envelope: SmtpEnvelope) -> str:
        """The answer to one message's DATA: 250 after commit, else 451."""
        if self.stopping:
            return "421 4.3.2 Service shutting down, try again later"
        received_at = self.now()
        peer = session.peer
        smtp_envelope = Envelope(
            # aiosmtpd gives the null sender of a bounce (MAIL FROM:<>) as "<>".
            mail_from=envelope.mail_from if envelope.mail_from not in (None, "", "<>") else None,
            recipients=tuple(dict.fromkeys(r.lower() for r in envelope.rcpt_tos)),
            client=str(peer[0]) if isinstance(peer, tuple) and peer else "?",
            helo=session.host_name,
            user=session.auth_data if isinstance(session.auth_data, str) else None,
        )
        raw = envelope.original_content or b""
        try:
            if len(raw) <= INLINE_MAX:  # a few hundred µs: not worth a thread's round trip
                filed = self._prepare(raw, smtp_envelope, received_at)
            else:
                filed = await defer.Deferred.asFuture(
                    threads.deferToThread(self._prepare, raw, smtp_envelope, received_at),
                    event_loop(self.ctx.reactor),
                )
        except Exception as e:  # noqa: BLE001 - the spool is a disk: full, gone, …
            log.error("SMTP: message not spooled ({error}), answered 451", error=e)
            return self.answered(TEMPORARY, "?")
        # The commit is the Deferred's, not this coroutine's: a client that hangs up cancels
        # the coroutine (aiosmtpd does), the shield keeps that from reaching the commit.
        d = self.track(self.ctx.submit(filed.report).addBoth(self._answer, filed))
        answer: str = await asyncio.shield(d.asFuture(event_loop(self.ctx.reactor)))
        return answer

    def answered(self, answer: str, channel: str) -> str:
        self.metrics.answers.labels(answer[:3], channel).inc()
        return answer

    def _prepare(self, raw: bytes, envelope: Envelope, received_at: datetime) -> Filed:
        """Read and file one message; its blobs go to the intake hook with the report when
        the message is small, else through the spool (a large one, in a thread)."""
        mail = mime.parse(raw, envelope.mail_from)
        filed = file_mail(raw, mail, envelope, self.settings, received_at)
        if len(raw) <= INLINE_MAX:
            return inline(filed)
        held: list[str] = []
        try:
            for b in filed.blobs:
                self.spool.hold(b.sha256, b.data)
                held.append(b.sha256)
        except BaseException:
            for sha in held:
                self.spool.release(sha)
            raise
        return dataclasses.replace(filed, spooled=True)

    def _answer(self, result: Receipt | Failure, filed: Filed) -> str:
        """The answer to DATA once the store has spoken."""
        report = filed.report
        if filed.spooled:
            for b in filed.blobs:
                self.spool.release(b.sha256)
        if isinstance(result, Receipt):
            ok = f"250 2.0.0 OK alarm stored: incident {result.incident}, receipt {result.receipt}"
            return self.answered(ok, report.channel)
        if result.check(StoreUnavailable):
            log.warn("SMTP: report not stored ({error}), answered 451", error=result.value)
        elif result.check(DomainError):  # a report we filed wrong is our bug: sent again
            log.error("SMTP: report refused ({error}), answered 451", error=result.value)
        else:  # never a 5xx for our own fault
            log.failure("SMTP: report not stored, answered 451", result)
        return self.answered(TEMPORARY, report.channel)
