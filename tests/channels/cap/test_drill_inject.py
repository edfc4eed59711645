"""Drill CAP injects (gateway/channels/cap/drill.py): a CAP 1.2 alert with status Exercise
through the channel's own intake path.

In process: the CAP channel on a real store (`tests.inline`); the run is recorded and its
reports tied by the runner's own functions (`gateway.drills.runs`). An alert made of the
inject's values, and the scenario's file as written (its identifier the run's own), each
file ONE drill report with the alert's info, found by what `Sent` says; the same inject
again stores nothing; a file that is not an Exercise sends nothing. CAP out: the feed
gives a drill's incident as status Exercise (a real one's as Actual). End to end: a run
started over the API of a real gateway process plays both injects, ties both reports, and
the feed says Exercise for both incidents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select
from twisted.internet import defer

from gateway.channel import resolve
from gateway.channels.cap import mapping, message
from gateway.channels.cap.drill import VIA, drill_sender, from_file, inject
from gateway.channels.cap.service import CapChannel
from gateway.config import Config
from gateway.drills import runs
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import scenario_from_text
from gateway.drills.tables import drill_sends
from gateway.store.tables import incidents, reports
from gateway.workflow.machine import Actor
from gateway.workflow.table import Role
from tests.channels.fakes import FakeContext, channel_city
from tests.inline import Store, result, sqlite_copy
from tests.peers.gateway import GatewayProcess, channel_gateway, db, play_drill

ROOT = Path(__file__).resolve().parents[3]
FLOOD = ROOT / "drills" / "files" / "flood-alert.xml"
COORDINATOR = Actor("drill1", Role.DRILL_COORDINATOR, None)
ATOM = "{http://www.w3.org/2005/Atom}"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
RULES = """[[channels.cap.rules]]
event = "内涝"
category = "disaster"
priority = 2
[[channels.cap.rules]]
event = "山体滑坡"
category = "disaster"
priority = 1
"""

# The two CAP injects of drills/every-channel.toml.
SCENARIO = """
name = "CAP 演练"
units = ["530100000000"]

[[inject]]
id = "flood"
at = "+0:00"
channel = "cap"
file = "files/flood-alert.xml"
expect = { incident = "flood-file", category = "disaster", priority = 2, unit = "530103530000" }

