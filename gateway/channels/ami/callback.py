"""回拨: a call-taker rings back the caller of an incident's 110 call (the ``callback``
action). Asterisk rings the call-taker's softphone first, then the caller (AMI Originate
into the ``alarmgw-callback`` context); the dialplan reports how it went
(``AlarmgwCallbackEnd``) and that lands on the incident as a ``callback_result`` event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from gateway.channels.ami import store
from gateway.channels.ami.calls import calltaker_id, seconds
from gateway.channels.ami.client import AmiError, AmiUnavailable, originate_failed
from gateway.errors import DomainError
from gateway.workflow.machine import Actor
from gateway.workflow.table import Role

if TYPE_CHECKING:
    from gateway.channels.ami.service import AmiChannel

log = Logger()

CALLBACK_STATUS = {"ANSWER": "connected", "NOANSWER": "no_answer", "BUSY": "busy"}


class NoCallToReturn(DomainError):
    kind = "conflict"


class Callbacks:
    def __init__(self, channel: AmiChannel) -> None:
        self.channel = channel

    async def start(self, number: str, actor: Actor, calltaker: str) -> dict[str, Any]:
        """Ring `calltaker`'s softphone, then the caller of incident `number`'s call."""
        ch = self.channel
        if not ch.up:
            raise AmiUnavailable("the AMI link to Asterisk is down")
        target = await ch.wait(ch.ctx.read(store.callback_target, number))
        if target is None:
            raise NoCallToReturn(f"incident {number} has no call with a number to ring back")
        caller = target["caller"]
        data = {"calltaker": calltaker, "number": caller}
        await ch.store(
            "callback start",
            store.set_callback,
            target["linkedid"],
            "calling",
            "callback_started",
            actor,
            data,
            ch.now(),
            True,
        )
        ch.spawn(self._originate(number, target["linkedid"], caller, calltaker))
        return {"incident": number, "callback": dict(data, status="calling")}

    async def _originate(self, number: str, linkedid: str, caller: str, calltaker: str) -> None:
        ch = self.channel
        assert ch.link is not None
        s = ch.settings
        try:
            resp = await ch.link.action(
                "Originate",
                timeout=s.ring_seconds + 15,
                Channel=s.calltaker_dial.format(calltaker=calltaker),
                Context=s.callback_context,
                Exten=caller,
                Priority="1",
                CallerID=f'"110回拨" <{caller}>',
                Timeout=str(s.ring_seconds * 1000),
                Async="true",
                Variable=[f"ALARMGW_INCIDENT={number}", f"ALARMGW_CALLTAKER={calltaker}"],
            )
            failed = originate_failed(resp)
        except (AmiUnavailable, AmiError) as e:
            failed = str(e)
        if failed is None:
            return  # the dialplan's AlarmgwCallbackEnd tells how it went
        log.warn("AMI: callback for {incident} failed: {why}", incident=number, why=failed)
        data = {"calltaker": calltaker, "status": "failed", "error": failed}
        await ch.store(
            "callback result",
            store.set_callback,
            linkedid,
            "failed",
            "callback_result",
            _calltaker(calltaker),
            data,
            ch.now(),
        )

    async def ended(self, ev: Mapping[str, str]) -> None:
        """``AlarmgwCallbackEnd``: the callback's outcome, on the call and the incident."""
        ch = self.channel
        number = ev.get("Incident", "")
        dialstatus = (ev.get("Status") or "").upper()
        status = CALLBACK_STATUS.get(dialstatus, "failed")
        answered = seconds(ev.get("Answered"))
        calltaker = ev.get("Calltaker") or calltaker_id(ev.get("Channel", "").rsplit("-", 1)[0])
        try:
            target = await ch.wait(ch.ctx.read(store.callback_target, number))
        except DomainError:
            log.warn("AMI: callback end for unknown incident {n!r}", n=number)
            return
        if target is None:
            return
        data = {
            "calltaker": calltaker,
            "status": status,
            "dialstatus": dialstatus or None,
            "talk_s": answered,
        }
        await ch.store(
            "callback result",
            store.set_callback,
            target["linkedid"],
            status,
            "callback_result",
            _calltaker(calltaker),
            data,
            ch.now(),
        )
        log.info("AMI: callback for {incident}: {status}", incident=number, status=status)


def _calltaker(calltaker: str) -> Actor:
    return Actor(f"calltaker:{calltaker}", Role.SYSTEM, None)
