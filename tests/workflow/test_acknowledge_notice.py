"""A duty phone's answer to its notice (`Workflow.acknowledge_notice_in`), through the real
store on SQLite and PostgreSQL: the unit's 签收 when the incident waits for that very
unit, by an officer named after the phone; only a confirmation when the unit was just
informed. The channels that call it (SMS ``1 <incident>``, DTMF 1) are in
tests/channels/*/test_duty.py; here the outbox rows are the workflow's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import NotFound
from gateway.report import format_utc
from tests.channels.fakes import CITY_PHONE, CITY_SMS, STATION_PHONE, STATION_SMS, city
from tests.inline import CITY, DISTRICT, STATION, Store, result, staff

REASON = "值班手机短信回复签收 (acknowledged by SMS)"


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    s = Store(store_url, city(tmp_path))
    yield s
    s.close()


def notice(store: Store, kind: str, unit: str, reason: str | None = None) -> int:
    """The id of the latest outbox row of `kind` to `unit` (for `reason`)."""
    rows = [
        r
        for r in store.deliveries(kind)
        if r["unit"] == unit and (reason is None or r["reason"] == reason)
    ]
    assert rows, (kind, unit, reason)
    return int(rows[-1]["id"])


def answer(store: Store, delivery: int) -> tuple[str, str, dict[str, Any] | None]:
    return result(store.workflow.acknowledge_notice(delivery, REASON))


@pytest.mark.parametrize(
    "kind, user", [("sms", f"sms:{STATION_SMS}"), ("phone", f"phone:{STATION_PHONE}")]
)
def test_the_dispatched_units_duty_phone_acknowledges(store: Store, kind: str, user: str) -> None:
    number = store.dispatched()
    events = len(store.events(number))
    store.clock.advance(20)
    out = answer(store, notice(store, kind, STATION, "dispatch"))
    assert out[:2] == (number, "acknowledged")
    doc = out[2]
    assert doc is not None and doc["state"] == "acknowledged" and doc["unit"] == STATION
    assert doc == store.document(number)
    (ack,) = store.events(number)[events:]
    assert (ack["action"], ack["from_state"], ack["to_state"]) == (
        "acknowledge",
        "dispatched",
        "acknowledged",
    )
    assert ack["actor"] == {"user": user, "role": "unit_officer", "unit": STATION}
    assert ack["reason"] == REASON and ack["at"] == store.now()
    assert doc["milestones"]["acknowledged"] == format_utc(store.now())
    # The acknowledge deadline is met, the next one (arrive) armed.
    assert [d["step"] for d in doc["deadlines"] if not d["fired"]] == ["arrive"]


def confirmed(store: Store, number: str, delivery: int) -> None:
    """Answering `delivery` only confirms it: nothing about the incident changes."""
    before = store.document(number)
    assert answer(store, delivery) == (number, "confirmed", None)
    assert store.document(number) == before


@pytest.mark.parametrize("kind", ["sms", "phone"])
def test_the_city_center_told_of_a_priority_1_only_confirms(store: Store, kind: str) -> None:
    number = store.dispatched(priority=1)
    center = notice(store, kind, CITY)
    assert store.deliveries(kind)[0]["id"] == center  # told at accept, before the station
    confirmed(store, number, center)
    assert store.document(number)["state"] == "dispatched"


def test_the_unit_before_an_escalation_only_confirms(store: Store) -> None:
    number = store.dispatched()
    station = notice(store, "sms", STATION)
    store.clock.advance(store.config.sla.seconds("acknowledge", 2) + 1)
    assert result(store.workflow.fire_due()) == [number]
    assert store.document(number)["unit"] == DISTRICT
    confirmed(store, number, station)
    # 明湖分局 itself acknowledges (the district has no duty phone in this city)
    doc = store.act(number, "acknowledge", staff("unit_officer", DISTRICT))
    assert doc["state"] == "acknowledged"


def test_after_the_acknowledgement_an_answer_only_confirms(store: Store) -> None:
    number = store.dispatched()
    sms, phone = notice(store, "sms", STATION), notice(store, "phone", STATION)
    assert answer(store, phone)[1] == "acknowledged"
    confirmed(store, number, sms)  # the SMS answer comes second
    confirmed(store, number, phone)  # and a repeated one


def test_the_unit_escalated_to_acknowledges_with_its_own_notice(store: Store) -> None:
    """Escalated twice (station → district → city): the city center's duty phone answers
    the notice of the escalation, and that is the 签收."""
    number = store.dispatched()
    for _ in range(2):
        store.clock.advance(store.config.sla.seconds("acknowledge", 2) + 1)
        assert result(store.workflow.fire_due()) == [number]
    assert store.document(number)["unit"] == CITY
    out = answer(store, notice(store, "phone", CITY))
    assert out[1] == "acknowledged"
    assert store.events(number)[-1]["actor"]["user"] == f"phone:{CITY_PHONE}"
    assert out[2] is not None and out[2]["unit"] == CITY
    assert f"sms:{CITY_SMS}" not in str(store.events(number))


def test_a_notice_to_no_unit_only_confirms(store: Store) -> None:
    """A category's also_notify target (fire → 119) belongs to no unit."""
    number = store.dispatched(category="fire")
    (to_119,) = [r for r in store.deliveries("webhook") if r["unit"] is None]
    confirmed(store, number, int(to_119["id"]))


def test_a_notice_that_does_not_exist_is_not_found(store: Store) -> None:
    store.dispatched()
    unknown = max(r["id"] for r in store.deliveries()) + 1
    with pytest.raises(NotFound, match=f"no notice {unknown}"):
        answer(store, unknown)


def test_a_notice_of_an_incident_not_yet_dispatched_only_confirms(store: Store) -> None:
    """Accepted with priority 1: the city center is told before any unit is dispatched."""
    number = store.submit().incident
    store.act(number, "accept", staff("calltaker"), category="criminal", priority=1)
    confirmed(store, number, notice(store, "sms", CITY))
    assert store.document(number)["state"] == "accepted"
