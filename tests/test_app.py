"""The assembled gateway in one process: services start in order and stop cleanly, and
the deadline timer escalates in simulated time (a `task.Clock`) while the store runs on
real threads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import reactor, task

from gateway.app import build
from gateway.report import Location, Report, Sender
from gateway.workflow.machine import Actor
from gateway.workflow.table import Role
from tests.conftest import T0

STATION, DISTRICT, CITY = "530102510000", "530102000000", "530100000000"


def _incident(gw: Any, number: str) -> Any:
    return gw.db.read(gw.documents.of, number, True)


@pytest_twisted.inlineCallbacks
def test_missed_acknowledgement_escalates_in_simulated_time(tmp_path: Path, config) -> Any:
    clock = task.Clock()
    clock.advance(T0.timestamp())
    top, gw = build(config, tmp_path, ("127.0.0.1", 0), reactor, clock)
    yield top.startService()
    try:
        receipt = yield gw.submit(
            Report(
                channel="web",
                external_id="timer-1",
                received_at=T0,
                sender=Sender("phone", "13800000001"),
                text="入室盗窃",
                location=Location(lat=24.98, lon=102.65),
            )
        )
        n = receipt.incident
        dispatcher = Actor("dp", Role.DISPATCHER, CITY)
        yield gw.act(n, "accept", dispatcher, {"category": "criminal", "priority": 1})
        yield gw.act(n, "dispatch", dispatcher, {})
        ack = config.sla.seconds("acknowledge", 1)
        assert ack is not None
        clock.advance(ack - 1)
        yield _settle()
        assert (yield _incident(gw, n))["unit"] == STATION
        clock.advance(2)
        doc = yield _wait_for(gw, n, lambda d: d["unit"] == DISTRICT)
        assert [e["action"] for e in doc["events"]][-2:] == ["deadline_missed", "escalate"]
        clock.advance(ack + 1)
        doc = yield _wait_for(gw, n, lambda d: d["unit"] == CITY)
        assert doc["state"] == "dispatched"
    finally:
        yield top.stopService()
    assert not gw.db._accepting


@pytest_twisted.inlineCallbacks
def _settle() -> Any:
    for _ in range(5):
        yield task.deferLater(reactor, 0.02, lambda: None)


@pytest_twisted.inlineCallbacks
def _wait_for(gw: Any, number: str, ok: Any) -> Any:
    for _ in range(250):
        doc = yield _incident(gw, number)
        if ok(doc):
            return doc
        yield task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError(f"condition not reached: {doc}")
