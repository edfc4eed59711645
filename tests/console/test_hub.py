"""The live stream's hub in isolation, with a store whose reads finish when the test says:
the interleavings a real gateway produces only now and then (a tab connecting while the
hub looks at the log) are played in a fixed order here."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock

from gateway.config import load_config
from gateway.console import stream
from gateway.console.stream import EventHub, LiveEvent, Subscriber
from gateway.workflow.machine import Actor
from gateway.workflow.table import Role

ORG = load_config(None).org
NANBA, BEIMEN = "530102510000", "530102530000"


def event(seq: int, unit: str = NANBA, action: str = "create", **data: Any) -> LiveEvent:
    return LiveEvent(
        seq, f"530100-20261126-{seq:06d}", action, "2026-11-26T01:00:00Z", None, "received",
        "alarmgw", data, False, unit, "received", None, None, "",
    )  # fmt: skip


class Store:
    """Reads wait in `pending` until `finish` answers them from `log`."""

    def __init__(self, log: list[LiveEvent]) -> None:
        self.log = log
        self.pending: list[tuple[Any, tuple[Any, ...], defer.Deferred[Any]]] = []

    def read(self, fn: Any, *args: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        self.pending.append((fn, args, d))
        return d

    def finish(self) -> None:
        while self.pending:
            fn, args, d = self.pending.pop(0)
            if fn is stream.head:
                d.callback(self.log[-1].seq if self.log else 0)
            else:
                after, limit = args
                d.callback([e for e in self.log if e.seq > after][:limit])


class Request:
    def __init__(self) -> None:
        self.written = b""
        self.finished = False
        self._done: defer.Deferred[None] = defer.Deferred()

    def write(self, data: bytes) -> None:
        self.written += data

    def finish(self) -> None:
        self.finished = True

    def unregisterProducer(self) -> None:
        pass

    def notifyFinish(self) -> defer.Deferred[None]:
        return self._done

    def ids(self) -> list[int]:
        return [
            int(line[4:]) for line in self.written.decode().splitlines() if line.startswith("id: ")
        ]


def subscriber(unit: str = NANBA, role: Role = Role.UNIT_OFFICER) -> Subscriber:
    return Subscriber(Request(), Actor("x", role, unit), None, ORG)  # type: ignore[arg-type]


def kick(hub: EventHub) -> None:
    """A commit: the hub reads GATHER_S later."""
    hub.kick()
    hub.clock.advance(stream.GATHER_S)


def hub_at(store: Store, last: int) -> EventHub:
    hub = EventHub(store, ORG, Clock())
    hub.last = last
    return hub


def test_a_tab_connecting_while_the_hub_skips_ahead_misses_nothing() -> None:
    store = Store([event(s) for s in range(1, 20)])
    hub = hub_at(store, 19)
    store.log += [event(s) for s in range(20, 25)]
    kick(hub)  # nobody listens yet: the hub only looks at the head…
    sub = subscriber()
    defer.ensureDeferred(hub.subscribe(sub, 19))  # …and a tab that has 19 connects meanwhile
    store.finish()
    store.finish()
    assert sub.request.ids() == [20, 21, 22, 23, 24]  # type: ignore[attr-defined]


def test_replay_then_live_without_gaps_or_repeats() -> None:
    store = Store([event(s) for s in range(1, 11)])
    hub = hub_at(store, 10)
    sub = subscriber()
    d = defer.ensureDeferred(hub.subscribe(sub, 4))  # missed 5..10
    store.log += [event(11), event(12)]
    kick(hub)  # live events arrive while the replay is read
    store.finish()
    store.finish()
    assert d.called
    kick(hub)
    store.finish()
    assert sub.request.ids() == list(range(5, 13))  # type: ignore[attr-defined]


def test_an_officer_gets_only_the_stations_events_and_the_transfers_away() -> None:
    log = [
        event(1, NANBA),
        event(2, BEIMEN),
        event(3, BEIMEN, "transfer", from_unit=NANBA),
        event(4, "530100000000"),
    ]
    store = Store(log)
    hub = hub_at(store, 0)
    nanba, beimen, city = (
        subscriber(NANBA),
        subscriber(BEIMEN),
        subscriber("530100000000", Role.DISPATCHER),
    )
    for sub in (nanba, beimen, city):
        defer.ensureDeferred(hub.subscribe(sub, None))
    kick(hub)
    store.finish()
    assert nanba.request.ids() == [1, 3]  # type: ignore[attr-defined]
    assert beimen.request.ids() == [2, 3]  # type: ignore[attr-defined]
    assert city.request.ids() == [1, 2, 3, 4]  # type: ignore[attr-defined]


def test_a_tab_far_behind_is_told_to_reload() -> None:
    store = Store([event(s) for s in range(1, stream.REPLAY_LIMIT + 10)])
    hub = hub_at(store, store.log[-1].seq)
    sub = subscriber(role=Role.DISPATCHER)
    defer.ensureDeferred(hub.subscribe(sub, 0))
    store.finish()
    assert b"event: reload" in sub.request.written  # type: ignore[attr-defined]


def test_a_tab_that_stays_behind_is_let_go_and_a_burst_is_not() -> None:
    clock = Clock()
    sub = subscriber()
    sub.clock, sub.producing = clock, True
    sub.pauseProducing()  # a replay filled the buffer…
    clock.advance(stream.SLOW_S - 1)
    sub.resumeProducing()  # …and the browser read it
    clock.advance(10)
    assert not sub.request.finished  # type: ignore[attr-defined]
    sub.pauseProducing()
    clock.advance(stream.SLOW_S + 1)  # reads nothing for too long
    assert sub.closed and sub.request.finished  # type: ignore[attr-defined]
