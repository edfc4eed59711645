"""The outbox (gateway/notify/outbox.py) with a fake notifier, on the real store (SQLite and
PostgreSQL, driven inline: tests/inline.py) and a `task.Clock`: what is claimed when, what
each verdict does to the row, the lease, how many attempts run at once, a notifier's bug,
stopping, and kinds kept apart. The webhook notifier's own tests (test_webhook.py) post to
a real HTTP receiver; here the notifier is the test's, so every outcome can be chosen."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from twisted.internet import defer

from gateway.config import Config
from gateway.notify.outbox import Attempt, Backoff, Delivery, Outbox, Policy, record_attempt
from gateway.store.engine import StoreUnavailable
from gateway.workflow import records
from tests.conftest import T0
from tests.inline import STATION, Store, result

POLICY = Policy(lease=30, backoff=Backoff(max_attempts=4, initial=2, max=5), poll_interval=1.0)
Outcome = Attempt | BaseException | defer.Deferred[Attempt]


class FakeNotifier:
    """A notifier of `kind`: each attempt comes to the next outcome of `script` (an
    exception is raised, a Deferred returned as it is), then "delivered"; with `hold`, to a
    Deferred the test fires (`finish`)."""

    def __init__(self, kind: str = "fake", policy: Policy = POLICY) -> None:
        self.kind = kind
        self.policy = policy
        self.is_ready = True
        self.hold = False
        self.script: list[Outcome] = []
        self.attempted: list[Delivery] = []
        self.held: dict[int, defer.Deferred[Attempt]] = {}
        self.most_at_once = 0

    def ready(self) -> bool:
        return self.is_ready

    def attempt(self, d: Delivery) -> defer.Deferred[Attempt]:
        self.attempted.append(d)
        if self.hold:
            self.held[d.id] = held = defer.Deferred()
            self.most_at_once = max(self.most_at_once, self.in_flight)
            return held
        outcome = self.script.pop(0) if self.script else Attempt("delivered")
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, defer.Deferred):
            return outcome
        return defer.succeed(outcome)

    @property
    def in_flight(self) -> int:
        return sum(1 for d in self.held.values() if not d.called)

    def finish(self, delivery: int, attempt: Attempt | None = None) -> None:
        self.held[delivery].callback(attempt or Attempt("delivered"))


class Box:
    """An outbox of one fake notifier on the store; `seen` what it told `on_attempt`."""

    def __init__(self, store: Store, notifier: FakeNotifier, jitter: float = 1.0) -> None:
        self.store = store
        self.notifier = notifier
        self.seen: list[tuple[str, str]] = []
        self.outbox = Outbox(
            store.db,
            notifier,
            store.clock,
            jitter=lambda: jitter,
            on_attempt=lambda kind, status: self.seen.append((kind, status)),
        )

    def poll(self) -> defer.Deferred[int]:
        return defer.ensureDeferred(self.outbox.poll())

    def polled(self) -> int:
        """A poll that needs no waiting: how many it attempted."""
        return int(result(self.poll()))


@pytest.fixture
def store(store_url: str, config: Config) -> Iterator[Store]:
    s = Store(store_url, config)
    yield s
    s.close()


def queue(store: Store, kind: str = "fake", n: int = 1, number: str | None = None) -> list[int]:
    """`n` outbox rows of `kind`, due now, about incident `number` (a new one by default):
    their ids."""
    number = number or store.submit().incident

    def rows(ctx: Any) -> None:
        incident = records.load(ctx.conn, number)
        for i in range(n):
            records.queue_delivery(
                ctx.conn,
                incident["id"],
                unit=STATION,
                kind=kind,
                target=f"{kind}-target-{i}",
                name=None,
                reason="dispatch",
                drill=False,
                now=store.now(),
            )

    result(store.db.write(rows))
    return [r["id"] for r in store.deliveries(kind)][-n:]


def row(store: Store, delivery: int) -> Any:
    (r,) = [r for r in store.deliveries() if r["id"] == delivery]
    return r


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- what is claimed ------------------------------------------------------------------------


def test_a_notifier_not_ready_claims_nothing(store: Store) -> None:
    (delivery,) = queue(store)
    box = Box(store, FakeNotifier())
    box.notifier.is_ready = False
    writes = store.db.writes
    assert box.polled() == 0
    assert store.db.writes == writes and box.notifier.attempted == []
    assert (row(store, delivery)["status"], row(store, delivery)["next_at"]) == ("pending", T0)
    box.notifier.is_ready = True
    assert box.polled() == 1


def test_an_idle_poll_writes_nothing(store: Store) -> None:
    box = Box(store, FakeNotifier())
    writes = store.db.writes
    assert box.polled() == 0
    assert store.db.writes == writes  # no slot taken in the writer's batches


def test_what_is_attempted(store: Store) -> None:
    number = store.submit().incident
    (delivery,) = queue(store, number=number)
    box = Box(store, FakeNotifier())
    box.polled()
    assert box.notifier.attempted == [
        Delivery(delivery, number, STATION, "fake-target-0", "dispatch", False, 0)
    ]


# -- what each verdict does --------------------------------------------------------------------


@pytest.mark.parametrize(
    "attempt, status, attempts, due_in, seen",
    [
        (Attempt("delivered", http_status=202), "delivered", 1, 0, "delivered"),
        (Attempt("retry", "HTTP 500", 500), "failed", 1, 2 * 1.5, "failed"),
        (Attempt("gave_up", "HTTP 404", 404), "gave_up", 1, 0, "gave_up"),
        # Not the target's fault: due again when asked, not counted, not reported.
        (Attempt("later", "throttled", retry_at=at(7)), "pending", 0, 7, None),
        (Attempt("later", "throttled"), "pending", 0, 0, None),
    ],
)
def test_each_verdict(
    store: Store, attempt: Attempt, status: str, attempts: int, due_in: float, seen: str | None
) -> None:
    (delivery,) = queue(store)
    box = Box(store, FakeNotifier(), jitter=1.5)
    box.notifier.script = [attempt]
    assert box.polled() == 1
    r = row(store, delivery)
    assert (r["status"], r["attempts"], r["next_at"]) == (status, attempts, at(due_in))
    if attempt.verdict != "later":
        assert (r["error"], r["http_status"]) == (attempt.error, attempt.http_status)
    assert box.seen == ([("fake", seen)] if seen else [])


def test_retries_back_off_and_give_up_after_max_attempts(store: Store) -> None:
    """Backoff(max_attempts=4, initial=2, max=5) with a jitter of 0.8: due again after
    2, 4, then 5 (the cap) seconds, × 0.8; a "later" in between is not counted."""
    (delivery,) = queue(store)
    box = Box(store, FakeNotifier(), jitter=0.8)
    retry = Attempt("retry", "timeout")
    box.notifier.script = [retry, Attempt("later", retry_at=at(1.6 + 0.5)), retry, retry, retry]
    delays = []
    for attempts in (1, 1, 2, 3):
        assert box.polled() == 1
        r = row(store, delivery)
        assert (r["status"], r["attempts"]) == ("failed", attempts)
        delays.append((r["next_at"] - store.now()).total_seconds())
        store.clock.advance(delays[-1] - 0.01)
        assert box.polled() == 0  # not before it is due
        store.clock.advance(0.01)
    assert delays == pytest.approx([1.6, 0.5, 3.2, 4.0])
    assert box.polled() == 1
    r = row(store, delivery)
    assert (r["status"], r["attempts"], r["error"]) == ("gave_up", 4, "timeout")
    store.clock.advance(3600)
    assert box.polled() == 0
    assert [s for _k, s in box.seen] == ["failed"] * 3 + ["gave_up"]


def test_an_outcome_recorded_after_the_row_was_settled_changes_nothing(store: Store) -> None:
    (delivery,) = queue(store)
    Box(store, FakeNotifier()).polled()
    late = Attempt("retry", "HTTP 500", 500)
    status = result(store.db.write(record_attempt, delivery, late, store.now(), POLICY.backoff, 1))
    r = row(store, delivery)
    assert status == "delivered" and (r["status"], r["attempts"], r["error"]) == (
        "delivered",
        1,
        None,
    )


# -- the lease ----------------------------------------------------------------------------------


def test_a_claimed_row_is_not_handed_out_again_until_its_lease_ends(store: Store) -> None:
    """Node A claims the row and dies mid-attempt (its attempt never ends); node B gets the
    row once A's lease (30 s) is over, and A's late outcome changes nothing."""
    (delivery,) = queue(store)
    a, b = Box(store, FakeNotifier()), Box(store, FakeNotifier())
    a.notifier.hold = True
    polling = a.poll()
    assert [d.id for d in a.notifier.attempted] == [delivery]
    assert row(store, delivery)["next_at"] == at(30)
    store.clock.advance(29.9)
    assert b.polled() == 0
    store.clock.advance(0.1)
    assert b.polled() == 1
    assert (row(store, delivery)["status"], row(store, delivery)["attempts"]) == ("delivered", 1)
    a.notifier.finish(delivery, Attempt("retry", "HTTP 503", 503))  # A comes back
    assert result(polling) == 1
    r = row(store, delivery)
    assert (r["status"], r["attempts"], r["error"]) == ("delivered", 1, None)


def test_an_outcome_not_recorded_is_attempted_again_after_the_lease(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    (delivery,) = queue(store)
    box = Box(store, FakeNotifier())
    write = store.db.write

    def unavailable_for_records(fn: Any, *args: Any) -> defer.Deferred[Any]:
        if fn is record_attempt:
            return defer.fail(StoreUnavailable("database is locked"))
        return write(fn, *args)

    monkeypatch.setattr(store.db, "write", unavailable_for_records)
    assert box.polled() == 1  # attempted, and the loop goes on
    monkeypatch.setattr(store.db, "write", write)
    assert (row(store, delivery)["status"], row(store, delivery)["attempts"]) == ("pending", 0)
    store.clock.advance(29)
    assert box.polled() == 0
    store.clock.advance(1)
    assert box.polled() == 1
    assert (row(store, delivery)["status"], row(store, delivery)["attempts"]) == ("delivered", 1)
    assert len(box.notifier.attempted) == 2  # at least once: the target may see it twice


def test_a_store_that_is_down_is_an_empty_poll(store: Store) -> None:
    queue(store)
    box = Box(store, FakeNotifier())
    store.db.running = False
    try:
        assert box.polled() == 0
    finally:
        store.db.running = True
    assert box.polled() == 1


# -- attempts at once --------------------------------------------------------------------------


def test_concurrency_bounds_the_attempts_in_flight(store: Store) -> None:
    ids = queue(store, n=5)
    notifier = FakeNotifier(policy=Policy(lease=30, backoff=POLICY.backoff, concurrency=2))
    notifier.hold = True
    box = Box(store, notifier)
    polling = box.poll()
    assert [d.id for d in notifier.attempted] == ids[:2]
    for i, delivery in enumerate(ids):
        assert notifier.in_flight == min(2, 5 - i)
        notifier.finish(delivery)
        assert row(store, delivery)["status"] == "delivered"  # recorded as each one ends
    assert result(polling) == 5
    assert notifier.most_at_once == 2 and len(notifier.attempted) == 5


def test_a_poll_claims_at_most_a_batch(store: Store) -> None:
    queue(store, n=5)
    box = Box(store, FakeNotifier(policy=Policy(lease=30, backoff=POLICY.backoff, batch=3)))
    assert [box.polled(), box.polled(), box.polled()] == [3, 2, 0]


def test_a_notifier_that_raises_is_one_failed_attempt(store: Store) -> None:
    ids = queue(store, n=3)
    box = Box(store, FakeNotifier())
    box.notifier.script = [RuntimeError("a bug"), defer.fail(KeyError("target"))]
    assert box.polled() == 3
    assert [(row(store, i)["status"], row(store, i)["error"]) for i in ids] == [
        ("failed", "RuntimeError"),  # the type only: a message may carry personal data
        ("failed", "KeyError"),
        ("delivered", None),
    ]


def test_the_service_polls_on_after_a_bug(store: Store) -> None:
    (delivery,) = queue(store)
    box = Box(store, FakeNotifier())
    box.notifier.script = [RuntimeError("a bug")]
    box.outbox.startService()  # polls at once
    try:
        assert row(store, delivery)["status"] == "failed"
        store.clock.advance(1)  # poll_interval: not due yet (backoff 2 s)
        assert len(box.notifier.attempted) == 1
        store.clock.advance(1)
        assert row(store, delivery)["status"] == "delivered"
    finally:
        result(box.outbox.stopService())


# -- stopping --------------------------------------------------------------------------------------


def test_stop_waits_for_the_attempts_in_flight(store: Store) -> None:
    ids = queue(store, n=2)
    box = Box(store, FakeNotifier())
    box.notifier.hold = True
    box.outbox.startService()
    assert box.notifier.in_flight == 2
    stopping = box.outbox.stopService()
    assert not stopping.called
    box.notifier.finish(ids[0])
    assert not stopping.called
    box.notifier.finish(ids[1], Attempt("retry", "HTTP 502", 502))
    assert stopping.called and result(stopping) is None
    assert [row(store, i)["status"] for i in ids] == ["delivered", "failed"]  # recorded
    assert store.clock.getDelayedCalls() == []  # no more polls
    queue(store)
    store.clock.advance(60)
    assert len(box.notifier.attempted) == 2


def test_stop_with_nothing_in_flight_is_at_once(store: Store) -> None:
    box = Box(store, FakeNotifier())
    box.outbox.startService()
    d = box.outbox.stopService()
    assert d.called and store.clock.getDelayedCalls() == []
    assert box.outbox.stopService().called  # and again


# -- kinds -----------------------------------------------------------------------------------------


def test_each_kind_takes_only_its_own_rows(store: Store) -> None:
    alpha = queue(store, "alpha", n=2)
    (beta,) = queue(store, "beta")
    a, b = Box(store, FakeNotifier("alpha")), Box(store, FakeNotifier("beta"))
    before = row(store, beta)
    assert a.polled() == 2
    assert [d.id for d in a.notifier.attempted] == alpha
    assert row(store, beta) == before  # not claimed, not touched
    assert b.polled() == 1 and [d.id for d in b.notifier.attempted] == [beta]
    assert a.seen == [("alpha", "delivered")] * 2 and b.seen == [("beta", "delivered")]
    assert Box(store, FakeNotifier("gamma")).polled() == 0
