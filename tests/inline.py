"""The real store, driven inline: for in-process tests whose only clock is a `task.Clock`.

`InlineDatabase` is a `gateway.store.db.Database` (its engines, its migrations, the
writer's `GroupCommitter` and `WriteContext`, SQLite or PostgreSQL) whose `read` and
`write` run on the calling thread and return a Deferred that has already fired. Nothing
waits for the reactor, so a test drives everything (store calls included) by advancing its
Clock, and a coroutine under test runs until it waits on that Clock or on a Deferred the
test holds. What it does not have is the writer thread's batching of several callers'
functions into one commit: each call is its own transaction, as in a batch of one.

`Store` puts intake, the workflow and the incident documents on it, with helpers to file
reports and move incidents along.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, select
from twisted.internet import defer, task
from twisted.python.failure import Failure

from gateway.channel import Channel
from gateway.config import Config
from gateway.intake import Intake
from gateway.report import Location, Receipt, Report, Sender
from gateway.store.db import Database
from gateway.store.engine import TEMPORARY_ERRORS, StoreUnavailable
from gateway.store.tables import deliveries, events
from gateway.store.transaction import GroupCommitter
from gateway.workflow.documents import Documents
from gateway.workflow.machine import Actor
from gateway.workflow.service import Workflow
from gateway.workflow.table import Role
from tests.conftest import T0

T = TypeVar("T")

CITY = "530100000000"
DISTRICT = "530102000000"  # 明湖分局
STATION = "530102510000"  # 南坝派出所
NANBA = Location(lat=24.98, lon=102.65, accuracy_m=15)  # inside 南坝派出所


class InlineDatabase(Database):
    """The store with no threads: each read and write runs at once on this thread."""

    def __init__(self, url: str, channels: Sequence[Channel] = ()) -> None:
        super().__init__(url, reactor=object(), channels=channels)
        self._inline = GroupCommitter(self.write_engine)
        self.running = False
        self.writes = 0  # write functions run (committed or not)

    def start(self, migrate: bool = True) -> defer.Deferred[None]:
        if migrate:
            self.upgrade()
        self.running = True
        return defer.succeed(None)

    def stop(self) -> defer.Deferred[None]:
        self.running = False
        self._inline.close()
        self.write_engine.dispose()
        self.read_engine.dispose()
        return defer.succeed(None)

    def write(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        if not self.running:
            return defer.fail(StoreUnavailable("the store is not running"))
        self.writes += 1
        ((ok, value),) = self._inline.run([(fn, args)])
        return defer.succeed(value) if ok else defer.fail(Failure(value))

    def read(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        if not self.running:
            return defer.fail(StoreUnavailable("the store is not running"))
        try:
            with self.read_engine.connect() as conn:
                return defer.succeed(fn(conn, *args))
        except TEMPORARY_ERRORS as e:
            return defer.fail(StoreUnavailable(str(e)))
        except Exception:  # noqa: BLE001 - the caller gets it, as from a reader thread
            return defer.fail()


def result(d: defer.Deferred[T]) -> T:
    """What an inline store call (or anything that needs no waiting) came to."""
    out: list[Any] = []
    d.addBoth(out.append)
    assert out, "the Deferred has not fired: it waits for the clock or for a peer"
    if isinstance(out[0], Failure):
        out[0].raiseException()
    return out[0]  # type: ignore[no-any-return]


class Store:
    """An `InlineDatabase` (migrated unless `migrate` is False: a copy of one that was)
    with intake, the workflow and documents, on `clock` (a `task.Clock` set to T0)."""

    def __init__(
        self, url: str, config: Config, clock: task.Clock | None = None, migrate: bool = True
    ) -> None:
        self.config = config
        self.clock = clock or task.Clock()
        if self.clock.seconds() == 0:
            self.clock.advance(T0.timestamp())
        self.db = InlineDatabase(url, config.enabled_channels)
        result(self.db.start(migrate))
        self.documents = Documents(config.enabled_channels)
        self.intake = Intake(self.db, config, self.clock)
        self.workflow = Workflow(self.db, config, self.clock, self.documents)
        self._seq = 0

    def close(self) -> None:
        result(self.db.stop())

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    # -- reports and incidents -----------------------------------------------------------

    def report(self, **kw: Any) -> Report:
        """A web report from a phone of its own (nothing correlates it with another)."""
        self._seq += 1
        fields: dict[str, Any] = dict(
            channel="web",
            external_id=f"ext-{self._seq}",
            received_at=self.now(),
            sender=Sender("phone", f"1370000{self._seq:04d}"),
            text="南坝路有人打架",
        )
        return Report(**(fields | kw))

    def submit(self, report: Report | None = None) -> Receipt:
        return result(self.intake.submit(report or self.report(location=NANBA)))

    def act(self, number: str, action: str, who: Actor, **params: Any) -> dict[str, Any]:
        return result(self.workflow.act(number, action, who, params))

    def dispatched(self, number: str | None = None, unit: str = STATION, **accept: Any) -> str:
        """An incident (a fight on 南坝路 unless `number` is given) accepted (criminal,
        priority 2 unless `accept` says otherwise) and dispatched to `unit`."""
        number = number or self.submit().incident
        self.act(number, "accept", staff("calltaker"), **({"category": "criminal"} | accept))
        self.act(number, "dispatch", staff("dispatcher"), unit=unit)
        return number

    # -- reading ------------------------------------------------------------------------

    def read(self, fn: Callable[[Connection], T]) -> T:
        return result(self.db.read(fn))

    def document(self, number: str) -> dict[str, Any]:
        return self.read(lambda c: self.documents.of(c, number, detail=True))

    def deliveries(self, kind: str | None = None) -> list[Any]:
        q = select(deliveries).order_by(deliveries.c.id)
        if kind is not None:
            q = q.where(deliveries.c.kind == kind)
        return self.read(lambda c: list(c.execute(q).mappings()))

    def events(self, number: str, action: str | None = None) -> list[Any]:
        q = select(events).where(events.c.number == number).order_by(events.c.seq)
        rows = self.read(lambda c: list(c.execute(q).mappings()))
        return [r for r in rows if action is None or r["action"] == action]


def sqlite_copy(template: Path, folder: Path) -> str:
    """The URL of a copy of the SQLite database `template` (migrating costs more than
    a copy)."""
    path = folder / template.name
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def staff(role: str, unit: str = CITY, user: str = "tester") -> Actor:
    return Actor(user, Role(role), unit)
