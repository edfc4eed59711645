"""110 calls end to end: sipp callers → the real Asterisk 22 (the project's asterisk/
configuration) → AMI → a real gateway process → its store and HTTP API.

Every scenario of the telephony issue is here: answered (recording linked, screen pop),
abandoned (callback task), queue timeout told apart from a hang-up, 20 concurrent calls, a
Chinese caller name, the AMI link cut and Asterisk restarted in the middle of calls, the
gateway killed with SIGKILL mid-call, a callback connecting the softphone to a citizen, a
phone notification acknowledged with DTMF 1, and drill calls.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.ami import AmiSession
from tests.peers.asterisk import CHROOT, Asterisk
from tests.peers.gateway import (
    GatewayProcess,
    LogMark,
    db,
    dispatched_incident,
    sample_with_ami,
    wait_for,
)
from tests.peers.sipp_peers import Sipp
from tests.peers.tcpcut import TcpCut

NANBA = "530102510000"  # 南坝派出所 in the sample city
DUTY_PHONE = "87100001"


def phone_config(tmp: Path, ast: Asterisk, relay: TcpCut) -> Path:
    text = sample_with_ami(
        relay.host,
        relay.port,
        ast.ami_user,
        ast.ami_secret,
        "ping_interval = 1\naction_timeout = 2\nreconnect_max = 2\n"
        "ring_seconds = 15\nnotify_retry_seconds = 2\n",
    )
    text = text.replace("[storage]\n", "[storage]\nbusy_timeout_ms = 300\n")
    # 南坝派出所's duty phone is a sipp UAS behind the carrier trunk.
    text = re.sub(
        r'(\{ kind = "webhook", address = "http://127.0.0.1:9/units/530102510000" \},)',
        r'\1\n    { kind = "phone", address = "' + DUTY_PHONE + '", name = "南坝派出所值班电话" },',
        text,
    )
    assert DUTY_PHONE in text
    path = tmp / "city.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def relay(asterisk: Asterisk) -> Iterator[TcpCut]:
    """The gateway reaches AMI through this relay, so that tests can break the link."""
    r = TcpCut(asterisk.ami_host, asterisk.ami_port)
    yield r
    r.close()


@pytest.fixture(scope="module")
def gw(
    asterisk: Asterisk, relay: TcpCut, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("phone")
    g = GatewayProcess(tmp / "data", phone_config(tmp, asterisk, relay))
    g.start()
    wait_for("AMI login", lambda: "AMI: reconciled" in g.log(), 20)
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


@pytest.fixture
def sipp(ami: AmiSession) -> type[Sipp]:
    """The sipp peers; `ami` (tests/channels/ami/conftest.py) stops them after each test,
    hangs up what is left and resets the dialplan globals."""
    return Sipp


def set_global(ami: AmiSession, name: str, value: str) -> None:
    ami.action("Setvar", Variable=name, Value=value)


def host_path(asterisk_path: str) -> Path:
    """A path as Asterisk (in its chroot) names it, seen from the host."""
    return CHROOT / asterisk_path.lstrip("/")


@pytest.fixture(scope="module")
def supervisor(gw: GatewayProcess) -> str:
    return gw.token("zhang.zhihui", "supervisor")


@pytest.fixture(scope="module")
def calltaker(gw: GatewayProcess) -> str:
    return gw.token("li.jiejing", "calltaker")


def phone_reports(gw: GatewayProcess, caller: str | None = None) -> list[sqlite3.Row]:
    with db(gw) as conn:
        q = "SELECT * FROM reports WHERE channel = 'phone'"
        rows = conn.execute(q).fetchall()
    if caller is None:
        return rows
    return [r for r in rows if f'"id": "{caller}"' in r["doc"] or caller in r["sender_key"]]


def call_row(gw: GatewayProcess, caller: str) -> sqlite3.Row | None:
    with db(gw) as conn:
        return conn.execute(
            "SELECT * FROM calls WHERE caller = ? ORDER BY id DESC LIMIT 1", (caller,)
        ).fetchone()


def finished_call(gw: GatewayProcess, caller: str, timeout: float = 30.0) -> sqlite3.Row:
    def done() -> sqlite3.Row | None:
        row = call_row(gw, caller)
        return row if row is not None and row["state"] in ("ended", "abandoned") else None

    return wait_for(f"the call from {caller} to end", done, timeout)


def incident(gw: GatewayProcess, token: str, number: str) -> dict[str, Any]:
    status, doc = gw.request("GET", f"/api/v1/incidents/{number}", token=token)
    assert status == 200, doc
    return doc


def number_of(gw: GatewayProcess, linkedid: str) -> str:
    with db(gw) as conn:
        row = conn.execute(
            "SELECT i.number FROM reports r JOIN incidents i ON i.id = r.incident_id "
            "WHERE r.channel = 'phone' AND r.external_id = ?",
            (linkedid,),
        ).fetchone()
    assert row is not None, f"no report for call {linkedid}"
    return str(row["number"])


def call_back(
    gw: GatewayProcess, number: str, seat: str, token: str, reader: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ask for a callback from `seat` and wait for its callback_result event."""
    status, doc = gw.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        {"action": "callback", "calltaker": seat},
        token=token,
    )
    assert status == 202, doc

    def result() -> dict[str, Any] | None:
        events = incident(gw, reader, number)["events"]
        done = [e for e in events if e["action"] == "callback_result"]
        return done[-1] if done else None

    return doc, wait_for("the callback's outcome", result, 40)