[[inject]]
id = "landslide"
at = "+0:00"
channel = "cap"
event = "山体滑坡"
urgency = "Immediate"
severity = "Severe"
headline = "白沙乡山体滑坡"
text = "白沙乡后山发生小型山体滑坡，一条村道被掩埋。"
radius_km = 0.5
location = { address = "示例市金河县白沙乡", lat = 25.110, lon = 102.790 }
expect = { incident = "landslide", category = "disaster", priority = 1, unit = "530124520000" }
"""


@pytest.fixture(scope="module")
def cap_city(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return channel_city(tmp_path_factory.mktemp("city"), "cap", RULES)


@pytest.fixture(scope="module")
def migrated(cap_city: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "alarmgw.db"
    Store(f"sqlite:///{path}", cap_city).close()
    return path


@pytest.fixture
def store(cap_city: Config, migrated: Path, tmp_path: Path) -> Iterator[Store]:
    s = Store(sqlite_copy(migrated, tmp_path), cap_city, migrate=False)
    yield s
    s.close()


@pytest.fixture
def cap(store: Store) -> Iterator[CapChannel]:
    channel = CapChannel(FakeContext(store, "cap"))
    channel.startService()
    yield channel
    channel.stopService()


class Run:
    """A run of `SCENARIO` (its flood file as given) recorded as `POST /api/v1/drills`
    records one, its injects claimed as the runner claims them."""

    def __init__(self, store: Store, flood: bytes | None = None) -> None:
        self.store = store
        played = scenario_from_text(SCENARIO, store.config, base=ROOT / "drills")
        # The path as a run keeps it: relative, as the request named it.
        doc = json.loads(json.dumps(played.to_json()).replace(str(ROOT / "drills") + "/", ""))
        files = {"files/flood-alert.xml": FLOOD.read_bytes() if flood is None else flood}
        scenario = type(played).from_json(doc)
        self.id = result(store.db.write(runs.start, scenario, files, COORDINATOR, store.now()))
        claimed = result(store.db.write(runs.claim_due, store.now()))
        self.injects: dict[str, DrillInject] = {d.inject.id: d for d in claimed}

    def play(self, cap: CapChannel, inject_id: str) -> Sent:
        sent: Sent = result(_deferred(inject(cap, self.injects[inject_id])))
        return sent

    def settle(self, inject_id: str, sent: Sent) -> Any:
        """Record it sent and tie it as the runner does: its drill_sends row."""
        send = self.injects[inject_id].send
        result(self.store.db.write(runs.sent, send, sent, self.store.now()))
        result(self.store.db.write(runs.match_reports, self.id))
        q = select(drill_sends).where(drill_sends.c.id == send)
        return self.store.read(lambda c: c.execute(q).mappings().one())


def _deferred(coro: Any) -> Any:
    return defer.ensureDeferred(coro)


def cap_reports(store: Store) -> list[dict[str, Any]]:
    q = (
        select(reports.c.id, reports.c.external_id, reports.c.drill, reports.c.doc)
        .add_columns(incidents.c.number, incidents.c.drill.label("incident_drill"))
        .join(incidents, incidents.c.id == reports.c.incident_id)
        .where(reports.c.channel == "cap")
        .order_by(reports.c.id)
    )
    rows = store.read(lambda c: list(c.execute(q).mappings()))
    return [
        {**r, "doc": json.loads(r["doc"]) if isinstance(r["doc"], str) else dict(r["doc"])}
        for r in rows
    ]


# -- in process --------------------------------------------------------------------------------


def test_an_alert_of_the_injects_values_is_one_drill_report(store: Store, cap: CapChannel) -> None:
    run = Run(store)
    declared = resolve(store.config.channel("cap").drill)  # type: ignore[union-attr, arg-type]
    assert declared is inject
    sent = run.play(cap, "landslide")
    sender = drill_sender(cap)
    identifier = f"drill-{run.id}-landslide"
    assert sender == "drill-alarmgw-530100000000"
    assert sent == Sent("cap", external_id=f"{sender},{identifier},0", via=VIA)

    [r] = cap_reports(store)
    doc = r["doc"]
    assert r["external_id"] == sent.external_id
    assert r["drill"] is True and r["incident_drill"] is True and doc["drill"] is True
    assert doc["sender"]["id"] == sender
    assert doc["location"] == {
        "lat": 25.11,
        "lon": 102.79,
        "accuracy_m": 500.0,
        "address": "示例市金河县白沙乡",
    }
    assert (doc["category"], doc["priority"]) == ("disaster", 1)
    cap_extra = doc["extra"]["cap"]
    assert {k: cap_extra[k] for k in ("identifier", "sender", "status", "msgType")} == {
        "identifier": identifier,
        "sender": sender,
        "status": "Exercise",
        "msgType": "Alert",
    }
    assert (cap_extra["event"], cap_extra["categories"]) == ("山体滑坡", ["Safety"])
    assert (cap_extra["urgency"], cap_extra["severity"], cap_extra["certainty"]) == (
        "Immediate",
        "Severe",
        "Observed",
    )
    assert cap_extra["language"] == "zh-CN"
    # Sent now, in CAP's own time form (CAP 1.2 §3.3.2: no Z, no fraction).
    assert datetime.fromisoformat(cap_extra["sent"]) == store.now().replace(microsecond=0)
    assert cap_extra["sent"].endswith("+08:00")
    text = doc["text"].splitlines()
    assert text[0] == "【演练】【CAP 预警】白沙乡山体滑坡"
    assert "描述：白沙乡后山发生小型山体滑坡，一条村道被掩埋。" in text
    assert "区域：示例市金河县白沙乡" in text

    assert run.settle("landslide", sent)["report_id"] == r["id"]


def test_the_scenarios_file_is_sent_as_written_under_the_runs_identifier(
    store: Store, cap: CapChannel
) -> None:
    run = Run(store)
    sent = run.play(cap, "flood")
    identifier = f"SAMPLE-DRILL-FLOOD-0001.drill-run{run.id}"
    assert sent == Sent("cap", external_id=f"drill@water.example.cn,{identifier},0", via=VIA)
    [r] = cap_reports(store)
    doc = r["doc"]
    assert r["external_id"] == sent.external_id and r["drill"] is True
    written = message.parse(FLOOD.read_bytes())
    info = written.infos[0]
    assert doc["extra"]["cap"] | {"identifier": written.identifier} == {
        "identifier": written.identifier,
        "sender": written.sender,
        "sent": written.sent.isoformat(),
        "status": "Exercise",
        "msgType": "Alert",
        "info": 0,
        "language": info.language,
        "event": info.event,
        "categories": list(info.categories),
        "urgency": info.urgency,
        "severity": info.severity,
        "certainty": info.certainty,
    }
    assert doc["extra"]["cap"]["identifier"] == identifier
    assert doc["location"] == {
        "lat": 25.09,
        "lon": 102.71,
        "accuracy_m": 1500.0,
        "address": "示例市青山区松林路至松华坝",
    }
    assert doc["text"] == mapping.text(
        message.parse(FLOOD.read_bytes().replace(b"0001<", f"0001.drill-run{run.id}<".encode())),
        info,
    )
    assert run.settle("flood", sent)["report_id"] == r["id"]


def test_the_same_inject_again_stores_nothing(store: Store, cap: CapChannel) -> None:
    run = Run(store)
    for inject_id in ("flood", "landslide"):
        first = run.play(cap, inject_id)
        store.clock.advance(30)  # a later `sent`: still the same alert (sender, identifier)
        assert run.play(cap, inject_id) == first
    assert len(cap_reports(store)) == 2


def test_a_later_run_of_the_same_file_is_a_new_alert(store: Store, cap: CapChannel) -> None:
    first = Run(store).play(cap, "flood")
    second = Run(store).play(cap, "flood")
    assert first.external_id != second.external_id
    assert len(cap_reports(store)) == 2


def test_an_update_file_names_the_same_runs_alert(store: Store, cap: CapChannel) -> None:
    """A file's references get the run's suffix too: an Update follows this run's alert."""
    run = Run(store)
    run.play(cap, "flood")
    written = FLOOD.read_bytes().decode()
    update = (
        written.replace("FLOOD-0001<", "FLOOD-0002<")
        .replace("<msgType>Alert", "<msgType>Update")
        .replace(
            "</restriction>",
            "</restriction>\n  <references>drill@water.example.cn,SAMPLE-DRILL-FLOOD-0001,"
            "2026-11-24T09:00:00+08:00</references>",
        )
    )
    data = from_file(update.encode(), run.id)
    assert message.parse(data).references[0].identifier == (
        f"SAMPLE-DRILL-FLOOD-0001.drill-run{run.id}"
    )
    result(_deferred(cap.receive(data, store.now())))
    alert, follow = cap_reports(store)
    assert follow["number"] == alert["number"] and follow["drill"] is True


