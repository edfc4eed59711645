"""Duty phones (值班电话): the outbox's deliveries of kind ``phone`` become calls to a unit's
duty phone (AMI Originate into ``alarmgw-notify``), which read the incident out; pressing 1
answers the notice, and the workflow decides whether that is the unit's 签收 (see
`gateway.workflow.service.Workflow.acknowledge_notice_in`). Each call carries its outbox
row's id (``ALARMGW_DELIVERY``) and the dialplan echoes it, so an answer is matched to the
very notice it answers."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from twisted.internet import defer
from twisted.logger import Logger

from gateway.channels.ami.client import AmiError, AmiUnavailable, originate_failed
from gateway.errors import DomainError
from gateway.notify.outbox import Attempt, Backoff, Delivery, Policy
from gateway.store.engine import StoreUnavailable
from gateway.workflow import records

if TYPE_CHECKING:
    from gateway.channels.ami.service import AmiChannel

log = Logger()

ACK_DIGIT = "1"
ANSWER_WAIT = 120.0  # seconds from answering for the AGI's rounds to end


def duty_calls(channel: AmiChannel) -> DutyCalls:
    """The notifier of the channel's declaration."""
    return channel.duty


class DutyCalls:
    kind = "phone"

    def __init__(self, channel: AmiChannel) -> None:
        self.channel = channel
        s = channel.settings
        self.policy = Policy(
            lease=s.ring_seconds + ANSWER_WAIT + 60,
            backoff=Backoff(s.notify_attempts, s.notify_retry_seconds, s.notify_retry_seconds * 4),
            batch=10,
            concurrency=10,
        )
        self._waiting: dict[int, asyncio.Future[str]] = {}

    def ready(self) -> bool:
        return self.channel.up

    def attempt(self, d: Delivery) -> defer.Deferred[Attempt]:
        return self.channel.as_deferred(self._call(d))

    async def _call(self, d: Delivery) -> Attempt:
        ch = self.channel
        assert ch.link is not None and ch.loop is not None
        s = ch.settings
        row = await ch.wait(ch.ctx.read(records.load, d.number))
        waiter: asyncio.Future[str] = ch.loop.create_future()
        self._waiting[d.id] = waiter
        try:
            resp = await ch.link.action(
                "Originate",
                timeout=s.ring_seconds + 15,
                Channel=s.notify_dial.format(number=d.target),
                Context=s.notify_context,
                Exten="s",
                Priority="1",
                CallerID='"110指挥中心" <110>',
                Timeout=str(s.ring_seconds * 1000),
                Async="true",
                Variable=[
                    f"ALARMGW_DELIVERY={d.id}",
                    f"ALARMGW_INCIDENT={d.number}",
                    f"ALARMGW_UNIT={d.unit or ''}",
                    f"ALARMGW_CATEGORY={row['category'] or 'other'}",
                    f"ALARMGW_DRILL={1 if d.drill else 0}",
                ],
            )
            failed = originate_failed(resp)
            answer = "" if failed else await asyncio.wait_for(asyncio.shield(waiter), ANSWER_WAIT)
        except (AmiUnavailable, AmiError) as e:
            failed, answer = str(e), ""
        except TimeoutError:
            failed, answer = None, "timeout"
        finally:
            self._waiting.pop(d.id, None)
        if failed:
            return Attempt("retry", f"not answered: {failed}"[:200])
        if answer != ACK_DIGIT:
            return Attempt("retry", "answered but not acknowledged")
        await self._acknowledge(d)
        return Attempt("delivered")

    def answered(self, ev: Mapping[str, str]) -> None:
        """``AlarmgwNotifyAck`` (Digit 1) or ``AlarmgwNotifyResult`` (no 1) of a duty call."""
        delivery = ev.get("Delivery", "")
        known = delivery.isascii() and delivery.isdigit()  # "²" is a digit to isdigit()
        waiter = self._waiting.get(int(delivery)) if known else None
        if waiter is None or waiter.done():
            return
        digit = ev.get("Digit", "") if ev.get("UserEvent") == "AlarmgwNotifyAck" else ""
        waiter.set_result(digit)

    async def _acknowledge(self, d: Delivery) -> None:
        ch = self.channel
        reason = "值班电话按键 1 签收 (acknowledged by phone, DTMF 1)"
        delay = 0.1
        while True:
            try:
                outcome = await ch.wait(ch.ctx.acknowledge_notice(d.id, reason))
                break
            except StoreUnavailable as e:  # the officer pressed 1: that must not be lost
                if not ch.running:
                    log.warn("AMI: acknowledgement of {n} not stored: {e}", n=d.number, e=e)
                    return
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
            except DomainError as e:
                log.warn("AMI: acknowledgement by phone of {n} refused: {e}", n=d.number, e=e)
                return
        log.info(
            "AMI: {unit} answered the notice of {incident} by phone: {outcome}",
            unit=d.unit,
            incident=d.number,
            outcome=outcome,
        )