# -- the scenarios ---------------------------------------------------------------------------


def test_answered_call(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp], calltaker: str, supervisor: str
) -> None:
    caller = "13800138001"
    # The same number reported on the web a moment ago: the screen pop shows it.
    status, earlier = gw.request(
        "POST",
        "/api/v1/reports",
        {"sender": {"kind": "phone", "id": caller}, "text": "南坝路有人抢包"},
    )
    assert status == 201
    phone = sipp.softphone(asterisk, ext="1001", answer_after=0.5, talk=4)
    try:
        call = sipp.call(asterisk, caller=caller, name="张三", hold=20, wait_bye=True)
        # Filed at arrival, before anyone answered.
        first = wait_for("the report", lambda: call_row(gw, caller), 10)
        assert first["trunk"] == "carrier" and not first["drill"]
        # The screen pop while 1001 talks.
        doc = wait_for(
            "the screen pop",
            lambda: (lambda r: r[1] if r[0] == 200 else None)(
                gw.request("GET", "/api/v1/calltakers/1001/current", token=calltaker)
            ),
            10,
        )
        assert doc["call"]["caller"] == caller and doc["call"]["caller_name"] == "张三"
        assert doc["incident"]["state"] == "received"
        receipts = [r["receipt"] for r in doc["history"]["reports"]]
        assert receipts == [earlier["receipt"]]
        assert doc["history"]["reports"][0]["text"] == "南坝路有人抢包"
        # The caller's channel carries the incident number (so its CDR does too).
        number = doc["incident"]["number"]
        chan = first["asterisk_channel"]
        assert wait_for(
            "the channel tag",
            lambda: number in asterisk.cli(f"core show channel {chan}") or None,
            5,
        )
        call.wait(30)
        row = finished_call(gw, caller)
    finally:
        phone.stop()
    assert row["state"] == "ended" and row["calltaker"] == "1001"
    assert row["answered_at"] is not None and row["talk_s"] >= 2
    assert row["hangup_by"] == "calltaker"
    assert row["recording"] and row["linkedid"] in row["recording"]
    recording = host_path(row["recording"])
    assert wait_for("the recording file", lambda: recording.exists() or None, 5)
    # Also named by the incident number (a hard link made by the dialplan's hangup handler).
    tagged = recording.with_name(f"110-{number}-{row['linkedid']}.wav")
    assert tagged.exists() and tagged.stat().st_ino == recording.stat().st_ino
    assert len(phone_reports(gw, caller)) == 1
    doc = incident(gw, supervisor, number_of(gw, row["linkedid"]))
    actions = [e["action"] for e in doc["events"]]
    assert "call_answered" in actions and "call_ended" in actions
    assert doc["calls"][0]["calltaker"] == "1001"
    status, _ = gw.request("GET", "/api/v1/calltakers/1001/current", token=calltaker)
    assert status == 404  # the call is over


