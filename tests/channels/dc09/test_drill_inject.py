"""Drill panel injects (gateway/channels/dc09/drill.py): a drill account's alarm reaches the
channel's own DC-09 receiver over TCP as a panel sends it, and is filed as ONE drill report
that the drill runner finds by the external id the injector gives.

In process: the channel runs on a real store (`tests.inline`, its clock a `task.Clock`) and
listens on a real port; the injector connects to it. Encrypted (the sample bank's AES key)
and in clear on a receiver and line prefix, SIA and Contact ID; a non-drill account is never
sent; the receiver's NAK (a frame that arrives a minute after its stamp), DUH (the account's
key gone from the registry meanwhile), silence (its store down) and a stopped listener are
an `InjectError` that names them.

Through a real gateway process: a scenario started over the drill API plays its panel
injects; the drill account's is sent and tied to its report, the other one fails, saying
why, and stores nothing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import select
from twisted.internet import defer

from gateway.channels.dc09 import drill
from gateway.channels.dc09.drill import check_answer, event_data, inject
from gateway.channels.dc09.frame import ack, build, read_envelope
from gateway.channels.dc09.service import Dc09Channel
from gateway.config import Config
from gateway.drills.inject import DrillInject, InjectError
from gateway.drills.scenario import Expectation, Inject, InjectSource, PanelAlarm
from gateway.store.tables import incidents, reports
from gateway.targets import importer, records
from tests.channels.fakes import FakeContext, channel_city
from tests.inline import STATION, Store
from tests.peers.gateway import GatewayProcess, channel_gateway, db, play_drill

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_PREMISES = ROOT / "gateway" / "targets" / "sample_premises.csv"
KEY = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
BANK = "0101"  # drill; registered with KEY: its frames are encrypted
CLEAR = "D0C1"  # drill; registered in clear on receiver 12, line 3
STRANGER = "D0FF"  # drill; not registered
REAL = "0102"  # registered, not a drill account
PREMISES = (
    "account,receiver,line,name,address,lat,lon,unit,phones,zones,key,supervision_s\n"
    f'{BANK},,,示例银行南坝支行,南坝路1号,24.985,102.650,{STATION},,"1:前门, 2:金库",'
    f"{KEY.hex()},\n"
    f"{CLEAR},12,3,示例金店,南坝路8号,24.981,102.651,{STATION},,1:柜台,,\n"
    f"{REAL},,,示例银行明湖支行,明湖路88号,25.040,102.650,530102520000,,,,\n"
)


# -- in process ---------------------------------------------------------------------------------


def panel_city(tmp: Path) -> Config:
    accounts = ", ".join(f'"{a}"' for a in (BANK, CLEAR, STRANGER))
    settings = f'host = "0.0.0.0"\nport = 0\nudp = false\ndrill_accounts = [{accounts}]\n'
    return channel_city(tmp, "dc09", settings)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'alarmgw.db'}", panel_city(tmp_path))
    read = importer.read_premises(PREMISES.encode(), s.config.org)
    assert not read.problems, read.problems
    items = [item for _, item in read.rows]
    s.db.run_sync(lambda ctx: records.upsert_premises(ctx.conn, items, s.now()))
    yield s
    s.close()


async def channel(store: Store, **settings: Any) -> Dc09Channel:
    ch = Dc09Channel(FakeContext(store, "dc09", **settings))
    await ch.startService()
    assert ch.port
    return ch


def panel_inject(
    account: str, event: str = "BA", zone: str | None = "2", send: int = 41
) -> DrillInject:
    return DrillInject(
        run=3,
        inject=Inject(
            id="bank",
            at=300.0,
            channel="dc09",
            content=PanelAlarm(account=account, event=event, zone=zone),
            location=None,
            expect=Expectation("bank", "criminal", 1, STATION),
            note=None,
            source=InjectSource(index=5, line=60),
        ),
        files={},
        send=send,
    )


def dc09_reports(store: Store) -> list[dict[str, Any]]:
    q = (
        select(
            reports.c.external_id,
            reports.c.sender_key,
            reports.c.drill,
            reports.c.doc,
            incidents.c.category,
            incidents.c.priority,
            incidents.c.drill.label("incident_drill"),
        )
        .join(incidents, incidents.c.id == reports.c.incident_id)
        .where(reports.c.channel == "dc09")
        .order_by(reports.c.id)
    )
    rows = store.read(lambda c: list(c.execute(q).mappings()))
    return [{**r, "doc": _doc(r["doc"])} for r in rows]


def _doc(doc: Any) -> dict[str, Any]:
    return json.loads(doc) if isinstance(doc, str) else dict(doc)


def answers(ch: Dc09Channel, token: str) -> float:
    value = ch.ctx.registry.get_sample_value(  # type: ignore[attr-defined]
        "alarmgw_dc09_answers_total", {"answer": token, "transport": "tcp"}
    )
    return value or 0.0


@pytest.mark.parametrize(
    "account, event, zone, protocol, text",
    [
        (BANK, "BA", "2", "SIA", "盗警：示例银行南坝支行，2号防区 金库（联网报警 账号 0101）"),
        (CLEAR, "E130", "1", "CID", "盗警：示例金店，1号防区 柜台（联网报警 账号 D0C1）"),
        (STRANGER, "PA", None, "SIA", "未登记的报警终端 账号 D0FF：紧急求助"),
    ],
    ids=["SIA encrypted", "Contact ID on a line", "unregistered"],
)
@pytest_twisted.ensureDeferred
async def test_a_drill_accounts_alarm_is_one_drill_report_known_by_its_external_id(
    store: Store, account: str, event: str, zone: str | None, protocol: str, text: str
) -> None:
    ch = await channel(store)
    try:
        sent = await inject(ch, panel_inject(account, event, zone))
    finally:
        await ch.stopService()
    (r,) = dc09_reports(store)
    # What the runner looks for (gateway.drills.runs.match_reports) is what was stored.
    assert sent.report_channel == "dc09"
    assert (r["external_id"], r["sender_key"]) == (sent.external_id, sent.sender_key)
    assert sent.sender_key == f"account:{account}"
    assert r["drill"] is True and r["incident_drill"] is True and r["doc"]["drill"] is True
    assert (r["category"], r["priority"]) == ("criminal", 1)
    assert r["doc"]["text"] == text
    extra = r["doc"]["extra"]
    assert extra["protocol"] == protocol and extra["sequence"] == "0042"
    assert extra["encrypted"] is (account == BANK)
    if account == CLEAR:
        assert (extra["receiver"], extra["line"]) == ("12", "3")
    assert sent.via.startswith("经DC-09接收机（演练账号 " + account)
    assert ("AES加密" in sent.via) is (account == BANK)
    assert ("账号未登记" in sent.via) is (account == STRANGER)
    assert answers(ch, "ACK") == 1


@pytest_twisted.ensureDeferred
async def test_injects_in_one_second_are_each_their_own_report(store: Store) -> None:
    ch = await channel(store)
    try:
        first = await inject(ch, panel_inject(BANK, send=1))
        second = await inject(ch, panel_inject(BANK, send=2))
    finally:
        await ch.stopService()
    assert first.external_id != second.external_id
    assert [r["external_id"] for r in dc09_reports(store)] == [
        first.external_id,
        second.external_id,
    ]


@pytest_twisted.ensureDeferred
async def test_an_account_not_among_drill_accounts_is_never_sent(store: Store) -> None:
    ch = await channel(store)
    try:
        with pytest.raises(InjectError, match=f"{REAL} is not one of .*drill_accounts"):
            await inject(ch, panel_inject(REAL))
    finally:
        await ch.stopService()
    assert dc09_reports(store) == []
    assert [answers(ch, t) for t in ("ACK", "NAK", "DUH")] == [0, 0, 0]  # nothing came


@pytest_twisted.ensureDeferred
async def test_a_nak_is_an_inject_error_with_the_receivers_time(store: Store) -> None:
    """The frame is stamped when it is built; the receiver's clock is a minute on when it
    arrives: outside DC-09's window, NAK."""
    ch = await channel(store)
    try:
        sending = defer.ensureDeferred(inject(ch, panel_inject(BANK)))
        store.clock.advance(60)  # the frame is built; it has not reached the receiver yet
        with pytest.raises(InjectError) as e:
            await sending
    finally:
        await ch.stopService()
    why = str(e.value)
    assert "answered NAK" in why and "(the receiver's time: 01:01:00,11-24-2026 UTC)" in why
    assert dc09_reports(store) == [] and answers(ch, "NAK") == 1


