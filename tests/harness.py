"""A store with intake and workflow, driven synchronously (no reactor): each call is one
committed transaction, exactly as the writer thread would run it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gateway.config import Config
from gateway.intake import Intake
from gateway.report import Location, Receipt, Report, Sender
from gateway.store.db import Database
from gateway.workflow.machine import Actor
from gateway.workflow.service import Workflow
from gateway.workflow.table import Role

CITY = "530100000000"
DISTRICT = "530102000000"
STATION = "530102510000"


class Harness:
    def __init__(self, url: str, config: Config, now: datetime) -> None:
        self.db = Database(url, reactor=object())
        self.db.upgrade()
        self.config = config
        self.now = now
        self.intake = Intake(self.db, config, clock=None)
        self.workflow = Workflow(self.db, config, clock=None)
        self.seq = 0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def submit(self, report: Report) -> Receipt:
        return self.db.run_sync(self.intake.store, report, self.now)

    def report(self, **kw: Any) -> Report:
        self.seq += 1
        fields: dict[str, Any] = dict(
            channel="web",
            external_id=f"ext-{self.seq}",
            received_at=self.now,
            sender=Sender("phone", f"1380000{self.seq:04d}"),
            text="有人在抢劫",
        )
        fields.update(kw)
        return Report(**fields)

    def act(self, number: str, action: str, actor: Actor, **params: Any) -> dict[str, Any]:
        return self.db.run_sync(self.workflow.act_in, number, action, actor, params, self.now)

    def fire(self) -> list[str]:
        return self.db.run_sync(self.workflow.fire_due_in, self.now, 100)

    def read(self, fn: Any, *args: Any) -> Any:
        with self.db.read_engine.connect() as conn:
            return fn(conn, *args)

    def close(self) -> None:
        self.db.write_engine.dispose()
        self.db.read_engine.dispose()


def actor(role: str, unit: str = CITY, user: str = "tester") -> Actor:
    return Actor(user, Role(role), unit)


def at_station(lat: float = 0, lon: float = 0) -> Location:
    return Location(lat=lat, lon=lon, accuracy_m=10)