def test_abandoned_call_gets_a_callback_task(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp], supervisor: str
) -> None:
    caller = "13800138002"
    sipp.call(asterisk, caller=caller, name="李四", hold=2).wait(20)
    row = finished_call(gw, caller)
    assert row["state"] == "abandoned" and row["end_reason"] == "caller_hangup"
    assert row["hangup_by"] == "caller" and row["callback"] == "pending"
    assert row["hold_s"] >= 1.5
    number = number_of(gw, row["linkedid"])
    status, listing = gw.request("GET", "/api/v1/incidents?state=received", token=supervisor)
    assert status == 200
    (mine,) = [i for i in listing["incidents"] if i["number"] == number]
    assert mine["tasks"] == [
        {
            "kind": "callback",
            "number": caller,
            "status": "pending",
            "attempts": 0,
            "since": mine["tasks"][0]["since"],
        }
    ]


def test_queue_timeout_is_told_apart_from_a_hang_up(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp], supervisor: str, ami: AmiSession
) -> None:
    caller = "13800138003"
    set_global(ami, "QUEUE_WAIT", "2")  # the conftest puts the shipped 15 s back
    set_global(ami, "OVERFLOW_WAIT", "2")
    sipp.call(asterisk, caller=caller, hold=7).wait(30)
    row = finished_call(gw, caller)
    assert row["state"] == "abandoned"
    assert row["end_reason"] == "timeout_then_hangup"
    timeouts = row["timeouts"]
    assert "calltakers" in timeouts
    doc = incident(gw, supervisor, number_of(gw, row["linkedid"]))
    timed_out = [e for e in doc["events"] if e["action"] == "call_queue_timeout"]
    assert timed_out and timed_out[0]["data"]["queue"] == "calltakers"


def test_chinese_caller_name_arrives_intact(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp], supervisor: str
) -> None:
    caller = "13800138004"
    name = "欧阳娜娜·报警人"
    sipp.call(asterisk, caller=caller, name=name, hold=1).wait(20)
    row = finished_call(gw, caller)
    assert row["caller_name"] == name
    doc = incident(gw, supervisor, number_of(gw, row["linkedid"]))
    assert doc["reports"][0]["sender"]["name"] == name


def test_drill_calls_carry_the_drill_flag(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp], supervisor: str
) -> None:
    sipp.call(asterisk, caller="13800138005", trunk="drill", hold=1).wait(20)
    sipp.call(asterisk, caller="13800138006", drill_header=True, hold=1).wait(20)
    for caller in ("13800138005", "13800138006"):
        row = finished_call(gw, caller)
        assert row["drill"]
        doc = incident(gw, supervisor, number_of(gw, row["linkedid"]))
        assert doc["drill"] and doc["reports"][0]["drill"]
        assert all(e["drill"] for e in doc["events"])
    # A real call from the same place and time is not mixed with the drill.
    sipp.call(asterisk, caller="13800138005", hold=1).wait(20)
    real = finished_call(gw, "13800138005")
    assert not real["drill"]


def test_twenty_concurrent_calls(gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp]) -> None:
    before = len(phone_reports(gw))
    callers = [(f"13900139{i:03d}", f"报警人{i}") for i in range(20)]
    batch = sipp.call(asterisk, callers=callers, rate=20, hold=3)
    batch.wait(60)
    assert batch.count("TotalCallCreated") == 20, batch.stats()

    def all_ended() -> bool:
        with db(gw) as conn:
            n = conn.execute(
                "SELECT count(*) FROM calls WHERE caller LIKE '13900139%' "
                "AND state IN ('ended', 'abandoned')"
            ).fetchone()[0]
        return n == 20

    wait_for("20 calls ended", all_ended, 30)
    assert len(phone_reports(gw)) - before == 20
    with db(gw) as conn:
        dup = conn.execute(
            "SELECT external_id, count(*) FROM reports WHERE channel = 'phone' "
            "GROUP BY external_id HAVING count(*) > 1"
        ).fetchall()
    assert dup == []


