"""Duty notices by mail: the outbox's deliveries of kind ``email`` send a unit's duty
mailbox the incident, through the smarthost. The unit acknowledges (签收) on the console or
by its duty phone: a mail answer is not taken as one (anyone can forge a From line)."""

from __future__ import annotations

from email.utils import make_msgid
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, threads

from gateway.channels.smtp.mailer import LEASE, SendFailed, compose, send
from gateway.channels.smtp.settings import fill
from gateway.notify.outbox import Attempt, Backoff, Delivery, Policy
from gateway.workflow import records

if TYPE_CHECKING:
    from gateway.channels.smtp.service import SmtpChannel


def duty_notices(channel: SmtpChannel) -> MailNotices:
    """The notifier of the channel's declaration."""
    return channel.duty


class MailNotices:
    kind = "email"

    def __init__(self, channel: SmtpChannel) -> None:
        self.channel = channel
        self.ctx = channel.ctx
        s = channel.settings
        self.policy = Policy(
            lease=LEASE,
            backoff=Backoff(s.send_attempts, s.send_retry_seconds, s.send_retry_seconds * 16),
            batch=10,
            concurrency=4,
        )

    def ready(self) -> bool:
        return bool(self.channel.settings.smarthost)

    def attempt(self, d: Delivery) -> defer.Deferred[Attempt]:
        return defer.ensureDeferred(self._send(d))

    async def _send(self, d: Delivery) -> Attempt:
        s = self.channel.settings
        row = await self.ctx.read(records.load, d.number)
        fields = self.fields(row)
        now = self.ctx.now()
        message = compose(
            s.mail_from,
            d.target,
            fill(s.notify_subject, d.drill, now, self.ctx.tz, **fields),
            fill(s.notify_text, d.drill, now, self.ctx.tz, **fields),
            make_msgid(f"notice.{d.id}", domain=s.hostname)[1:-1],
            when=now.astimezone(self.ctx.tz),
        )
        try:
            await threads.deferToThread(
                send, s.smarthost, s.hostname, s.mail_from, d.target, message
            )
        except SendFailed as e:
            return Attempt("gave_up" if e.permanent else "retry", str(e)[:200])
        return Attempt("delivered")

    def fields(self, row: Any) -> dict[str, str]:
        location = records.snapshot(row).location or {}
        category = self.ctx.config.categories.get(row["category"]) if row["category"] else None
        return {
            "incident": row["number"],
            "city": self.ctx.config.city.name,
            "category": category.name if category is not None else "未分类",
            "priority": row["priority"] or "-",
            "summary": (row["summary"] or "").strip()[:200],
            "address": location.get("address") or "未知",
        }
