"""Mail out, through the site's smarthost (`smarthost`, `mail_from`): the citizen's receipts,
follow-up receipts and state updates, call-takers' replies (action ``reply``) are rows of
`mail_out`, claimed with a lease, sent, retried with backoff, and recorded on the incident
(`mail_sent`, `mail_failed`); a unit's duty notices by mail (the outbox's kind ``email``)
are sent by `duty`. One attempt is one SMTP transaction (smtplib in a thread: the
smarthost is the site's own MTA, which queues and delivers on)."""

from __future__ import annotations

import random
import smtplib
from collections.abc import Mapping
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from twisted.internet import threads
from twisted.logger import Logger

from gateway.channels.smtp import store
from gateway.channels.smtp.settings import fill, host_port
from gateway.errors import DomainError
from gateway.store.engine import StoreUnavailable
from gateway.store.tables import incidents, reports
from gateway.workflow.machine import Actor

if TYPE_CHECKING:
    from gateway.channels.smtp.service import SmtpChannel

log = Logger()

LEASE = 120.0  # seconds: longer than one SMTP transaction can take (timeout below)
TIMEOUT = 60.0


class NoMailThread(DomainError):
    kind = "conflict"


class SendFailed(Exception):
    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def send(smarthost: str, helo: str, sender: str, to: str, message: bytes) -> str:
    """One SMTP transaction (blocking: run in a thread). The smarthost's answer, or
    SendFailed (permanent for a 5xx)."""
    host, port = host_port(smarthost)
    try:
        with smtplib.SMTP(host, port, local_hostname=helo, timeout=TIMEOUT) as smtp:
            smtp.ehlo_or_helo_if_needed()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            refused = smtp.sendmail(sender, [to], message)
            if refused:
                code, reason = refused[to]
                raise SendFailed(f"{code} {reason.decode(errors='replace')}", code >= 500)
            return "250 accepted"
    except smtplib.SMTPResponseException as e:
        error = e.smtp_error
        said = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
        raise SendFailed(f"{e.smtp_code} {said}", 500 <= e.smtp_code < 600) from e
    except smtplib.SMTPRecipientsRefused as e:
        code, reason = next(iter(e.recipients.values()))
        raise SendFailed(f"{code} {reason.decode(errors='replace')}", code >= 500) from e
    except (OSError, smtplib.SMTPException) as e:
        raise SendFailed(f"{type(e).__name__}: {e}", False) from e


