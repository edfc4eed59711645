"""The console's live updates: one Server-Sent-Events stream per browser tab.

Event ids are the audit log's `seq`, a durable sequence without gaps in commit order
(every writer takes the chain head under the database's write lock), so a browser that
reconnects with ``Last-Event-ID`` — after a network hiccup or a gateway restart — gets
what it missed from the log itself. One `EventHub` per gateway reads new events (woken
by this process's commits, and polling for the intake worker's and other nodes') and
hands each to the streams whose user may see its incident: an officer's stream never
carries another station's incident. A keepalive comment every 15 s and
``X-Accel-Buffering: no`` keep proxies (nginx with default settings) from holding events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select
from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import server

from gateway.http.resource import Stream
from gateway.report import format_utc
from gateway.store.tables import chain_head, events, incidents
from gateway.workflow.machine import Actor
from gateway.workflow.service import may_see

log = Logger()

KEEPALIVE_S = 15.0
BATCH = 500
REPLAY_LIMIT = 5000  # a tab that missed more than this reloads instead
RETRY_MS = 2000  # how soon a browser reconnects (the SSE `retry:` field)
GATHER_S = 0.02  # events committed within this are sent to each tab in one write
SLOW_S = 30.0  # a tab that reads nothing for this long while events wait is let go


@dataclass(slots=True)
class LiveEvent:
    seq: int
    number: str | None
    action: str
    at: str
    from_state: str | None
    to_state: str | None
    actor: str | None
    data: dict[str, Any]
    drill: bool
    unit: str | None  # the incident's unit now
    state: str | None
    priority: int | None
    category: str | None
    summary: str | None
    _wire: str = field(default="", compare=False, repr=False)

    def wire(self, kind: str) -> bytes:
        """The SSE message, its JSON made once for every tab that gets it (at 200 tabs,
        encoding it per tab cost more CPU than taking the report in)."""
        if not self._wire:
            self._wire = json.dumps(self.payload(), ensure_ascii=False, separators=(",", ":"))
        return f"id: {self.seq}\nevent: {kind}\ndata: {self._wire}\n\n".encode()

    def payload(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "incident": self.number,
            "action": self.action,
            "at": self.at,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "by": self.actor,
            "state": self.state,
            "unit": self.unit,
            "priority": self.priority,
            "category": self.category,
            "summary": self.summary,
            "drill": self.drill,
            "data": {k: v for k, v in self.data.items() if k in _SHOWN},
        }


# The parts of an event's data a queue needs (not the text of what citizens said).
_SHOWN = frozenset({"unit", "from_unit", "step", "priority", "category", "calltaker", "reason"})


def head(conn: Connection) -> int:
    return int(conn.execute(select(chain_head.c.seq)).scalar() or 0)


def since(conn: Connection, seq: int, limit: int) -> list[LiveEvent]:
    """Incident events after `seq`, oldest first (log-only events such as logins are not
    streamed, but their seqs are skipped over)."""
    rows = conn.execute(
        select(
            events.c.seq,
            events.c.number,
            events.c.action,
            events.c.at,
            events.c.from_state,
            events.c.to_state,
            events.c.actor,
            events.c.data,
            events.c.drill,
            incidents.c.unit,
            incidents.c.state,
            incidents.c.priority,
            incidents.c.category,
            incidents.c.summary,
        )
        .select_from(events.outerjoin(incidents, incidents.c.id == events.c.incident_id))
        .where(events.c.seq > seq)
        .order_by(events.c.seq)
        .limit(limit)
    )
    return [
        LiveEvent(
            r.seq,
            r.number,
            r.action,
            format_utc(r.at),
            r.from_state,
            r.to_state,
            (r.actor or {}).get("user"),
            r.data or {},
            bool(r.drill),
            r.unit,
            r.state,
            r.priority,
            r.category,
            r.summary,
        )
        for r in rows
    ]


class Subscriber:
    """One browser tab's stream."""

    def __init__(
        self, request: server.Request, actor: Actor, extension: str | None, org: Any
    ) -> None:
        self.request = request
        self.actor = actor
        self.extension = extension
        self.org = org
        self.cursor = 0  # the last seq this tab has (sent or skipped)
        self.catching_up = True
        self.held: list[LiveEvent] = []
        self.closed = False
        self._out: list[bytes] = []
        self.clock: Any = None  # set with `producing` (EventStream.start)
        self.producing = False
        self._slow: Any = None

    def sees(self, ev: LiveEvent) -> bool:
        if ev.number is None:
            return False
        if may_see(self.actor, ev.unit, self.org):
            return True
        # A transfer or escalation away from this unit: the tab learns that it left.
        old = ev.data.get("from_unit")
        return isinstance(old, str) and may_see(self.actor, old, self.org)

    def offer(self, ev: LiveEvent) -> None:
        if self.closed or ev.seq <= self.cursor:
            return
        if self.catching_up:
            self.held.append(ev)
            return
        self._send(ev)

    def _send(self, ev: LiveEvent) -> None:
        self.cursor = ev.seq
        if not self.sees(ev):
            return
        kind = "incident"
        if (
            self.extension
            and ev.action == "call_answered"
            and ev.data.get("calltaker") == self.extension
        ):
            kind = "screenpop"  # 来电弹屏: this seat's softphone answered the call
        self._out.append(ev.wire(kind))

    def flush(self) -> None:
        """What `offer` gathered, as one write (one chunk, one send) per batch."""
        if self._out:
            out, self._out = self._out, []
            self.send(b"".join(out))

    def caught_up(self, missed: Iterable[LiveEvent], upto: int) -> None:
        for ev in missed:
            if ev.seq > self.cursor:
                self._send(ev)
        self.cursor = max(self.cursor, upto)
        self.catching_up = False
        held, self.held = self.held, []
        for ev in held:
            if ev.seq > self.cursor:
                self._send(ev)
        self.flush()

    def write(self, text: str) -> None:
        self.send(text.encode())

    def send(self, data: bytes) -> None:
        if not self.closed:
            self.request.write(data)

    # IPushProducer: the transport says when the tab reads too slowly (its buffer is
    # full). A burst (a replay) is fine; a tab that stays behind for SLOW_S is not kept in
    # memory: its stream ends, and the browser reconnects with its Last-Event-ID and is
    # replayed from the log.
    def pauseProducing(self) -> None:
        if self._slow is None and self.clock is not None and not self.closed:
            self._slow = self.clock.callLater(SLOW_S, self._too_slow)

    def resumeProducing(self) -> None:
        if self._slow is not None and self._slow.active():
            self._slow.cancel()
        self._slow = None

    def _too_slow(self) -> None:
        self._slow = None
        log.info("Console stream: a tab of {user} fell behind; ended", user=self.actor.user)
        self.close()

    def stopProducing(self) -> None:
        self.closed = True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.resumeProducing()
            if self.producing:
                self.request.unregisterProducer()
            self.request.finish()