def test_link_cut_mid_call_still_one_report_each(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp], relay: TcpCut
) -> None:
    """The AMI connection is reset while a call is in the queue, and stays refused while
    more calls arrive: when the link returns, Asterisk's own state (CoreShowChannels,
    QueueStatus) makes each of them exactly one report."""
    during = "13700137000"
    missed = [f"1370013700{i}" for i in range(1, 4)]
    first = sipp.call(asterisk, caller=during, hold=10)
    wait_for("the first report", lambda: call_row(gw, during), 10)
    relay.refuse()
    try:
        batch = [sipp.call(asterisk, caller=c, hold=10) for c in missed]
        time.sleep(2)
        assert all(call_row(gw, c) is None for c in missed)  # nothing seen yet
    finally:
        relay.allow()
    for c in missed:
        wait_for(f"the report of {c}", lambda c=c: call_row(gw, c), 20)
    for b in [first, *batch]:
        b.wait(30)
    for c in [during, *missed]:
        finished_call(gw, c)
        assert len(phone_reports(gw, c)) == 1


def test_half_open_link_is_detected(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp], relay: TcpCut
) -> None:
    """Nothing flows but the socket stays up: the unanswered Ping gives it away, the
    gateway drops the link and logs in again once traffic flows."""
    mark = LogMark(gw)
    relay.freeze()
    try:
        wait_for("the dead link to be noticed", lambda: mark.count("Ping unanswered") or None, 15)
    finally:
        relay.thaw()
    wait_for("a new login", lambda: mark.count("AMI: reconciled") or None, 15)
    caller = "13700137100"
    sipp.call(asterisk, caller=caller, hold=1).wait(20)
    finished_call(gw, caller)


def test_asterisk_restart_mid_call(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp]
) -> None:
    """Asterisk restarts while a call is in the queue: the call dies with it; the gateway
    closes it as abandoned (link lost) when the link returns, and new calls work."""
    caller = "13600136000"
    call = sipp.call(asterisk, caller=caller, hold=30)
    wait_for("the report", lambda: call_row(gw, caller), 10)
    asterisk.restart()
    call.stop()
    row = finished_call(gw, caller, 40)
    assert row["state"] == "abandoned" and row["callback"] == "pending"
    after = "13600136001"
    sipp.call(asterisk, caller=after, hold=1).wait(20)
    finished_call(gw, after, 20)
    assert len(phone_reports(gw, caller)) == 1 and len(phone_reports(gw, after)) == 1


def test_callback_connects_calltaker_and_citizen(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp], calltaker: str, supervisor: str
) -> None:
    caller = "13800138009"
    sipp.call(asterisk, caller=caller, hold=1).wait(20)
    row = finished_call(gw, caller)
    number = number_of(gw, row["linkedid"])
    citizen = sipp.citizen(asterisk, talk=2)
    phone = sipp.softphone(asterisk, ext="1002", answer_after=0.2)
    try:
        doc, ev = call_back(gw, number, "1002", calltaker, supervisor)
        assert doc["callback"]["status"] == "calling" and doc["callback"]["number"] == caller
    finally:
        phone.stop()
        citizen.stop()
    assert ev["data"]["status"] == "connected", ev
    assert ev["data"]["talk_s"] and ev["data"]["talk_s"] >= 1
    assert call_row(gw, caller)["callback"] == "connected"


def test_callback_to_a_busy_citizen_keeps_the_task(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp], calltaker: str, supervisor: str
) -> None:
    caller = "13800138010"
    sipp.call(asterisk, caller=caller, hold=1).wait(20)
    number = number_of(gw, finished_call(gw, caller)["linkedid"])
    sipp.citizen(asterisk, reply="busy")
    sipp.softphone(asterisk, ext="1003", answer_after=0.2)
    _, ev = call_back(gw, number, "1003", calltaker, supervisor)
    assert ev["data"]["status"] == "busy" and ev["data"]["dialstatus"] == "BUSY"
    status, listing = gw.request("GET", "/api/v1/incidents?state=received", token=supervisor)
    (mine,) = [i for i in listing["incidents"] if i["number"] == number]
    assert mine["tasks"][0]["status"] == "busy" and mine["tasks"][0]["attempts"] == 1


