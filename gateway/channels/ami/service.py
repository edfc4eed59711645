"""The AMI channel: 110 calls from Asterisk become reports, followed until they end.

- A call is filed **when it arrives** (the dialplan's ``AlarmgwCall`` event), before anyone
  answers: a caller who gives up in the queue has still raised an alarm. Its report is
  (channel ``phone``, external_id = Linkedid), so filing it again is harmless.
- Each milestone (queued, ringing, answered, queue timeout, ended, abandoned) updates the
  call's row, in order per call, after its report is stored; answered / ended / abandoned
  also go to the incident's audit log. An abandoned call gets a callback task.
- After every (re)connect the channel reconciles with Asterisk's own state
  (CoreShowChannels, QueueStatus): a call that arrived while the link was down is filed now,
  and one we followed that ended meanwhile is closed.
- ``callback`` rings a call-taker's softphone and then the caller (AMI Originate into the
  ``alarmgw-callback`` context); the dialplan reports the outcome (``AlarmgwCallbackEnd``).
- Phone deliveries of the outbox (a unit's notify target of kind ``phone``) become calls
  to the duty phone (``alarmgw-notify``); pressing 1 acknowledges the incident through
  the normal workflow action.

Everything here runs on the reactor's asyncio loop; store calls (Deferreds) are awaited
through ``Deferred.asFuture``. Store failures are retried: a call is never dropped.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from gateway.channels.ami.calls import (
    Arrived,
    Call,
    CallTracker,
    Change,
    Progress,
    calltaker_id,
    clean_name,
    clean_number,
    duration,
    end,
    seconds,
)
from gateway.channels.ami.client import AmiError, AmiLink, AmiUnavailable
from gateway.errors import DomainError
from gateway.intake import mask_phone
from gateway.notify.webhook import Attempt, Backoff, any_due, claim, record_attempt
from gateway.report import InvalidReport, Report, Sender
from gateway.store.db import StoreUnavailable
from gateway.workflow import calls as store_calls
from gateway.workflow import records
from gateway.workflow.machine import Actor
from gateway.workflow.table import Role

log = Logger()
T = TypeVar("T")

CALLBACK_STATUS = {"ANSWER": "connected", "NOANSWER": "no_answer", "BUSY": "busy"}


@dataclass(frozen=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "alarmgw"
    secret: str = ""
    queues: tuple[str, ...] = ("calltakers", "calltakers-overflow")
    calltaker_dial: str = "PJSIP/{calltaker}"
    callback_context: str = "alarmgw-callback"
    notify_dial: str = "PJSIP/{number}@carrier"
    notify_context: str = "alarmgw-notify"
    ring_seconds: int = 30
    notify_attempts: int = 3
    notify_retry_seconds: float = 60.0
    action_timeout: float = 5.0
    ping_interval: float = 5.0
    reconnect_max: float = 30.0

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> AmiSettings:
        """`raw` has passed `schemas/config.schema.json` (channels.ami)."""
        fields = {k: v for k, v in raw.items() if k != "enabled"}
        if "queues" in fields:
            fields["queues"] = tuple(fields["queues"])
        return cls(**fields)


class NoCallToReturn(DomainError):
    kind = "conflict"


def report_of(call: Call) -> Report:
    """The report a 110 call files at arrival."""
    caller = call.caller or f"anonymous-{call.linkedid}"  # never correlate withheld numbers
    shown = call.caller or "号码未显示"
    text = f"110来电 {shown}" + ("（演练）" if call.drill else "")
    return Report(
        channel=store_calls.CHANNEL,
        external_id=call.linkedid,
        received_at=call.arrived_at,
        sender=Sender("phone", caller, call.caller_name),
        text=text,
        drill=call.drill,
        extra={
            "trunk": call.trunk,
            "asterisk_channel": call.channel,
            "recording": call.recording,
        },
    )


class AmiChannel(Service):
    name = "ami"  # type: ignore[assignment]

    def __init__(self, gw: Any, settings: AmiSettings, poll_interval: float = 1.0) -> None:
        self.gw = gw
        self.settings = settings
        self.poll_interval = poll_interval
        self.tracker = CallTracker(settings.queues)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.link: AmiLink | None = None
        self._chains: dict[str, asyncio.Future[Any]] = {}
        self._seq: dict[str, int] = {}  # per call: the number of its latest change
        self._tasks: set[asyncio.Future[Any]] = set()
        self._notify_waiters: dict[tuple[str, str], asyncio.Future[str]] = {}
        self._notifier: asyncio.Task[None] | None = None

    # -- life cycle ----------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self.loop = getattr(self.gw.reactor, "_asyncioEventloop", None) or (
            asyncio.get_event_loop()
        )
        s = self.settings
        self.link = AmiLink(
            s.host,
            s.port,
            s.username,
            s.secret,
            on_event=self._on_event,
            on_up=self._reconcile,
            action_timeout=s.action_timeout,
            ping_interval=s.ping_interval,
            reconnect_max=s.reconnect_max,
            loop=self.loop,
        )
        self.link.up_changed = lambda up: self.gw.metrics.ami_up.set(1 if up else 0)
        self.link.start()
        self._notifier = self.loop.create_task(self._notify_loop())

    def stopService(self) -> Any:
        super().stopService()
        if self._notifier is not None:
            self._notifier.cancel()
        if self.link is not None:
            self.link.stop()
        pending = [f for f in list(self._chains.values()) + list(self._tasks) if not f.done()]
        if not pending or self.loop is None:
            return None
        # Writes already under way finish (bounded): a report being filed is not cut off.
        waiting = asyncio.wait(pending, timeout=10)
        return defer.Deferred.fromFuture(asyncio.ensure_future(waiting, loop=self.loop))

    @property
    def up(self) -> bool:
        return self.link is not None and self.link.up

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.gw.clock.seconds(), UTC)

    def _await(self, d: defer.Deferred[T]) -> asyncio.Future[T]:
        assert self.loop is not None
        return d.asFuture(self.loop)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        assert self.loop is not None
        task = asyncio.ensure_future(coro, loop=self.loop)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("AMI channel: task failed: {error!r}", error=task.exception())

    async def _store(self, what: str, fn: Callable[..., T], *args: Any) -> T | None:
        """A write that must happen: retried while the store is unavailable."""
        delay = 0.1
        while True:
            try:
                return await self._await(self.gw.db.write(fn, *args))
            except StoreUnavailable as e:
                if not self.running:
                    log.warn("AMI: {what} not stored before stop: {error}", what=what, error=e)
                    return None
                log.warn("AMI: {what}: store unavailable, retrying: {error}", what=what, error=e)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)

    # -- events --------------------------------------------------------------------------

    def _on_event(self, ev: Mapping[str, str]) -> None:
        if ev.get("Event") == "UserEvent":
            kind = ev.get("UserEvent", "")
            if kind == "AlarmgwCallbackEnd":
                self._spawn(self._callback_ended(ev))
                return
            if kind in ("AlarmgwNotifyAck", "AlarmgwNotifyResult"):
                self._notify_answer(ev)
                return
        for change in self.tracker.feed(ev, self._now()):
            self._apply(change)

    def _apply(self, change: Change) -> None:
        """Store each change of a call after the one before it (its report first). A row
        write with no event to log is skipped when a later change of the same call is
        already waiting: that one writes the whole row anyway. (One write fewer per call
        on the writer thread, which shares SQLite's write lock with the intake worker.)"""
        call = change.call
        previous = self._chains.get(call.linkedid)
        row = call.row()
        seq = self._seq.get(call.linkedid, 0) + 1
        self._seq[call.linkedid] = seq
        if isinstance(change, Arrived):
            step = self._file(call, change.event_time, row, seq)
        else:
            step = self._progress(previous, change, row, seq)
        if isinstance(change, Progress) and change.milestone in ("ended", "abandoned"):
            self.gw.metrics.calls.labels("answered" if call.answered_at else "abandoned").inc()
        task = self._spawn(step)
        self._chains[call.linkedid] = task
        if call.finished:
            task.add_done_callback(lambda _t: self._forget(call.linkedid, task))

    def _forget(self, linkedid: str, task: asyncio.Future[Any]) -> None:
        if self._chains.get(linkedid) is task:
            del self._chains[linkedid]
            self._seq.pop(linkedid, None)

    def _superseded(self, linkedid: str, seq: int) -> bool:
        return self._seq.get(linkedid, seq) != seq

    async def _file(self, call: Call, event_time: datetime, row: dict[str, Any], seq: int) -> None:
        report = report_of(call)
        delay = 0.05
        while True:
            try:
                receipt = await self._await(self.gw.submit(report))
                break
            except StoreUnavailable as e:
                if not self.running:
                    # Still in Asterisk: the reconcile at the next start files it.
                    log.warn("AMI: call {call} not filed before stop: {e}", call=call.linkedid, e=e)
                    return
                log.warn("AMI: filing call {call}: {e}; retrying", call=call.linkedid, e=e)
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
            except InvalidReport as e:
                log.error("AMI: call {call} gives an invalid report: {e}", call=call.linkedid, e=e)
                return
        lag = max(0.0, self.gw.clock.seconds() - event_time.timestamp())
        self.gw.metrics.call_report_lag.observe(lag)
        log.info(
            "AMI: 110 call {call} from {caller} ({trunk}{drill}) filed as {incident}",
            call=call.linkedid,
            caller=mask_phone(call.caller) if call.caller else "withheld",
            trunk=call.trunk,
            drill=", drill" if call.drill else "",
            incident=receipt.incident,
        )
        if not self._superseded(call.linkedid, seq):
            await self._store("call row", store_calls.save, row, None, {}, self._now())

    async def _progress(
        self,
        previous: asyncio.Future[Any] | None,
        change: Progress,
        row: dict[str, Any],
        seq: int,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if change.event is None and self._superseded(change.call.linkedid, seq):
            return
        incident = await self._store(
            f"call {change.call.linkedid} {change.milestone}",
            store_calls.save,
            row,
            change.event,
            change.data,
            self._now(),
        )
        if change.milestone == "answered" and incident is not None:
            self._spawn(self._tag(change.call, incident))

    async def _tag(self, call: Call, incident: str) -> None:
        """Once a call-taker answers, the caller's channel carries the incident number, and
        so do its CDR and (through the hangup handler) its recording. Not before: a Setvar
        costs Asterisk about 13 ms of CPU (measured with bench/calls.py), which at 50
        calls/s took most of a core; answered calls come at the pace of the seats."""
        assert self.link is not None
        for variable in ("ALARMGW_INCIDENT", "CDR(userfield)"):
            try:
                await self.link.action(
                    "Setvar", Channel=call.channel, Variable=variable, Value=incident
                )
            except (AmiUnavailable, AmiError) as e:
                log.debug("AMI: tagging {call}: {e}", call=call.linkedid, e=e)
                return

    # -- reconcile -----------------------------------------------------------------------

    async def _reconcile(self) -> None:
        """After a (re)connect: what Asterisk has now is the truth."""
        assert self.link is not None
        now = self._now()
        try:
            listed = await self.link.action("CoreShowChannels", timeout=30)
            entries = [m for m in _as_list(listed) if m.get("Event") == "CoreShowChannel"]
            queued = await self.link.action("QueueStatus", timeout=30)
        except (AmiUnavailable, AmiError) as e:
            log.warn("AMI: reconcile failed ({e}); the link will be re-established", e=e)
            self.link.drop()
            return
        in_queue = {
            m.get("Uniqueid", ""): m.get("Queue", "")
            for m in _as_list(queued)
            if m.get("Event") == "QueueEntry" and m.get("Queue") in self.settings.queues
        }
        live = {m.get("Linkedid", "") for m in entries}
        adopted = 0
        for m in entries:
            linkedid = m.get("Linkedid", "")
            if m.get("Uniqueid") != linkedid:
                continue
            known = self.tracker.calls.get(linkedid)
            if known is not None:
                self._catch_up(known, m, entries, in_queue, now)
                continue
            call = await self._call_from_channel(m, entries, in_queue, now)
            if call is not None:
                for change in self.tracker.adopt(call, now):
                    self._apply(change)
                adopted += 1
        for change in self.tracker.lost(live, now):
            self._apply(change)
        # Calls the store has as open that neither Asterisk nor we follow any more (the
        # gateway was down when they ended).
        stale = await self._await(self.gw.db.read(store_calls.open_linkedids))
        for linkedid in stale:
            if linkedid not in live and linkedid not in self.tracker.calls:
                await self._store("stale call", _close_stale, linkedid, now)
        log.info(
            "AMI: reconciled: {n} channels live, {adopted} calls picked up",
            n=len(entries),
            adopted=adopted,
        )

    async def _call_from_channel(
        self,
        m: Mapping[str, str],
        entries: list[Mapping[str, str]],
        in_queue: Mapping[str, str],
        now: datetime,
    ) -> Call | None:
        assert self.link is not None
        values: dict[str, str] = {}
        for var in ("ALARMGW_TRUNK", "ALARMGW_DRILL", "ALARMGW_RECORDING"):
            try:
                resp = await self.link.action("Getvar", Channel=m.get("Channel", ""), Variable=var)
            except AmiError:
                return None  # the channel is gone
            values[var] = (resp.get("Value") or "").strip()
        if not values["ALARMGW_TRUNK"]:
            return None  # not a 110 call (a callback or notification leg, a softphone, …)
        number = clean_number(m.get("CallerIDNum"))
        call = Call(
            linkedid=m.get("Linkedid", ""),
            uniqueid=m.get("Uniqueid", ""),
            channel=m.get("Channel", ""),
            caller=number,
            caller_name=clean_name(m.get("CallerIDName"), number),
            trunk=values["ALARMGW_TRUNK"],
            drill=values["ALARMGW_DRILL"] == "1" or values["ALARMGW_TRUNK"] == "drill",
            arrived_at=now - duration(m.get("Duration", "")),
            recording=values["ALARMGW_RECORDING"] or None,
        )
        self._catch_up(call, m, entries, in_queue, now, record=False)
        return call

    def _catch_up(
        self,
        call: Call,
        m: Mapping[str, str],
        entries: list[Mapping[str, str]],
        in_queue: Mapping[str, str],
        now: datetime,
        record: bool = True,
    ) -> None:
        """Bring a call's state up to what Asterisk shows (milestones missed while away)."""
        if m.get("BridgeId") and call.state != "answered":
            agent = next(
                (
                    e.get("Channel", "")
                    for e in entries
                    if e.get("Linkedid") == call.linkedid
                    and e.get("Uniqueid") != call.uniqueid
                    and e.get("BridgeId") == m.get("BridgeId")
                ),
                "",
            )
            who = calltaker_id(agent.rsplit("-", 1)[0]) if agent else ""
            ev = {"Event": "AgentConnect", "Linkedid": call.linkedid, "Interface": who}
            changes = self.tracker.feed(ev, now) if record else []
            if not record:
                call.state, call.calltaker, call.answered_at = "answered", who or None, now
                call.hold_s = round((now - call.arrived_at).total_seconds(), 3)
            for change in changes:
                self._apply(change)
        elif call.uniqueid in in_queue and call.state == "arrived":
            call.state, call.queue = "queued", in_queue[call.uniqueid]

    # -- callbacks -----------------------------------------------------------------------

    async def callback(self, number: str, actor: Actor, calltaker: str) -> dict[str, Any]:
        """Ring `calltaker`'s softphone, then the caller of incident `number`'s call."""
        if not self.up:
            raise AmiUnavailable("the AMI link to Asterisk is down")
        target = await self._await(self.gw.db.read(store_calls.callback_target, number))
        if target is None:
            raise NoCallToReturn(f"incident {number} has no call with a number to ring back")
        caller = target["caller"]
        data = {"calltaker": calltaker, "number": caller}
        await self._store(
            "callback start",
            store_calls.set_callback,
            target["linkedid"],
            "calling",
            "callback_started",
            actor,
            data,
            self._now(),
            True,
        )
        self._spawn(self._originate_callback(number, target["linkedid"], caller, calltaker))
        return {"incident": number, "callback": dict(data, status="calling")}

    async def _originate_callback(
        self, number: str, linkedid: str, caller: str, calltaker: str
    ) -> None:
        assert self.link is not None
        s = self.settings
        try:
            resp = await self.link.action(
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
            failed = _originate_failed(resp)
        except (AmiUnavailable, AmiError) as e:
            failed = str(e)
        if failed is None:
            return  # the dialplan's AlarmgwCallbackEnd tells how it went
        log.warn("AMI: callback for {incident} failed: {why}", incident=number, why=failed)
        data = {"calltaker": calltaker, "status": "failed", "error": failed}
        await self._store(
            "callback result",
            store_calls.set_callback,
            linkedid,
            "failed",
            "callback_result",
            _ami_actor(calltaker),
            data,
            self._now(),
        )

    async def _callback_ended(self, ev: Mapping[str, str]) -> None:
        number = ev.get("Incident", "")
        dialstatus = (ev.get("Status") or "").upper()
        status = CALLBACK_STATUS.get(dialstatus, "failed")
        answered = seconds(ev.get("Answered"))
        calltaker = ev.get("Calltaker") or calltaker_id(ev.get("Channel", "").rsplit("-", 1)[0])
        try:
            target = await self._await(self.gw.db.read(store_calls.callback_target, number))
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
        await self._store(
            "callback result",
            store_calls.set_callback,
            target["linkedid"],
            status,
            "callback_result",
            _ami_actor(calltaker),
            data,
            self._now(),
        )
        log.info("AMI: callback for {incident}: {status}", incident=number, status=status)

    # -- phone notification of a tier ------------------------------------------------------

    async def _notify_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            if not self.up:
                continue
            try:
                await self._notify_poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop must go on
                log.failure("AMI: phone notification poll failed")

    async def _notify_poll(self) -> int:
        now = self._now()
        try:
            if not await self._await(self.gw.db.read(any_due, now, "phone")):
                return 0
            lease = self.settings.ring_seconds + 180.0
            claimed = await self._await(self.gw.db.write(claim, now, 10, lease, "phone"))
        except StoreUnavailable:
            return 0
        for c in claimed:
            self._spawn(self._notify(c))
        return len(claimed)

    async def _notify(self, c: Any) -> None:
        assert self.link is not None and self.loop is not None
        s = self.settings
        row = await self._await(self.gw.db.read(records.load, c.number))
        key = (c.number, c.unit or "")
        waiter: asyncio.Future[str] = self.loop.create_future()
        self._notify_waiters[key] = waiter
        try:
            resp = await self.link.action(
                "Originate",
                timeout=s.ring_seconds + 15,
                Channel=s.notify_dial.format(number=c.url),
                Context=s.notify_context,
                Exten="s",
                Priority="1",
                CallerID='"110指挥中心" <110>',
                Timeout=str(s.ring_seconds * 1000),
                Async="true",
                Variable=[
                    f"ALARMGW_INCIDENT={c.number}",
                    f"ALARMGW_UNIT={c.unit or ''}",
                    f"ALARMGW_CATEGORY={row['category'] or 'other'}",
                    f"ALARMGW_DRILL={1 if c.drill else 0}",
                ],
            )
            failed = _originate_failed(resp)
            answer = "" if failed else await asyncio.wait_for(asyncio.shield(waiter), 120)
        except (AmiUnavailable, AmiError) as e:
            failed, answer = str(e), ""
        except TimeoutError:
            failed, answer = None, "timeout"
        finally:
            self._notify_waiters.pop(key, None)
        if failed:
            outcome, verdict = Attempt(None, f"not answered: {failed}"[:200]), "retry"
        elif answer == "1":
            outcome, verdict = Attempt(None, None), "delivered"
        else:
            outcome, verdict = Attempt(None, "answered but not acknowledged"), "retry"
        status = await self._store(
            "phone delivery",
            record_attempt,
            c.id,
            verdict,
            outcome,
            self._now(),
            Backoff(s.notify_attempts, s.notify_retry_seconds, s.notify_retry_seconds * 4),
            lambda: random.uniform(0.9, 1.1),  # noqa: S311 - not crypto
        )
        self.gw.metrics.deliveries.labels("phone", status or "unknown").inc()
        log.info(
            "AMI: phone notification of {unit} for {incident}: {status} ({why})",
            unit=c.unit,
            incident=c.number,
            status=status,
            why=outcome.error or "acknowledged with 1",
        )
        if verdict == "delivered":
            await self._acknowledge(c)

    def _notify_answer(self, ev: Mapping[str, str]) -> None:
        key = (ev.get("Incident", ""), ev.get("Unit", ""))
        waiter = self._notify_waiters.get(key)
        if waiter is None or waiter.done():
            return
        digit = ev.get("Digit", "") if ev.get("UserEvent") == "AlarmgwNotifyAck" else ""
        waiter.set_result(digit)

    async def _acknowledge(self, c: Any) -> None:
        """Pressing 1 is the unit's 签收, through the normal workflow action, when the
        incident waits for that unit's acknowledgement. A unit only informed of it (the
        city center of a priority-1 incident, the unit before an escalation) has confirmed
        the notice, which the delivery row records; it does not acknowledge for another."""
        row = await self._await(self.gw.db.read(records.load, c.number))
        if row["unit"] != c.unit or row["state"] != "dispatched":
            log.info(
                "AMI: {unit} confirmed the notice of {incident} ({state}, at {at})",
                unit=c.unit,
                incident=c.number,
                state=row["state"],
                at=row["unit"],
            )
            return
        actor = Actor(f"phone:{c.url}", Role.UNIT_OFFICER, c.unit)
        params = {"reason": "值班电话按键 1 签收 (acknowledged by phone, DTMF 1)"}
        try:
            await self._await(self.gw.act(c.number, "acknowledge", actor, params))
        except DomainError as e:
            log.warn(
                "AMI: acknowledgement by phone of {incident} refused: {e}", incident=c.number, e=e
            )
        except StoreUnavailable as e:
            log.warn("AMI: acknowledgement of {incident} not stored: {e}", incident=c.number, e=e)


def _close_stale(ctx: Any, linkedid: str, now: datetime) -> str | None:
    row = store_calls.load_call(ctx.conn, linkedid)
    if row is None or row["state"] in ("ended", "abandoned"):
        return None
    call = Call(
        linkedid=linkedid,
        uniqueid="",
        channel=row["asterisk_channel"] or "",
        caller=row["caller"] if row["caller"] != "anonymous" else "",
        caller_name=row["caller_name"],
        trunk=row["trunk"],
        drill=row["drill"],
        arrived_at=row["arrived_at"],
        recording=row["recording"],
        state=row["state"],
        queue=row["queue"],
        calltaker=row["calltaker"],
        answered_at=row["answered_at"],
        hold_s=row["hold_s"],
        timeouts=list(row["timeouts"] or ()),
    )
    change = end(call, now, "unknown", reason="link_lost")
    return store_calls.save(ctx, call.row(), change.event, change.data, now)


def _ami_actor(calltaker: str) -> Actor:
    return Actor(f"calltaker:{calltaker}", Role.SYSTEM, None)


def _as_list(resp: Any) -> list[Any]:
    return resp if isinstance(resp, list) else [resp]


def _originate_failed(resp: Any) -> str | None:
    """None if the originated call was answered; else why not (OriginateResponse)."""
    final = _as_list(resp)[-1]
    if (final.get("Response") or "").lower() == "success" and final.get("Event"):
        return None
    if final.get("Event") != "OriginateResponse":
        return None if (final.get("Response") or "").lower() == "success" else "refused"
    reason = final.get("Reason", "")
    return {"1": "hung up", "3": "no answer", "5": "busy", "8": "congestion"}.get(
        reason, f"failed (reason {reason or '?'})"
    )
