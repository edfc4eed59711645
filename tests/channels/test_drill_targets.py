"""A drill never reaches a real notify target: a drill incident's notices go to the drill
targets of its units only (`drill = true` in a unit's notify list), a real incident's never
go there. The in-process channel city (tests/channels/fakes.py): 南坝派出所 has a duty SMS,
a duty phone and a drill phone; the city center (priority 1 notifies it) has no drill
target, so a drill's priority-1 notice to it is queued nowhere."""

from __future__ import annotations

from sqlalchemy import select

from gateway.store.tables import incidents
from tests.channels.fakes import STATION_DRILL_PHONE, STATION_PHONE, STATION_SMS
from tests.inline import NANBA, STATION, Store


def test_a_drill_incident_notifies_only_drill_targets(store: Store) -> None:
    drill = store.submit(store.report(location=NANBA, drill=True)).incident
    store.dispatched(drill, unit=STATION, priority=1)
    real = store.dispatched(unit=STATION, priority=1)

    def targets(number: str) -> set[tuple[str, str, bool]]:
        (incident,) = store.read(
            lambda c: c.execute(select(incidents.c.id).where(incidents.c.number == number)).all()
        )
        return {
            (d["kind"], d["target"], bool(d["drill"]))
            for d in store.deliveries()
            if d["incident_id"] == incident.id
        }

    assert targets(drill) == {("phone", STATION_DRILL_PHONE, True)}
    real_targets = targets(real)
    assert ("phone", STATION_PHONE, False) in real_targets
    assert ("sms", STATION_SMS, False) in real_targets
    assert all(t != STATION_DRILL_PHONE for _, t, _ in real_targets)