def test_callback_refused_without_a_calltaker_or_to_an_outsider(
    gw: GatewayProcess, calltaker: str
) -> None:
    status, receipt = gw.request(
        "POST", "/api/v1/reports", {"sender": {"kind": "web", "id": "x"}, "text": "求助"}
    )
    number = receipt["incident"]["number"]
    path = f"/api/v1/incidents/{number}/actions"
    status, doc = gw.request("POST", path, {"action": "callback"}, token=calltaker)
    assert status == 422 and doc["field"] == "calltaker"
    status, doc = gw.request(
        "POST", path, {"action": "callback", "calltaker": "1001"}, token=calltaker
    )
    assert status == 409 and "no call" in doc["message"]  # a web report: nobody to ring
    officer = gw.token("wang.zhiban", "unit_officer", NANBA)
    status, doc = gw.request(
        "POST", path, {"action": "callback", "calltaker": "1001"}, token=officer
    )
    assert status == 403


def test_phone_notification_acknowledged_with_dtmf_1(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp], supervisor: str
) -> None:
    duty = sipp.duty_phone(asterisk)
    try:
        number = dispatched_incident(gw, supervisor, NANBA, "13912345678")
        acked = wait_for(
            "the acknowledgement by phone",
            lambda: (lambda d: d if d["state"] == "acknowledged" else None)(
                incident(gw, supervisor, number)
            ),
            60,
        )
    finally:
        duty.stop()
    ack = [e for e in acked["events"] if e["action"] == "acknowledge"][-1]
    assert ack["actor"]["user"] == f"phone:{DUTY_PHONE}" and ack["actor"]["unit"] == NANBA
    phone = [d for d in acked["deliveries"] if d["kind"] == "phone"]
    assert phone and phone[-1]["status"] == "delivered"


def test_store_failure_while_a_call_arrives(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp]
) -> None:
    """A real store fault (another process holds SQLite's write lock far longer than the
    gateway's 300 ms busy timeout) while a call arrives and ends: nothing can be
    acknowledged to a caller, so the gateway keeps retrying; once the lock goes the call is
    filed exactly once and followed to its end."""
    caller = "13800138011"
    lock = sqlite3.connect(gw.data_dir / "alarmgw.db", timeout=10)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")
    mark = LogMark(gw)
    try:
        sipp.call(asterisk, caller=caller, hold=2).wait(20)
        wait_for("the store failure", lambda: mark.count("retrying") or None, 10)
        assert call_row(gw, caller) is None
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    row = finished_call(gw, caller)
    assert row["state"] == "abandoned" and row["callback"] == "pending"
    assert len(phone_reports(gw, caller)) == 1
    assert "retrying" in mark.text()


def test_gateway_killed_mid_call_files_it_at_restart(
    gw: GatewayProcess, asterisk: Asterisk, sipp: type[Sipp]
) -> None:
    """kill -9 of the gateway while calls wait in the queue, one arriving while it is
    down: at restart the reconcile files each exactly once and follows them to the end."""
    first, later = "13500135000", "13500135001"
    c1 = sipp.call(asterisk, caller=first, hold=12)
    wait_for("the first report", lambda: call_row(gw, first), 10)
    gw.kill()
    mark = LogMark(gw)
    c2 = sipp.call(asterisk, caller=later, hold=10)
    time.sleep(1)
    gw.start()
    wait_for("the reconcile", lambda: mark.count("AMI: reconciled") or None, 20)
    wait_for("the later report", lambda: call_row(gw, later), 10)
    c1.wait(30)
    c2.wait(30)
    for c in (first, later):
        finished_call(gw, c)
        assert len(phone_reports(gw, c)) == 1
