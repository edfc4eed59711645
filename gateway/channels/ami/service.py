"""The AMI channel: 110 calls from Asterisk become reports, followed until they end.

- A call is filed **when it arrives** (the dialplan's ``AlarmgwCall`` event), before anyone
  answers: a caller who gives up in the queue has still raised an alarm. Its report is
  (channel ``phone``, external_id = Linkedid), so filing it again is harmless.
- Each milestone (queued, ringing, answered, queue timeout, ended, abandoned) updates the
  call's row, in order per call, after its report is stored; answered / ended / abandoned
  also go to the incident's audit log. An abandoned call gets a callback task.
- After every (re)connect the channel reconciles with Asterisk's own state
  (`reconcile`): a call that arrived while the link was down is filed now, and one we
  followed that ended meanwhile is closed.
- ``callback`` rings a call-taker's softphone and then the caller (`callback`).
- Phone deliveries of the outbox (a unit's notify target of kind ``phone``) become calls
  to the duty phone (`duty`); pressing 1 acknowledges the notice.

Everything here runs on the reactor's asyncio loop; store calls (Deferreds) are awaited
through ``Deferred.asFuture``. Store failures are retried: a call is never dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger

from gateway.channel import ChannelContext
from gateway.channels.ami import store
from gateway.channels.ami.callback import Callbacks
from gateway.channels.ami.calls import Arrived, Call, CallTracker, Change, Progress
from gateway.channels.ami.client import AmiError, AmiLink, AmiUnavailable
from gateway.channels.ami.duty import DutyCalls
from gateway.channels.ami.metrics import AmiMetrics
from gateway.channels.ami.reconcile import Reconciler
from gateway.channels.ami.settings import AmiSettings
from gateway.intake import mask_phone
from gateway.reactor import event_loop
from gateway.report import InvalidReport, Report, Sender
from gateway.store.engine import StoreUnavailable
from gateway.store.transaction import WriteContext

log = Logger()
P = ParamSpec("P")
T = TypeVar("T")


def report_of(call: Call) -> Report:
    """The report a 110 call files at arrival."""
    caller = call.caller or f"anonymous-{call.linkedid}"  # never correlate withheld numbers
    shown = call.caller or "号码未显示"
    text = f"110来电 {shown}" + ("（演练）" if call.drill else "")
    return Report(
        channel=store.CHANNEL,
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

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.settings: AmiSettings = ctx.settings
        self.metrics: AmiMetrics = ctx.metrics
        self.tracker = CallTracker(self.settings.queues)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.link: AmiLink | None = None
        self._chains: dict[str, asyncio.Future[Any]] = {}
        self._seq: dict[str, int] = {}  # per call: the number of its latest change
        self._tasks: set[asyncio.Future[Any]] = set()
        self.callbacks = Callbacks(self)
        self.duty = DutyCalls(self)
        self.reconciler = Reconciler(self)

    # -- life cycle ----------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self.loop = event_loop(self.ctx.reactor)
        s = self.settings
        self.link = AmiLink(
            s.host,
            s.port,
            s.username,
            s.secret,
            on_event=self._on_event,
            on_up=self.reconciler.run,
            action_timeout=s.action_timeout,
            ping_interval=s.ping_interval,
            reconnect_max=s.reconnect_max,
            loop=self.loop,
        )
        self.link.up_changed = lambda up: self.metrics.up.set(1 if up else 0)
        self.link.start()

    def stopService(self) -> Any:
        super().stopService()
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

    def now(self) -> datetime:
        return self.ctx.now()

    # -- asyncio ⇄ Twisted ----------------------------------------------------------------

    def wait(self, d: defer.Deferred[T]) -> asyncio.Future[T]:
        """A Deferred (a store call) as a future of this loop."""
        assert self.loop is not None
        return d.asFuture(self.loop)

    def as_deferred(self, coro: Awaitable[T]) -> defer.Deferred[T]:
        """A coroutine of this channel (it awaits asyncio futures) for the core."""
        assert self.loop is not None
        return defer.Deferred.fromFuture(asyncio.ensure_future(coro, loop=self.loop))

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        assert self.loop is not None
        task = asyncio.ensure_future(coro, loop=self.loop)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("AMI channel: task failed: {error!r}", error=task.exception())

    async def store(
        self,
        what: str,
        fn: Callable[Concatenate[WriteContext, P], T],
        *args: P.args,
        **kw: P.kwargs,
    ) -> T | None:
        """A write that must happen: retried while the store is unavailable."""
        delay = 0.1
        while True:
            try:
                return await self.wait(self.ctx.write(fn, *args, **kw))
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
                self.spawn(self.callbacks.ended(ev))
                return
            if kind in ("AlarmgwNotifyAck", "AlarmgwNotifyResult"):
                self.duty.answered(ev)
                return
        for change in self.tracker.feed(ev, self.now()):
            self.apply(change)

    def apply(self, change: Change) -> None:
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
            self.metrics.calls.labels("answered" if call.answered_at else "abandoned").inc()
        task = self.spawn(step)
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
                receipt = await self.wait(self.ctx.submit(report))
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
        lag = max(0.0, self.ctx.clock.seconds() - event_time.timestamp())
        self.metrics.call_report_lag.observe(lag)
        log.info(
            "AMI: 110 call {call} from {caller} ({trunk}{drill}) filed as {incident}",
            call=call.linkedid,
            caller=mask_phone(call.caller) if call.caller else "withheld",
            trunk=call.trunk,
            drill=", drill" if call.drill else "",
            incident=receipt.incident,
        )
        if not self._superseded(call.linkedid, seq):
            await self.store("call row", store.save, row, None, {}, self.now())

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
        incident = await self.store(
            f"call {change.call.linkedid} {change.milestone}",
            store.save,
            row,
            change.event,
            change.data,
            self.now(),
        )
        if change.milestone == "answered" and incident is not None:
            self.spawn(self._tag(change.call, incident))

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