@pytest_twisted.ensureDeferred
async def test_a_duh_is_an_inject_error(store: Store) -> None:
    """The bank's key is taken out of the registry while its encrypted frame is on its way."""
    ch = await channel(store)
    try:
        sending = defer.ensureDeferred(inject(ch, panel_inject(BANK)))
        bank = ch.cache.items[(BANK, "", "")]
        ch.cache.items[bank.key] = dataclasses.replace(bank, aes_key=None)
        with pytest.raises(InjectError, match="answered DUH: it could not read the frame"):
            await sending
    finally:
        await ch.stopService()
    assert dc09_reports(store) == [] and answers(ch, "DUH") == 1


@pytest_twisted.ensureDeferred
async def test_no_answer_is_an_inject_error(store: Store, monkeypatch: Any) -> None:
    """The store is down: the receiver stores nothing and so answers nothing."""
    monkeypatch.setattr(drill, "ANSWER_S", 0.5)
    ch = await channel(store)
    try:
        store.db.running = False
        with pytest.raises(InjectError, match=r"did not answer in 0.5 s \(its store failing\?\)"):
            await inject(ch, panel_inject(BANK))
        store.db.running = True
    finally:
        await ch.stopService()
    assert dc09_reports(store) == []


@pytest_twisted.ensureDeferred
async def test_a_stopped_receiver_sends_nothing(store: Store) -> None:
    ch = await channel(store)
    await ch.stopService()
    with pytest.raises(InjectError, match="not listening"):
        await inject(ch, panel_inject(BANK))