class EventHub(service.Service):
    """Reads the log's new events and fans them out to the open streams."""

    name = "console-events"  # type: ignore[assignment]

    def __init__(self, db: Any, org: Any, clock: Any, poll_s: float = 0.5) -> None:
        self.db = db
        self.org = org
        self.clock = clock
        self.poll_s = poll_s
        self.last = 0
        self.subscribers: set[Subscriber] = set()
        self._reading: defer.Deferred[None] | None = None
        self._again = False
        self._poller: task.LoopingCall | None = None
        self._soon: Any = None
        self._keepalive: task.LoopingCall | None = None

    @property
    def clients(self) -> int:
        return len(self.subscribers)

    async def _start(self) -> None:
        self.last = await self.db.read(head)
        self._poller = task.LoopingCall(self.kick)
        self._poller.clock = self.clock
        self._poller.start(self.poll_s, now=False)
        self._keepalive = task.LoopingCall(self._ping)
        self._keepalive.clock = self.clock
        self._keepalive.start(KEEPALIVE_S, now=False)

    def startService(self) -> Any:
        service.Service.startService(self)
        return defer.ensureDeferred(self._start())

    def stopService(self) -> Any:
        service.Service.stopService(self)
        for loop in (self._poller, self._keepalive):
            if loop is not None and loop.running:
                loop.stop()
        if self._soon is not None and self._soon.active():
            self._soon.cancel()
        for sub in list(self.subscribers):
            sub.close()
        self.subscribers.clear()
        return self._reading if self._reading is not None else None

    # -- reading the log ------------------------------------------------------------------------

    def kick(self) -> None:
        """Something committed: read what is new, GATHER_S later (the commits of that
        while are read, and written to each tab, together), at most one read at a time."""
        if self._soon is None or not self._soon.active():
            self._soon = self.clock.callLater(GATHER_S, self._kick_now)

    def _kick_now(self) -> None:
        self._soon = None
        if self._reading is not None:
            self._again = True
            return
        if not self.subscribers:
            # Nobody listens: keep the cursor current cheaply, without reading events.
            self._reading = defer.ensureDeferred(self._skip())
        else:
            self._reading = defer.ensureDeferred(self._read())
        self._reading.addErrback(self._failed).addBoth(self._done)

    async def _skip(self) -> None:
        newest = await self.db.read(head)
        if self.subscribers:
            # A tab connected while we looked: it was promised everything after `last`.
            await self._read()
        else:
            self.last = max(self.last, newest)

    async def _read(self) -> None:
        while True:
            batch = await self.db.read(since, self.last, BATCH)
            subscribers = list(self.subscribers)
            for ev in batch:
                for sub in subscribers:
                    sub.offer(ev)
            for sub in subscribers:
                sub.flush()
            if batch:
                self.last = batch[-1].seq
            if len(batch) < BATCH:
                return

    def _failed(self, f: Failure) -> None:
        log.warn("Console stream: reading the event log failed: {e}", e=f.value)

    def _done(self, _: Any) -> None:
        self._reading = None
        if self._again:
            self._again = False
            self._kick_now()

    def _ping(self) -> None:
        for sub in list(self.subscribers):
            sub.write(": keepalive\n\n")

    # -- streams -------------------------------------------------------------------------------

    async def subscribe(self, sub: Subscriber, after: int | None) -> None:
        """Start `sub`; `after` is the last seq the tab has (None: from now)."""
        # A tab may know a newer seq than the hub has read yet (its page was rendered from
        # the store): nothing up to it is sent again.
        sub.cursor = self.last if after is None else after
        self.subscribers.add(sub)
        sub.request.notifyFinish().addBoth(lambda _: self._gone(sub))
        if after is None or after >= self.last:
            sub.caught_up((), sub.cursor)
            return
        upto = self.last
        missed = await self.db.read(since, after, REPLAY_LIMIT + 1)
        missed = [ev for ev in missed if ev.seq <= upto]
        if len(missed) > REPLAY_LIMIT:
            # Too far behind to replay: the page reloads its state instead.
            sub.write(f"id: {upto}\nevent: reload\ndata: {{}}\n\n")
            sub.caught_up((), upto)
            return
        sub.caught_up(missed, upto)

    def _gone(self, sub: Subscriber) -> None:
        sub.closed = True
        self.subscribers.discard(sub)


class EventStream(Stream):
    """The response of ``GET /console/events``."""

    def __init__(
        self, hub: EventHub, actor: Actor, extension: str | None, after: int | None
    ) -> None:
        self.hub = hub
        self.actor = actor
        self.extension = extension
        self.after = after

    def start(self, request: server.Request) -> None:
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"X-Accel-Buffering", b"no")  # nginx: pass events on at once
        sub = Subscriber(request, self.actor, self.extension, self.hub.org)
        sub.clock, sub.producing = self.hub.clock, True
        request.registerProducer(sub, True)
        sub.write(f"retry: {RETRY_MS}\n: {self.hub.last}\n\n")

        def failed(f: Failure) -> None:
            log.warn("Console stream: replay failed: {e}", e=f.value)
            sub.close()

        defer.ensureDeferred(self.hub.subscribe(sub, self.after)).addErrback(failed)
