"""Intake, correlation, the workflow and deadlines against a real store (SQLite and
PostgreSQL), in simulated time: each step is one committed transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, text

from gateway.errors import DomainError, NotFound, NothingToJoin
from gateway.report import AlarmRef, InvalidReport, Location
from gateway.store import audit
from gateway.store.tables import deliveries, reports
from gateway.workflow.machine import Forbidden, NotAllowedInState
from tests.conftest import T0
from tests.harness import CITY, DISTRICT, STATION, Harness, actor

NANBA = Location(lat=24.98, lon=102.65, accuracy_m=15)  # inside 南坝派出所 (530102510000)


@pytest.fixture
def h(store_url: str, config) -> Iterator[Harness]:
    harness = Harness(store_url, config, T0)
    yield harness
    harness.close()


def incident(h: Harness, number: str) -> dict:

    return h.read(lambda c: h.workflow.documents.of(c, number, detail=True))


def test_report_opens_incident_suggested_to_station(h: Harness) -> None:
    r = h.submit(h.report(location=NANBA))
    assert r.incident.startswith("530100-20261124-")
    assert r.state == "received" and not r.duplicate and not r.attached
    doc = incident(h, r.incident)
    assert doc["unit"] == STATION and doc["unit_assigned"] is False
    assert [d["step"] for d in doc["deadlines"]] == ["accept"]
    assert doc["reports"][0]["receipt"] == r.receipt
    assert doc["events"][0]["action"] == "create"


def test_same_external_id_is_stored_once(h: Harness) -> None:
    rep = h.report(external_id="sms-1")
    first = h.submit(rep)
    again = h.submit(rep)
    assert again.duplicate and again.receipt == first.receipt
    assert again.incident == first.incident
    n = h.read(lambda c: c.execute(select(reports.c.id)).all())
    assert len(n) == 1


def test_numbers_count_per_local_day(h: Harness) -> None:
    a = h.submit(h.report(sender=h.report().sender.__class__("web", "anonymous")))
    b = h.submit(h.report(sender=h.report().sender.__class__("web", "anonymous")))
    assert a.incident.endswith("-000001") and b.incident.endswith("-000002")
    h.advance(16 * 3600)  # 2026-11-25 01:00 in Shanghai
    c = h.submit(h.report())
    assert c.incident == "530100-20261125-000001"


def test_correlation_same_sender_within_window(h: Harness) -> None:
    first = h.submit(h.report(external_id="a"))
    rep = h.report(external_id="b")
    rep = rep.__class__(**{**rep.__dict__}) if False else rep
    same_sender = h.report(
        external_id="c", sender=h.report().sender.__class__("phone", "13900000001")
    )
    one = h.submit(same_sender)
    h.advance(300)
    two = h.submit(h.report(external_id="d", sender=same_sender.sender))
    assert two.attached and two.incident == one.incident
    h.advance(h.config.correlation.sender_window + 1)
    three = h.submit(h.report(external_id="e", sender=same_sender.sender))
    assert not three.attached and three.incident != one.incident
    assert first.incident != one.incident


def test_an_incident_without_a_place_takes_the_first_point_a_later_report_brings(
    h: Harness,
) -> None:
    """A Telegram text, then the location from the app: the incident has the place (its map,
    the dispatch suggestion); a third report elsewhere does not move it."""
    who = h.report().sender.__class__("account", "telegram:10086")
    first = h.submit(h.report(external_id="t1", sender=who, location=None))
    assert incident(h, first.incident)["location"] is None
    second = h.submit(h.report(external_id="t2", sender=who, location=NANBA))
    assert second.attached and second.incident == first.incident
    loc = incident(h, first.incident)["location"]
    assert (loc["lat"], loc["lon"], loc["accuracy_m"]) == (24.98, 102.65, 15)
    elsewhere = Location(lat=25.1, lon=102.7, accuracy_m=5)
    h.submit(h.report(external_id="t3", sender=who, location=elsewhere))
    assert incident(h, first.incident)["location"]["lat"] == 24.98


def test_correlation_alarm_account_and_zone(h: Harness) -> None:
    a = h.submit(
        h.report(sender=h.report().sender.__class__("account", "1234"), alarm=AlarmRef("1234", "3"))
    )
    b = h.submit(
        h.report(sender=h.report().sender.__class__("terminal", "x"), alarm=AlarmRef("1234", "3"))
    )
    c = h.submit(
        h.report(sender=h.report().sender.__class__("terminal", "y"), alarm=AlarmRef("1234", "4"))
    )
    assert b.attached and b.incident == a.incident
    assert not c.attached


def test_a_panels_fire_is_not_its_burglary(h: Harness) -> None:
    """The same panel (sender) within the sender window: a fire in another zone is an
    incident of its own (category fire reaches 119), not a report of the burglary."""
    panel = h.report().sender.__class__("account", "4321")
    loc = Location(lat=24.99, lon=102.66)
    burglary = h.submit(h.report(sender=panel, alarm=AlarmRef("4321", "15"), location=loc,
                                 category="criminal"))  # fmt: skip
    fire = h.submit(h.report(sender=panel, alarm=AlarmRef("4321", "3"), location=loc,
                             category="fire"))  # fmt: skip
    assert not fire.attached and fire.incident != burglary.incident
    again = h.submit(h.report(sender=panel, alarm=AlarmRef("4321", "15"), location=loc))
    assert again.attached and again.incident == burglary.incident


def test_restoral_joins_its_open_alarm_however_old_and_never_opens_one(h: Harness) -> None:
    """A panel's restoral (`follow_up`) attaches to the open incident of its account and
    zone even after the alarm window; with none open it stores nothing (NothingToJoin)."""
    panel = h.report().sender.__class__("account", "5678")
    alarm = h.submit(h.report(sender=panel, alarm=AlarmRef("5678", "2"), priority=1))
    assert incident(h, alarm.incident)["priority"] == 1  # the report's, not criminal's 2
    h.advance(h.config.correlation.alarm_window + h.config.correlation.sender_window + 60)
    restoral = h.submit(
        h.report(sender=panel, alarm=AlarmRef("5678", "2"), follow_up=True, text="BR")
    )
    assert restoral.attached and restoral.incident == alarm.incident
    before = h.read(lambda c: c.execute(select(reports.c.id)).all())
    with pytest.raises(NothingToJoin):
        h.submit(h.report(sender=panel, alarm=AlarmRef("5678", "9"), follow_up=True))
    assert h.read(lambda c: c.execute(select(reports.c.id)).all()) == before


def test_report_priority_must_be_one_to_four(h: Harness) -> None:
    for bad in (0, 5, True):
        with pytest.raises(InvalidReport, match="priority"):
            h.report(priority=bad)
    with pytest.raises(InvalidReport, match="follow_up"):
        h.report(follow_up=True)


def test_correlation_place_and_category(h: Harness) -> None:
    a = h.submit(h.report(location=NANBA, category="fire"))
    near = Location(lat=24.9810, lon=102.65, accuracy_m=10)  # ~111 m north
    far = Location(lat=24.9830, lon=102.65, accuracy_m=10)  # ~333 m north
    b = h.submit(h.report(location=near, category="fire"))
    c = h.submit(h.report(location=near, category="traffic"))
    d = h.submit(h.report(location=far, category="fire"))
    assert b.attached and b.incident == a.incident
    assert not c.attached and not d.attached


def test_drills_never_correlate_with_real_alarms(h: Harness) -> None:
    real = h.submit(h.report(sender=h.report().sender.__class__("phone", "13700000000")))
    drill = h.submit(
        h.report(sender=h.report().sender.__class__("phone", "13700000000"), drill=True)
    )
    assert not drill.attached and drill.incident != real.incident


def test_full_lifecycle_by_roles(h: Harness) -> None:
    r = h.submit(h.report(location=NANBA))
    n = r.incident
    doc = h.act(n, "accept", actor("calltaker"), category="criminal", priority=2)
    assert doc["state"] == "accepted" and doc["unit"] == STATION
    doc = h.act(n, "dispatch", actor("dispatcher"))
    assert doc["state"] == "dispatched" and doc["unit_assigned"]
    officer = actor("unit_officer", STATION)
    for action, state, extra in (
        ("acknowledge", "acknowledged", {}),
        ("arrive", "on_scene", {}),
        ("feedback", "handled", {"result": "嫌疑人已抓获"}),
    ):
        doc = h.act(n, action, officer, **extra)
        assert doc["state"] == state
    doc = h.act(n, "close", actor("supervisor"))
    assert doc["state"] == "closed"
    assert set(doc["milestones"]) >= {
        "received",
        "accepted",
        "dispatched",
        "acknowledged",
        "on_scene",
        "handled",
        "closed",
    }
    assert [e["action"] for e in doc["events"]] == [
        "create",
        "accept",
        "dispatch",
        "acknowledge",
        "arrive",
        "feedback",
        "close",
    ]
    assert doc["result"] == "嫌疑人已抓获"
    assert doc["deadlines"] == []  # all met


def test_refusals_name_state_action_role_and_scope(h: Harness) -> None:
    n = h.submit(h.report(location=NANBA)).incident
    with pytest.raises(NotAllowedInState, match="received.*acknowledge"):
        h.act(n, "acknowledge", actor("supervisor"))
    with pytest.raises(Forbidden, match="unit_officer may not accept"):
        h.act(n, "accept", actor("unit_officer", STATION), category="criminal")
    other_station = "530103510000"
    h.act(n, "accept", actor("calltaker"), category="criminal")
    h.act(n, "dispatch", actor("dispatcher"))
    with pytest.raises(Forbidden, match="outside the scope"):
        h.act(n, "acknowledge", actor("unit_officer", other_station))
    with pytest.raises(NotFound):
        h.act("530100-20261124-999999", "accept", actor("calltaker"), category="criminal")
    with pytest.raises(DomainError, match="unknown category"):
        n2 = h.submit(h.report()).incident
        h.act(n2, "accept", actor("calltaker"), category="nonsense")


def test_missed_acknowledgement_escalates_station_district_city(h: Harness) -> None:
    n = h.submit(h.report(location=NANBA)).incident
    h.act(n, "accept", actor("calltaker"), category="criminal", priority=1)
    h.act(n, "dispatch", actor("dispatcher"))
    ack = h.config.sla.seconds("acknowledge", 1)
    h.advance(ack - 1)
    assert h.fire() == []
    h.advance(2)
    assert h.fire() == [n]
    doc = incident(h, n)
    assert doc["unit"] == DISTRICT and doc["state"] == "dispatched"
    assert [e["action"] for e in doc["events"]][-2:] == ["deadline_missed", "escalate"]
    assert [d["unit"] for d in doc["deadlines"] if not d["fired"]] == [DISTRICT]
    h.advance(ack + 1)
    assert h.fire() == [n]
    assert incident(h, n)["unit"] == CITY
    # The district officer can no longer acknowledge (it left their scope); the city can.
    with pytest.raises(Forbidden):
        h.act(n, "acknowledge", actor("unit_officer", DISTRICT))
    assert h.act(n, "acknowledge", actor("unit_officer", CITY))["state"] == "acknowledged"


def test_unaccepted_report_alerts_supervisor_once(h: Harness) -> None:
    n = h.submit(h.report(location=NANBA, category="criminal")).incident
    h.advance(h.config.sla.seconds("accept", h.config.categories["criminal"].priority) + 1)
    assert h.fire() == [n]
    assert h.fire() == []
    doc = incident(h, n)
    assert doc["state"] == "received"
    assert doc["events"][-1]["action"] == "deadline_missed"
    assert doc["deadlines"][0]["fired"] is True


def test_merge_unmerge_and_detach(h: Harness) -> None:
    a = h.submit(h.report(location=NANBA)).incident
    b = h.submit(h.report(location=NANBA)).incident
    ct = actor("calltaker")
    h.act(b, "merge", ct, master=a)
    assert incident(h, a)["report_count"] == 2
    assert incident(h, b)["state"] == "merged"
    with pytest.raises(DomainError):
        h.act(a, "merge", ct, master=b)  # b is merged: not a master
    h.act(b, "unmerge", ct)
    assert incident(h, a)["report_count"] == 1 and incident(h, b)["state"] == "received"
    sender = h.report().sender.__class__("phone", "13600000000")
    c = h.submit(h.report(sender=sender))
    d = h.submit(h.report(sender=sender))
    assert d.attached
    doc = h.act(c.incident, "detach", ct, report=d.receipt)
    assert doc["report_count"] == 1
    moved = h.read(
        lambda conn: conn.execute(
            select(reports.c.auto_attached, reports.c.incident_id).where(
                reports.c.receipt == d.receipt
            )
        ).one()
    )
    assert moved.auto_attached is False
    with pytest.raises(DomainError, match="nothing to detach"):
        h.act(c.incident, "detach", ct, report=c.receipt)


def test_dispatch_queues_webhook_delivery(h: Harness) -> None:
    n = h.submit(h.report(location=NANBA)).incident
    h.act(n, "accept", actor("calltaker"), category="fire")
    h.act(n, "dispatch", actor("dispatcher"))
    rows = h.read(lambda c: c.execute(select(deliveries.c.reason, deliveries.c.target)).all())
    reasons = {r.reason for r in rows}
    assert "dispatch" in reasons or any(r.target.endswith("/119") for r in rows)
    assert any(r.target.endswith("/119") for r in rows)  # fire also notifies 119


def test_audit_chain_verifies_and_catches_edits(h: Harness) -> None:
    n = h.submit(h.report(location=NANBA)).incident
    h.act(n, "accept", actor("calltaker"), category="criminal")
    h.act(n, "dispatch", actor("dispatcher"))
    count, problems = h.read(audit.verify)
    assert count == 3 and problems == []
    with h.db.write_engine.begin() as conn:
        conn.execute(text("UPDATE events SET reason = 'x' WHERE seq = 2"))
    _, problems = h.read(audit.verify)
    assert [p.seq for p in problems] == [2]
    with h.db.write_engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE seq = 3"))
    _, problems = h.read(audit.verify)
    assert any("chain head" in p.what for p in problems)


def test_list_documents_match_single_documents(h: Harness) -> None:
    """The queue renders many incidents in two queries; each must equal its own document."""
    from gateway.store.tables import incidents

    sender = h.report().sender.__class__("phone", "13300000000")
    h.submit(h.report(sender=sender))
    h.submit(h.report(sender=sender))  # attached: report_count 2
    n = h.submit(h.report(location=NANBA)).incident
    h.act(n, "accept", actor("calltaker"), category="criminal")
    h.submit(h.report(sender=h.report().sender.__class__("web", "anonymous")))

    def both(conn):
        rows = list(conn.execute(select(incidents).order_by(incidents.c.id)).mappings())
        documents = h.workflow.documents
        return documents.many(conn, rows), [documents.one(conn, r) for r in rows]

    many, single = h.read(both)
    assert many == single and len(many) == 3
    assert sorted(d["report_count"] for d in many) == [1, 1, 2]