def compose(
    sender: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None = None,
    automatic: bool = True,
    when: Any = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{message_id}>"
    if when is not None:
        msg["Date"] = format_datetime(when)
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
        msg["References"] = f"<{in_reply_to}>"
    if automatic:  # RFC 3834: no auto-responder answers it
        msg["Auto-Submitted"] = "auto-replied" if in_reply_to else "auto-generated"
    msg.set_content(body, charset="utf-8")
    return msg.as_bytes()


class Mailer:
    def __init__(self, channel: SmtpChannel) -> None:
        self.channel = channel
        self.ctx = channel.ctx
        self.settings = channel.settings
        self._sending = False

    # -- what goes into mail_out ---------------------------------------------------------------

    def after_action(self, number: str, action: str, doc: Mapping[str, Any]) -> None:
        """A state the citizen hears about (config `updates`): one mail to each address that
        wrote to the incident, once per state."""
        template = self.settings.updates.get(str(doc.get("state")))
        if not template or not self.settings.smarthost or not self.channel.running:
            return

        async def updates() -> None:
            for to, message_id in await self.ctx.read(writers, number):
                await self.queue(
                    number,
                    "update",
                    to,
                    self.settings.update_subject,
                    template,
                    message_id,
                    dedupe=f"update:{number}:{doc['state']}:{to}"[:100],
                )

        self.channel.spawn(updates())

    async def reply(self, actor: Actor, number: str, text: str, to: str | None) -> dict[str, Any]:
        """A call-taker's answer by mail to who wrote (`to`, default the latest)."""
        if not self.settings.smarthost:
            raise NoMailThread("this gateway sends no mail (channels.smtp.smarthost is not set)")
        threads_ = await self.ctx.read(writers, number)
        if not threads_:
            raise NoMailThread(f"nobody wrote to incident {number} by mail")
        chosen = [t for t in threads_ if to is None or t[0] == to.lower()]
        if not chosen:
            known = ", ".join(t[0] for t in threads_)
            raise NoMailThread(f"{to} did not write to incident {number} (wrote: {known})")
        address, message_id = chosen[-1]
        await self.queue(
            number, "reply", address, self.settings.reply_subject, text, message_id, actor=actor
        )
        return {"queued": True, "to": address}

    async def queue(
        self,
        number: str,
        kind: str,
        to: str,
        subject: str,
        body: str,
        in_reply_to: str | None,
        dedupe: str | None = None,
        actor: Actor | None = None,
    ) -> bool:
        s = self.settings
        now = self.ctx.now()

        def write(ctx: Any) -> bool:
            incident_id, drill = store.incident(ctx.conn, number)
            fields = {"incident": number, "city": self.ctx.config.city.name}
            return store.queue_mail(
                ctx,
                incident_id,
                kind,
                to,
                fill(subject, drill, now, self.ctx.tz, **fields),
                fill(body, drill, now, self.ctx.tz, **fields) if kind != "reply" else body,
                make_msgid(kind, domain=s.hostname)[1:-1],
                in_reply_to,
                dedupe,
                drill,
                now,
                actor=actor,
                number=number,
            )

        queued: bool = await self.ctx.write(write)
        return queued

    # -- sending ---------------------------------------------------------------------------------

    async def poll(self) -> None:
        if self._sending or not self.settings.smarthost or self.channel.stopping:
            return
        self._sending = True
        try:
            now = self.ctx.now()
            if not await self.ctx.read(store.due_mail, now):
                return
            rows = await self.ctx.write(store.claim_mail, now, 10, LEASE)
            for row in rows:
                await self._send(row)
        except StoreUnavailable as e:
            log.warn("SMTP: mail out paused, store unavailable ({error})", error=e)
        finally:
            self._sending = False

    async def _send(self, row: dict[str, Any]) -> None:
        s = self.settings
        message = compose(
            s.mail_from,
            row["to_address"],
            row["subject"],
            row["body"],
            row["message_id"],
            row["in_reply_to"],
            automatic=row["kind"] != "reply",
            when=row["created_at"].astimezone(self.ctx.tz),  # the Date line in city time
        )
        try:
            answer = await threads.deferToThread(
                send, s.smarthost, s.hostname, s.mail_from, row["to_address"], message
            )
        except SendFailed as e:
            attempts = row["attempts"] + 1
            retry_at = None
            if not e.permanent and attempts < s.send_attempts:
                delay = min(s.send_retry_seconds * 2 ** (attempts - 1), 3600.0)
                retry_at = self.ctx.now() + timedelta(seconds=delay * random.uniform(0.8, 1.2))  # noqa: S311
            log.warn(
                "SMTP: mail {kind} of {incident} not sent ({error}){final}",
                kind=row["kind"],
                incident=row["number"],
                error=str(e),
                final="" if retry_at else ", given up",
            )
            await self.ctx.write(store.mail_not_sent, row, str(e), retry_at, self.ctx.now())
        else:
            await self.ctx.write(store.mail_sent, row, answer, self.ctx.now())


def writers(conn: Connection, number: str) -> list[tuple[str, str | None]]:
    """Who wrote to incident `number` by mail, oldest first, each once: (address, the
    Message-ID of their latest mail). Automatic mail and bounces are not answered."""
    out: dict[str, str | None] = {}
    rows = conn.execute(
        select(reports.c.doc)
        .join(incidents, incidents.c.id == reports.c.incident_id)
        .where(incidents.c.number == number, reports.c.channel == "email")
        .order_by(reports.c.id)
    ).scalars()
    for doc in rows:
        mail = doc.get("extra", {}).get("mail", {})
        sender = doc.get("sender", {})
        if sender.get("kind") != "email" or mail.get("auto"):
            continue
        address = sender["id"].lower()
        out.pop(address, None)
        out[address] = mail.get("message_id")
    return list(out.items())
