"""Duty phones by SMS (值班手机): the outbox's deliveries of kind ``sms`` send a unit's duty
phone the incident; an answer such as ``1 530100-20261124-000003`` from that phone answers
the notice it got about that incident, and the workflow decides whether that is the unit's
签收 (see `gateway.workflow.service.Workflow.acknowledge_notice_in`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

from gateway import phone
from gateway.channels.smpp import store
from gateway.channels.smpp.esme import SmppUnavailable, SubmitRefused
from gateway.errors import DomainError
from gateway.intake import mask_phone
from gateway.notify.outbox import Attempt, Backoff, Delivery, Policy
from gateway.orgtree import OrgTree
from gateway.workflow import records

if TYPE_CHECKING:
    from gateway.channels.smpp.service import SmppChannel

log = Logger()


def duty_notices(channel: SmppChannel) -> DutyNotices:
    """The notifier of the channel's declaration."""
    return channel.duty


class DutyNotices:
    kind = "sms"

    def __init__(self, channel: SmppChannel) -> None:
        self.channel = channel
        self.ctx = channel.ctx
        s = channel.settings
        self.policy = Policy(
            lease=s.response_timeout * 10 + 30,
            backoff=Backoff(s.send_attempts, s.send_retry_seconds, s.send_retry_seconds * 8),
            batch=10,
            concurrency=1,  # one at a time: they share the sender's tps with the replies
        )
        self.ack_re = re.compile(s.ack_pattern)
        self.numbers = duty_numbers(self.ctx.org)
        self._cut_off: dict[int, _CutOff] = {}  # by delivery id

    # -- out: the notice (one outbox attempt) ----------------------------------------------------

    def ready(self) -> bool:
        return self.channel.sender.can_send()

    def attempt(self, d: Delivery) -> defer.Deferred[Attempt]:
        return defer.ensureDeferred(self._send(d))

    async def _send(self, d: Delivery) -> Attempt:
        sender = self.channel.sender
        cut = self._cut_off.pop(d.id, None)
        if cut is None:
            row = await self.ctx.read(records.load, d.number)
            cut = _CutOff(self.text(row, d.drill), sender.next_ref(), [])
        taken = cut.taken
        try:
            await sender.submit(d.target, cut.text, cut.ref, {seq for seq, _ in taken}, taken)
        except SubmitRefused as e:
            if e.throttled:  # not the duty phone's fault: not an attempt
                attempt = Attempt("later", str(e)[:200], retry_at=sender.pause())
            else:
                attempt = Attempt("retry", str(e)[:200])
        except SmppUnavailable as e:
            attempt = Attempt("retry", str(e)[:200])
        else:
            sender.resumed()
            await self.ctx.write(
                store.notice_sent, d.number, d.target, cut.text, cut.ref, taken, sender.now()
            )
            return Attempt("delivered")
        if taken and (
            attempt.verdict == "later" or d.attempts + 1 < self.policy.backoff.max_attempts
        ):
            self._cut_off[d.id] = cut  # the next attempt sends the rest
        return attempt

    def text(self, row: Any, drill: bool) -> str:
        location = records.snapshot(row).location or {}
        category = self.ctx.config.categories.get(row["category"]) if row["category"] else None
        return self.channel.sender.fill(
            self.channel.settings.notify_text,
            row["number"],
            drill,
            category=category.name if category is not None else "未分类",
            priority=row["priority"] or "-",
            summary=(row["summary"] or "").strip()[:60],
            address=location.get("address") or "未知",
        )

    # -- in: the duty phone's answer ------------------------------------------------------------

    async def answer(self, source: str, text: str) -> bool:
        """An SMS from a registered duty phone that matches `ack_pattern` answers a notice:
        True when it was one (it is not a citizen's alarm then)."""
        number = phone.normalise(source)
        match = self.ack_re.match(text) if number in self.numbers else None
        if match is None:
            return False
        incident = match.group("incident")
        notices = await self.ctx.read(records.notices, incident, self.kind)
        notice = next((n for n in notices if phone.normalise(n.target) == number), None)
        if notice is None:
            log.warn(
                "SMPP: {who} answered {n}, but no notice of it was sent to that phone",
                who=mask_phone(number),
                n=incident,
            )
            return True
        reason = "值班手机短信回复签收 (acknowledged by SMS)"
        try:
            outcome = await self.ctx.acknowledge_notice(notice.id, reason)
        except DomainError as e:
            log.warn("SMPP: acknowledgement by SMS of {n} refused: {e}", n=incident, e=e)
            return True
        log.info(
            "SMPP: {who} answered the notice of {n} for {unit}: {outcome}",
            who=mask_phone(number),
            n=incident,
            unit=notice.unit,
            outcome=outcome,
        )
        return True


@dataclass
class _CutOff:
    """A notice the SMSC took some parts of before it refused one (a long notice is two
    or three parts): the next attempt of its delivery sends the other parts of the same
    text under the same concatenation reference, so that the duty phone puts them together
    (the whole notice again would leave it a fragment that never completes, and the message
    ids of the parts taken would be lost to their delivery receipts). Kept in memory: after
    a restart, or on another node, the notice goes whole again."""

    text: str
    ref: int
    taken: list[tuple[int, str]]  # (seq, message id) of the parts the SMSC took


def duty_numbers(org: OrgTree) -> dict[str, frozenset[str]]:
    """Registered duty numbers (notify targets of kind sms) → the units they answer for."""
    out: dict[str, set[str]] = {}
    for unit in org.units():
        for target in unit.notify:
            if target.kind == "sms":
                out.setdefault(phone.normalise(target.address), set()).add(unit.code)
    return {k: frozenset(v) for k, v in out.items()}
