"""Incident documents carry each enabled channel's view under its key, and validate against
the incident schema the gateway serves: the core's file with the channels' view schemas
(`gateway.http.contract.incident_schema`). With a 110 call (its row written as the AMI
channel writes it: abandoned in the queue, with a callback task) and SMS sent on the
incident (the receipt reply queued with the report, a call-taker's reply, a notice)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.channels.ami import store as calls
from gateway.channels.ami.calls import Call, end
from gateway.channels.ami.service import report_of
from gateway.channels.smpp import store as sms
from gateway.channels.smpp.text import split_for_sending
from gateway.http import contract
from gateway.schemas import load_schema
from tests.inline import STATION, Store, result, staff

BASE = "https://alarmgw.invalid/schemas/"


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    registry: Registry = Registry().with_resources(
        (BASE + name, Resource.from_contents(load_schema(name), default_specification=DRAFT202012))
        for name in ("report.schema.json", "event.schema.json", "receipt.schema.json")
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def test_channel_views_validate_against_the_served_incident_schema(store: Store) -> None:
    channels = store.config.enabled_channels
    assert {c.code for c in channels} >= {"ami", "smpp"}
    served = validator(contract.incident_schema(channels))

    # A 110 call filed at arrival, as the AMI channel files it, and its row.
    now = store.now()
    call = Call(
        linkedid="1764000000.11",
        uniqueid="1764000000.11",
        channel="PJSIP/carrier-00000011",
        caller="13900001111",
        caller_name="张三",
        trunk="carrier",
        drill=False,
        arrived_at=now,
    )
    number = store.submit(report_of(call)).incident
    store.clock.advance(20)
    gone = end(call, now + timedelta(seconds=20), "caller")  # abandoned: a callback task
    result(store.db.write(calls.save, gone.call.row(), gone.event, gone.data, store.now()))

    # SMS on its thread: a reply to a citizen, and a duty phone's notice.
    text = "民警已出发，请保持电话畅通"
    parts = len(split_for_sending(text, 7)[1])
    result(
        store.db.write(
            sms.queue, number, "reply", "13900001111", text, parts, 7, None, store.now(),
            staff("calltaker"),
        )
    )  # fmt: skip
    store.dispatched(number, unit=STATION)
    result(
        store.db.write(
            sms.notice_sent, number, "13900000001", "【110指挥中心】警情…", 8, [(1, "m-1")],
            store.now(),
        )
    )  # fmt: skip

    doc = store.document(number)
    assert [c["state"] for c in doc["calls"]] == ["abandoned"]
    assert [m["kind"] for m in doc["sms"]] == ["reply", "notice"]
    problems = [(list(e.path), e.message) for e in served.iter_errors(doc)]
    assert problems == []
    (listed,) = store.read(lambda c: store.documents.many(c, [_row(c, number)]))
    assert listed["tasks"] == [
        {
            "kind": "callback",
            "number": "13900001111",
            "status": "pending",
            "attempts": 0,
            "since": listed["tasks"][0]["since"],
        }
    ]
    assert "calls" not in listed and "sms" not in listed  # detail views only
    assert list(served.iter_errors(listed)) == []

    # And the core's own file, which knows no channel, refuses the channel keys.
    core = validator(load_schema("incident.schema.json"))
    assert not core.is_valid(doc)


def _row(conn: Any, number: str) -> Any:
    from gateway.workflow import records

    return records.load(conn, number)
