"""Defects a user found in the workflow, each pinned by a test through a stable interface:
the pure `machine.apply` and the configuration loader."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.config import load_config, sample_text
from gateway.report import Report, Sender
from gateway.workflow import correlate
from gateway.workflow.machine import Actor, BadParameters, Snapshot, apply
from gateway.workflow.table import Role, State
from tests.harness import Harness

CONFIG = load_config(None)
NOW = datetime(2026, 11, 24, 1, tzinfo=UTC)
CITY, NANBA = "530100000000", "530102510000"
CALLTAKER = Actor("ct", Role.CALLTAKER, CITY)


def received(**kw: object) -> Snapshot:
    return Snapshot("530100-20261124-000001", State.RECEIVED, unit=NANBA, **kw)  # type: ignore[arg-type]


# -- 1. a priority sent as a whole float (1.0, 4.0, 1e0) is that integer -------------------------


@pytest.mark.parametrize("priority", [1.0, 4.0])
def test_accept_takes_a_whole_float_priority_as_the_integer(priority: float) -> None:
    out = apply(
        received(),
        "accept",
        CALLTAKER,
        {"category": "criminal", "priority": priority},
        now=NOW,
        org=CONFIG.org,
        sla=CONFIG.sla,
    )
    assert out.incident.priority == int(priority)
    assert type(out.incident.priority) is int
    assert type(out.events[0].data["priority"]) is int
    [deadline] = [e for e in out.effects if hasattr(e, "due")]
    seconds = CONFIG.sla.seconds("dispatch", int(priority))
    assert seconds is not None and (deadline.due - NOW).total_seconds() == seconds


def test_a_whole_float_category_priority_in_the_config_is_the_integer(tmp_path: Path) -> None:
    old = '[categories.criminal]\nname = "刑事"\npriority = 2\n'
    assert old in sample_text()
    path = tmp_path / "city.toml"
    path.write_text(sample_text().replace(old, old.replace("= 2\n", "= 1.0\n")), "utf-8")
    config = load_config(path)
    assert type(config.categories["criminal"].priority) is int
    out = apply(
        received(),
        "accept",
        CALLTAKER,
        {"category": "criminal", "default_priority": config.categories["criminal"].priority},
        now=NOW,
        org=config.org,
        sla=config.sla,
    )
    assert out.incident.priority == 1 and type(out.incident.priority) is int


# -- 2. half a location on an action, and location changes in the audit log --------------------

HERE = {"lat": 24.98, "lon": 102.65, "accuracy_m": 15.0}


@pytest.mark.parametrize(
    "location", [{"lon": 100.0}, {"lat": 1e-101}, {"accuracy_m": 5}, {}], ids=str
)
def test_accept_refuses_half_a_location(location: dict[str, float]) -> None:
    with pytest.raises(BadParameters) as refused:
        apply(
            received(location=HERE),
            "accept",
            CALLTAKER,
            {"category": "criminal", "location": location},
            now=NOW,
            org=CONFIG.org,
            sla=CONFIG.sla,
        )
    assert refused.value.field == "location"


def test_a_location_change_is_in_the_event() -> None:
    moved = {"lat": 25.04, "lon": 102.71, "address": "青年路1号"}
    out = apply(
        received(location=HERE),
        "accept",
        CALLTAKER,
        {"category": "criminal", "location": moved},
        now=NOW,
        org=CONFIG.org,
        sla=CONFIG.sla,
    )
    assert out.incident.location == moved
    assert out.events[0].data["location"] == moved
    assert out.events[0].data["from_location"] == HERE
    same = apply(
        received(location=HERE),
        "accept",
        CALLTAKER,
        {"category": "criminal", "location": dict(HERE)},
        now=NOW,
        org=CONFIG.org,
        sla=CONFIG.sla,
    )
    assert "location" not in same.events[0].data and "from_location" not in same.events[0].data


# -- 6. phone numbers: one key for every spelling of a number --------------------------------


def test_sender_key_is_the_normalised_number_and_leaves_other_ids_alone() -> None:
    def key(kind: str, sender_id: str) -> str:
        return correlate.sender_key(
            Report("web", "x", NOW, Sender(kind, sender_id))  # the key ignores the rest
        )

    assert key("phone", "+86 139 1111 2222") == key("phone", "13911112222") == "phone:13911112222"
    assert key("phone", "anonymous-1764000000.12") == "phone:anonymous-1764000000.12"
    assert key("email", "a.b@example.com") == "email:a.b@example.com"


def test_the_same_phone_spelled_differently_correlates(store_url: str) -> None:
    h = Harness(store_url, CONFIG, NOW)
    try:
        first = h.submit(h.report(sender=Sender("phone", "+86 139 1111 2222")))
        again = h.submit(h.report(sender=Sender("phone", "13911112222")))
        sms = h.submit(h.report(channel="sms", sender=Sender("phone", "8613911112222")))
        assert again.attached and again.incident == first.incident
        assert sms.attached and sms.incident == first.incident
    finally:
        h.close()


# -- 7. a missing parameter is named ---------------------------------------------------------


def test_a_missing_parameter_is_named() -> None:
    on_scene = Snapshot("530100-20261124-000001", State.ON_SCENE, unit=NANBA, unit_assigned=True)
    supervisor = Actor("sv", Role.SUPERVISOR, CITY)
    with pytest.raises(BadParameters) as refused:
        apply(on_scene, "feedback", supervisor, {}, now=NOW, org=CONFIG.org, sla=CONFIG.sla)
    assert refused.value.field == "result"