# -- the frame and the answer, without a receiver -----------------------------------------------


@pytest.mark.parametrize(
    "event, zone, token, data",
    [
        ("BA", "2", "SIA-DCS", "#0101|NBA2"),
        ("pa", None, "SIA-DCS", "#0101|NPA"),
        ("E130", "2", "ADM-CID", "#0101|1130 00 002"),
        ("R130", "15", "ADM-CID", "#0101|3130 00 015"),
        ("E120", None, "ADM-CID", "#0101|1120 00 000"),
    ],
)
def test_event_data(event: str, zone: str | None, token: str, data: str) -> None:
    assert event_data(BANK, event, zone) == (token, data)


def test_an_ack_of_another_message_is_not_taken() -> None:
    ours = read_envelope(build("SIA-DCS", "0042", BANK, "#0101|NBA2"))
    now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    check_answer(ack(ours, None, now), ours, None)
    other = read_envelope(build("SIA-DCS", "0043", BANK, "#0101|NBA2"))
    with pytest.raises(InjectError, match="acknowledged message 0043 of account 0101"):
        check_answer(ack(other, None, now), ours, None)
    with pytest.raises(InjectError, match="cannot be read"):
        check_answer(b"\nFFFF0005" + b'"ACK"\r', ours, None)


# -- through a real gateway process --------------------------------------------------------------

SCENARIO = f"""
name = "联网报警演练"
units = ["530100000000"]

[[inject]]
id = "bank"
at = "+0:00"
channel = "dc09"
account = "{BANK}"
event = "BA"
zone = 2
expect = {{ incident = "bank", category = "criminal", priority = 1, unit = "{STATION}" }}

[[inject]]
id = "real"
at = "+0:01"
channel = "dc09"
account = "{REAL}"
event = "E130"
zone = 1
expect = {{ incident = "real", category = "criminal", priority = 1, unit = "530102520000" }}
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The sample city's gateway with the DC-09 channel on and the sample premises (the
    bank 0101 has an AES key) imported; 0101 is its drill account."""
    tmp = tmp_path_factory.mktemp("dc09-drill")
    g = channel_gateway(tmp, "dc09", f'drill_accounts = ["{BANK}"]\n')
    out = g.cli("targets", "import", str(SAMPLE_PREMISES))
    assert " new" in out.stdout, out.stdout + out.stderr
    g.start()
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


def test_a_run_plays_the_drill_accounts_alarm_and_finds_its_report(gw: GatewayProcess) -> None:
    token = gw.token("drill1", "drill_coordinator")
    run = play_drill(gw, token, SCENARIO, file="dc09.toml", found=1)
    bank, real = run["injects"]
    assert (bank["status"], real["status"]) == ("sent", "failed"), run
    assert bank["via"] == "经DC-09接收机（演练账号 0101，SIA-DCS，AES加密）"
    assert f"account {REAL} is not one of [channels.dc09] drill_accounts" in real["error"]
    assert real["report"] is None
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT r.receipt, r.drill, r.sender_key, r.doc, i.category, i.priority, i.drill "
            "FROM reports r JOIN incidents i ON i.id = r.incident_id WHERE r.channel = 'dc09'"
        ).fetchall()
    (r,) = rows  # nothing of the real bank
    assert r["receipt"] == bank["report"] and r["sender_key"] == f"account:{BANK}"
    assert r["drill"] == 1 and r[6] == 1
    assert (r["category"], r["priority"]) == ("criminal", 1)
    report = json.loads(r["doc"])
    assert report["text"].startswith("盗警：示例银行南坝支行，2号防区 金库")
    assert report["extra"]["encrypted"] is True
