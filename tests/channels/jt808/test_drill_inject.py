"""Drill terminal injects (gateway/channels/jt808/drill.py): a drill terminal registers,
authenticates and reports its alarm at the inject's point to the channel's own JT/T 808
listener, as a vehicle does, and the alarm is filed as ONE drill report that the drill
runner finds by the external id the injector gives.

In process: the channel runs on a real store (`tests.inline`, its clock a `task.Clock`) and
listens on a real port; the injector connects to it. 2013 and 2019 terminals, the emergency
button and a configured alarm bit; a non-drill terminal is never sent; a registration the
listener refuses (an unknown terminal where unknown ones are not taken), a terminal already
in an open emergency, silence (the store down) and a stopped listener are an `InjectError`
that names them.

Through a real gateway process: a scenario started over the drill API plays its terminal
injects; the drill terminal's SOS is sent and tied to its report, the other one fails,
saying why, and stores nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import select

from gateway.channels.jt808 import drill
from gateway.channels.jt808.drill import inject
from gateway.channels.jt808.service import Jt808Channel
from gateway.config import Config
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import Expectation, Inject, InjectSource, TerminalAlarm
from gateway.report import Location
from gateway.store.tables import incidents, reports
from gateway.targets import importer, records
from tests.channels.fakes import FakeContext, channel_city
from tests.inline import STATION, Store
from tests.peers.gateway import GatewayProcess, channel_gateway, db, play_drill

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_VEHICLES = ROOT / "gateway" / "targets" / "sample_vehicles.csv"
TAXI = "013800138001"  # drill, a 2013 terminal in the registry
VAN = "13812345678901234567"  # drill, a 2019 terminal (20 digits) in the registry
STRANGER = "13600000009"  # drill, not in the registry
REAL = "13900000001"  # in the registry, not a drill terminal
VEHICLES = (
    "terminal,plate,plate_color,kind,company,unit,phones\n"
    f"{TAXI},云AT1001,1,taxi,示例出租汽车公司,{STATION},0871-60001001\n"
    f"{VAN},云A00002,2,cash_van,示例押运公司,{STATION},\n"
    f"{REAL},云A12345,2,taxi,示例出租汽车公司,{STATION},\n"
)
POINT = Location(lat=24.985123, lon=102.650456, address="示例市明湖区南坝路")
SOS, ROLLOVER = 0, 29


# -- in process ---------------------------------------------------------------------------------


def vehicle_city(tmp: Path) -> Config:
    terminals = ", ".join(f'"{t}"' for t in (TAXI, VAN, STRANGER))
    return channel_city(
        tmp,
        "jt808",
        f'host = "0.0.0.0"\nport = 0\nauth_secret = "test-secret"\n'
        f"drill_terminals = [{terminals}]\n"
        f'[channels.jt808.alarm_bits.{ROLLOVER}]\ncategory = "disaster"\npriority = 2\n',
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'alarmgw.db'}", vehicle_city(tmp_path))
    read = importer.read_vehicles(VEHICLES.encode(), s.config.org)
    assert not read.problems, read.problems
    items = [item for _, item in read.rows]
    s.db.run_sync(lambda ctx: records.upsert_vehicles(ctx.conn, items, s.now()))
    yield s
    s.close()


async def channel(store: Store, **settings: Any) -> Jt808Channel:
    ch = Jt808Channel(FakeContext(store, "jt808", **settings))
    await ch.startService()
    assert ch.port
    return ch


def terminal_inject(
    terminal: str, alarm_bit: int = SOS, location: Location | None = POINT
) -> DrillInject:
    return DrillInject(
        run=4,
        inject=Inject(
            id="taxi-sos",
            at=360.0,
            channel="jt808",
            content=TerminalAlarm(terminal=terminal, alarm_bit=alarm_bit),
            location=location,
            expect=Expectation("taxi-sos", "criminal", 1, STATION),
            note=None,
            source=InjectSource(index=7, line=70),
        ),
        files={},
        send=12,
    )


def jt808_reports(store: Store) -> list[dict[str, Any]]:
    q = (
        select(
            reports.c.external_id,
            reports.c.sender_key,
            reports.c.drill,
            reports.c.doc,
            incidents.c.number,
            incidents.c.category,
            incidents.c.priority,
            incidents.c.lat,
            incidents.c.lon,
            incidents.c.drill.label("incident_drill"),
        )
        .join(incidents, incidents.c.id == reports.c.incident_id)
        .where(reports.c.channel == "jt808")
        .order_by(reports.c.id)
    )
    rows = store.read(lambda c: list(c.execute(q).mappings()))
    return [{**r, "doc": _doc(r["doc"])} for r in rows]


def _doc(doc: Any) -> dict[str, Any]:
    return json.loads(doc) if isinstance(doc, str) else dict(doc)


def messages(ch: Jt808Channel) -> float:
    """The messages the listener took, all kinds."""
    registry = ch.ctx.registry  # type: ignore[attr-defined]
    return sum(
        s.value
        for m in registry.collect()
        if m.name == "alarmgw_jt808_messages"
        for s in m.samples
        if s.name.endswith("_total")
    )


@pytest.mark.parametrize(
    "terminal, plate", [(TAXI, "云AT1001"), (VAN, "云A00002")], ids=["2013", "2019"]
)
@pytest_twisted.ensureDeferred
async def test_a_drill_terminals_sos_is_one_drill_report_known_by_its_external_id(
    store: Store, terminal: str, plate: str
) -> None:
    ch = await channel(store)
    try:
        sent = await inject(ch, terminal_inject(terminal))
    finally:
        await ch.stopService()
    (r,) = jt808_reports(store)
    phone = terminal.lstrip("0")
    # What the runner looks for (gateway.drills.runs.match_reports) is what was stored:
    # the terminal's first serial after registering (1) and authenticating (2) is 3; its
    # time is the gateway clock's (T0: 09:00 in Beijing).
    assert sent == Sent(
        "jt808",
        sender_key=f"terminal:{phone}",
        external_id=f"{phone}/3/20261124T010000",
        via=f"经JT/T 808接入（演练终端 {terminal}，注册鉴权后上报紧急报警）",
    )
    assert (r["external_id"], r["sender_key"]) == (sent.external_id, sent.sender_key)
    assert r["drill"] is True and r["incident_drill"] is True and r["doc"]["drill"] is True
    assert (r["category"], r["priority"]) == ("criminal", 1)
    assert (r["lat"], r["lon"]) == (POINT.lat, POINT.lon)  # 1e-6 degrees on the wire
    assert r["doc"]["text"].startswith(f"车载终端紧急报警：{plate}")
    extra = r["doc"]["extra"]
    assert extra["alarms"] == ["紧急报警"] and extra["authenticated"] is True
    assert extra["fix_at"] == "2026-11-24T01:00:00+00:00"
    # The channel holds the emergency open: its later positions are the track.
    assert ch.emergencies[phone][1] == r["number"]


@pytest_twisted.ensureDeferred
async def test_a_configured_alarm_bit_is_its_own_report(store: Store) -> None:
    ch = await channel(store)
    try:
        sent = await inject(ch, terminal_inject(TAXI, alarm_bit=ROLLOVER))
    finally:
        await ch.stopService()
    (r,) = jt808_reports(store)
    assert sent.external_id == r["external_id"] == "13800138001/3/20261124T010000/bit29"
    assert (r["category"], r["priority"], r["drill"]) == ("disaster", 2, True)
    assert "碰撞" in r["doc"]["text"] and "碰撞" in sent.via


@pytest_twisted.ensureDeferred
async def test_a_terminal_in_an_open_emergency_is_not_sent_another_alarm(store: Store) -> None:
    ch = await channel(store)
    try:
        await inject(ch, terminal_inject(TAXI))
        (r,) = jt808_reports(store)
        for bit in (SOS, ROLLOVER):
            with pytest.raises(InjectError) as e:
                await inject(ch, terminal_inject(TAXI, alarm_bit=bit))
            assert f"is in an open emergency (incident {r['number']})" in str(e.value)
    finally:
        await ch.stopService()
    assert len(jt808_reports(store)) == 1


@pytest_twisted.ensureDeferred
async def test_a_terminal_not_among_drill_terminals_is_never_sent(store: Store) -> None:
    ch = await channel(store)
    try:
        with pytest.raises(InjectError, match=f"{REAL} is not one of .*drill_terminals"):
            await inject(ch, terminal_inject(REAL))
    finally:
        await ch.stopService()
    assert jt808_reports(store) == [] and messages(ch) == 0


@pytest_twisted.ensureDeferred
async def test_an_unknown_drill_terminal_is_an_incident_where_unknown_ones_are_taken(
    store: Store,
) -> None:
    ch = await channel(store)
    try:
        sent = await inject(ch, terminal_inject(STRANGER))
    finally:
        await ch.stopService()
    (r,) = jt808_reports(store)
    assert r["external_id"] == sent.external_id and r["drill"] is True
    assert r["doc"]["text"].startswith(f"未登记的报警终端 {STRANGER}")


@pytest_twisted.ensureDeferred
async def test_a_refused_registration_is_an_inject_error_naming_it(store: Store) -> None:
    ch = await channel(store, accept_unknown=False)
    try:
        with pytest.raises(InjectError) as e:
            await inject(ch, terminal_inject(STRANGER))
    finally:
        await ch.stopService()
    assert str(e.value) == (
        f"the JT/T 808 listener refused the registration of terminal {STRANGER}: "
        "4 (no such terminal)"
    )
    assert jt808_reports(store) == []


@pytest_twisted.ensureDeferred
async def test_no_answer_is_an_inject_error(store: Store, monkeypatch: Any) -> None:
    """The store is down: the alarm is not stored, so not answered."""
    monkeypatch.setattr(drill, "ANSWER_S", 0.5)
    ch = await channel(store)
    try:
        store.db.running = False
        with pytest.raises(InjectError, match="did not answer the alarm in 0.5 s"):
            await inject(ch, terminal_inject(TAXI))
        store.db.running = True
    finally:
        await ch.stopService()
    assert jt808_reports(store) == []


@pytest_twisted.ensureDeferred
async def test_what_cannot_be_sent_is_said(store: Store) -> None:
    ch = await channel(store)
    try:
        with pytest.raises(InjectError, match="the inject has no lat and lon"):
            await inject(ch, terminal_inject(TAXI, location=Location(address="南坝路")))
        with pytest.raises(InjectError, match=r"alarm bit 1 opens no incident"):
            await inject(ch, terminal_inject(TAXI, alarm_bit=1))
    finally:
        await ch.stopService()
    with pytest.raises(InjectError, match="not listening"):
        await inject(ch, terminal_inject(TAXI))
    assert messages(ch) == 0


# -- through a real gateway process --------------------------------------------------------------

SCENARIO = f"""
name = "车载终端演练"
units = ["530100000000"]