@pytest.mark.parametrize("status", ["Actual", "Test"])
def test_a_file_that_is_not_an_exercise_sends_nothing(
    store: Store, cap: CapChannel, status: str
) -> None:
    run = Run(store, FLOOD.read_bytes().replace(b">Exercise<", f">{status}<".encode()))
    with pytest.raises(InjectError, match=f"says status {status}: a drill's alert is Exercise"):
        run.play(cap, "flood")
    assert cap_reports(store) == []


def test_a_file_that_is_not_cap_sends_nothing(store: Store, cap: CapChannel) -> None:
    run = Run(store, FLOOD.read_bytes().replace(b"<urgency>Immediate", b"<urgency>Now"))
    with pytest.raises(
        InjectError, match="not a CAP 1.2 alert the channel takes: line 15: .*urgency"
    ):
        run.play(cap, "flood")
    assert cap_reports(store) == []


def test_a_stopped_channel_sends_nothing(store: Store, cap: CapChannel) -> None:
    run = Run(store)
    cap.stopService()
    with pytest.raises(InjectError, match="not running"):
        run.play(cap, "landslide")
    assert cap_reports(store) == []


def feed_statuses(cap: CapChannel, store: Store) -> dict[str, str]:
    """The CAP feed's status of each incident, as the city's consumers read it."""
    actor = Actor("city-emergency-office", Role.INTEGRATION, "530100000000")
    body = result(_deferred(cap.feed(actor, "/api/v1/cap/feed", None, 50, store.now())))
    out = {}
    for entry in etree.fromstring(body).findall(f"{ATOM}entry"):
        (alert,) = entry.find(f"{ATOM}content")  # type: ignore[misc]
        assert message.schema().validate(etree.ElementTree(alert)), message.schema().error_log
        out[alert.findtext(f"{CAP}incidents")] = alert.findtext(f"{CAP}status")
    return out


def test_cap_out_says_exercise_for_a_drill_incident(store: Store, cap: CapChannel) -> None:
    Run(store).play(cap, "landslide")
    real = FLOOD.read_bytes().replace(b">Exercise<", b">Actual<")
    result(_deferred(cap.receive(real, store.now())))
    drill, actual = cap_reports(store)
    assert (drill["drill"], actual["drill"]) == (True, False)
    assert feed_statuses(cap, store) == {drill["number"]: "Exercise", actual["number"]: "Actual"}


# -- end to end: a run of a real gateway -------------------------------------------------------


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    g = channel_gateway(tmp_path_factory.mktemp("gw"), "cap", RULES, listen=False)
    g.start()
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


def test_a_run_of_the_gateway_plays_both_and_the_feed_says_exercise(gw: GatewayProcess) -> None:
    token = gw.token("drill1", "drill_coordinator")
    files = {"files/flood-alert.xml": FLOOD.read_bytes()}
    done = play_drill(gw, token, SCENARIO, file="cap.toml", files=files, found=2)
    assert [(i["status"], i["via"]) for i in done["injects"]] == [("sent", VIA)] * 2, done
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT r.receipt, r.drill, i.number, i.drill FROM reports r "
            "JOIN incidents i ON i.id = r.incident_id WHERE r.channel = 'cap' ORDER BY r.id"
        ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(i["report"] for i in done["injects"])
    assert all(r[1] == 1 and r[3] == 1 for r in rows)

    feeder = gw.token("city-emergency-office", "integration", "530100000000")
    status, text = gw.request("GET", "/api/v1/cap/feed", token=feeder)
    assert status == 200, text
    statuses = {
        alert.findtext(f"{CAP}incidents"): alert.findtext(f"{CAP}status")
        for entry in etree.fromstring(text.encode()).findall(f"{ATOM}entry")
        for alert in entry.find(f"{ATOM}content")  # type: ignore[union-attr]
    }
    assert statuses == {r[2]: "Exercise" for r in rows}