[[inject]]
id = "taxi"
at = "+0:00"
channel = "jt808"
terminal = "{TAXI}"
alarm = "sos"
location = {{ lat = 25.100, lon = 102.770 }}
expect = {{ incident = "taxi-sos", category = "criminal", priority = 1, unit = "530124520000" }}

[[inject]]
id = "real"
at = "+0:01"
channel = "jt808"
terminal = "013800138002"
location = {{ lat = 25.101, lon = 102.771 }}
expect = {{ incident = "real", category = "criminal", priority = 1, unit = "530124520000" }}
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The sample city's gateway with the JT/T 808 channel on and the sample vehicles
    imported; the taxi 013800138001 is its drill terminal."""
    tmp = tmp_path_factory.mktemp("jt808-drill")
    g = channel_gateway(
        tmp, "jt808", f'auth_secret = "test-secret"\ndrill_terminals = ["{TAXI}"]\n'
    )
    out = g.cli("vehicles", "import", str(SAMPLE_VEHICLES))
    assert " new" in out.stdout, out.stdout + out.stderr
    g.start()
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


def test_a_run_plays_the_drill_terminals_sos_and_finds_its_report(gw: GatewayProcess) -> None:
    token = gw.token("drill1", "drill_coordinator")
    run = play_drill(gw, token, SCENARIO, file="jt808.toml", found=1)
    taxi, real = run["injects"]
    assert (taxi["status"], real["status"]) == ("sent", "failed"), run
    assert taxi["via"] == f"经JT/T 808接入（演练终端 {TAXI}，注册鉴权后上报紧急报警）"
    assert "013800138002 is not one of [channels.jt808] drill_terminals" in real["error"]
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT r.receipt, r.drill, r.sender_key, r.doc, i.category, i.priority, i.lat, "
            "i.lon, i.drill AS incident_drill FROM reports r "
            "JOIN incidents i ON i.id = r.incident_id WHERE r.channel = 'jt808'"
        ).fetchall()
    (r,) = rows  # nothing of the other taxi
    assert r["receipt"] == taxi["report"] and r["sender_key"] == "terminal:13800138001"
    assert r["drill"] == 1 and r["incident_drill"] == 1
    assert (r["category"], r["priority"], r["lat"], r["lon"]) == ("criminal", 1, 25.1, 102.77)
    report = json.loads(r["doc"])
    assert report["text"].startswith("车载终端紧急报警：云AT1001")
    assert report["extra"]["authenticated"] is True
