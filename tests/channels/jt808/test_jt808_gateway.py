"""Vehicle terminals end to end over TCP against a real gateway process: register,
authenticate, heartbeat, positions (never reports: the vehicle's last position, in a batch),
the emergency button (a priority-1 incident at the vehicle's position with its plate and
company, 0x8001 only after the commit), positions while it is open (the incident's track),
0x8203 to the terminal once a call-taker accepts, 2013 and 2019 terminals, an unknown
terminal (still an incident), a broken frame (message error, the link goes on), a store
failure (no answer; the repeat is one incident), kill -9 mid-stream (every answered alarm
stored once).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.channels.jt808 import frame
from tests.peers.gateway import GatewayProcess, channel_gateway, db, wait_for
from tests.peers.jt808 import Terminal

NANBA = "530102510000"  # 南坝派出所 in the sample city
VEHICLES = (
    "terminal,plate,plate_color,kind,company,unit,phones\n"
    f"13900000001,云A12345,2,taxi,示例出租汽车公司,{NANBA},0871-6500100\n"
    f"13900000002,云A00002,2,cash_van,示例押运公司,{NANBA},\n"
    f"13900000003,云A00003,1,bus,示例公交公司,{NANBA},\n"
    f"13900000004,云A00004,2,taxi,示例出租汽车公司,{NANBA},\n"
    f"13900000005,云A00005,2,taxi,示例出租汽车公司,{NANBA},\n"
)
SOS = 1


def start(tmp: Path, busy_timeout_ms: int = 300) -> GatewayProcess:
    gw = channel_gateway(
        tmp,
        "jt808",
        'auth_secret = "test-secret"\nflush_s = 0.2\nregistry_refresh_s = 0.5\n'
        'drill_terminals = ["13600000009"]\n'
        '[channels.jt808.alarm_bits.29]\ncategory = "disaster"\npriority = 2\n',
        busy_timeout_ms=busy_timeout_ms,
    )
    csv = tmp / "vehicles.csv"
    csv.write_text(VEHICLES, encoding="utf-8")
    out = gw.cli("vehicles", "import", str(csv))
    assert "5 new" in out.stdout, out.stdout + out.stderr
    gw.start()
    return gw


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    g = start(tmp_path_factory.mktemp("jt808"))
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


def terminal(gw: GatewayProcess, phone: str, version: int | None = None) -> Terminal:
    t = Terminal(phone, gw.channel_ports[0], version)
    code = t.register("云A12345")
    assert t.authenticate(code) == 0
    return t


def reports(gw: GatewayProcess, phone: str) -> list[dict[str, Any]]:
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT r.external_id, r.doc, i.id AS incident_id, i.number, i.category, "
            "i.priority, i.lat, i.lon, i.summary, i.state FROM reports r "
            "JOIN incidents i ON i.id = r.incident_id WHERE r.channel = 'jt808' ORDER BY r.id"
        ).fetchall()
    out = []
    for r in rows:
        doc = json.loads(r["doc"])
        if doc["sender"]["id"] == phone:
            out.append({**dict(r), "doc": doc})
    return out


def vehicle(gw: GatewayProcess, phone: str) -> sqlite3.Row:
    with db(gw) as conn:
        row = conn.execute("SELECT * FROM vehicles WHERE terminal = ?", (phone,)).fetchone()
    assert row is not None
    return row


def track(gw: GatewayProcess, incident_id: int) -> list[sqlite3.Row]:
    with db(gw) as conn:
        return conn.execute(
            "SELECT * FROM vehicle_track WHERE incident_id = ? ORDER BY fix_at, id", (incident_id,)
        ).fetchall()


def test_positions_and_heartbeats_never_become_reports(gw: GatewayProcess) -> None:
    with terminal(gw, "13900000003") as t:
        assert t.answer(t.heartbeat()) == 0
        for i in range(5):
            assert t.answer(t.position(24.98 + i / 1000, 102.65)) == 0
        wait_for("the last position", lambda: vehicle(gw, "13900000003")["last_lat"] or None)
    v = vehicle(gw, "13900000003")
    assert abs(v["last_lat"] - 24.984) < 1e-6 and v["last_seen_at"] is not None
    assert reports(gw, "13900000003") == []


@pytest.mark.parametrize("version", [None, 1], ids=["2013", "2019"])
def test_sos_is_an_incident_its_positions_the_track_and_accept_confirms(
    gw: GatewayProcess, version: int | None
) -> None:
    phone = "13900000001" if version is None else "13900000002"
    lon = 102.651 if version is None else 102.701  # 5 km apart: not the same place
    with terminal(gw, phone, version) as t:
        serial = t.position(24.981, lon, alarm=SOS, speed_kmh=42)
        assert t.answer(serial) == 0  # answered after the commit: the incident is there
        (r,) = reports(gw, phone)
        assert r["priority"] == 1 and r["category"] == "criminal"
        assert (r["lat"], r["lon"]) == (24.981, lon)
        plate = "云A12345" if version is None else "云A00002"
        assert plate in r["summary"] and (
            "示例出租汽车公司" in r["summary"] or "示例押运公司" in r["summary"]
        )
        # Still pressed, then released: the track, not new reports.
        for i in range(1, 4):
            assert t.answer(t.position(24.981 + i / 1000, lon, alarm=SOS)) == 0
        assert t.answer(t.position(24.985, lon)) == 0
        points = wait_for("the track", lambda: (p := track(gw, r["incident_id"]))[3:] and p)
        assert len(points) == 4 and [bool(p["alarm"] & 1) for p in points] == [True] * 3 + [False]
        assert len(reports(gw, phone)) == 1
        # The call-taker accepts: the terminal hears 0x8203 for its SOS.
        token = gw.token("calltaker1", "calltaker")
        status, _ = gw.request(
            "POST",
            f"/api/v1/incidents/{r['number']}/actions",
            {"action": "accept", "category": "criminal", "priority": 1},
            token=token,
        )
        assert status == 200
        confirm = t.receive(0x8203, timeout=10)
        assert confirm is not None, "no 0x8203 after the accept"
        assert int.from_bytes(confirm.body[:2], "big") == serial
        assert int.from_bytes(confirm.body[2:6], "big") & 1
    # The incident's document carries the track for the console's map.
    status, doc = gw.request("GET", f"/api/v1/incidents/{r['number']}", token=token)
    assert status == 200 and len(doc["track"]) == 4


def test_an_unknown_terminal_is_still_an_incident(gw: GatewayProcess) -> None:
    with terminal(gw, "13812345678") as t:
        assert t.answer(t.position(24.99, 102.66, alarm=SOS)) == 0
    (r,) = reports(gw, "13812345678")
    assert r["summary"].startswith("未登记的报警终端 13812345678") and r["priority"] == 1


def test_a_configured_alarm_bit_opens_one_incident_others_are_recorded(
    gw: GatewayProcess,
) -> None:
    """Bit 29 (碰撞侧翻) is configured: its rising edge is an incident, its staying set is
    not another; bit 1 (超速) is not: only the vehicle's alarm word records it."""
    rollover, speeding = 1 << 29, 1 << 1
    with terminal(gw, "13900000004") as t:
        assert t.answer(t.position(24.95, 102.60, alarm=speeding)) == 0
        assert t.answer(t.position(24.95, 102.60, alarm=speeding | rollover)) == 0
        assert t.answer(t.position(24.95, 102.60, alarm=rollover)) == 0
    (r,) = reports(gw, "13900000004")
    assert r["category"] == "disaster" and r["priority"] == 2
    assert "碰撞" in r["summary"]
    wait_for(
        "the alarm word", lambda: vehicle(gw, "13900000004")["alarm_flags"] == rollover or None
    )


def test_a_batch_with_an_emergency_in_it(gw: GatewayProcess) -> None:
    """0x0704 (positions kept while out of coverage, sent together): the SOS among them is
    an incident, answered after the commit; the newest position is the vehicle's."""
    phone = "13900000003"  # (its other tests send no alarm)
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)  # newer than any
    items = [
        frame.position_body(SOS if i == 1 else 0, 2, 24.90 + i / 100, 102.55, 1900, 20, 0,
                            at + timedelta(seconds=30 * i))
        for i in range(3)
    ]  # fmt: skip
    with terminal(gw, phone) as t:
        assert t.answer(t.send(0x0704, frame.batch_body(1, items))) == 0
    (r,) = [x for x in reports(gw, phone) if abs(x["lat"] - 24.91) < 1e-9]
    assert r["priority"] == 1
    wait_for(
        "the newest position", lambda: abs(vehicle(gw, phone)["last_lat"] - 24.92) < 1e-9 or None
    )


def test_a_drill_terminal_files_drills(gw: GatewayProcess) -> None:
    with terminal(gw, "13600000009") as t:
        assert t.answer(t.position(24.93, 102.58, alarm=SOS)) == 0
    (r,) = reports(gw, "13600000009")
    assert r["doc"]["drill"] is True


def test_garbage_never_stops_the_channel(gw: GatewayProcess) -> None:
    """Arbitrary bytes on a link, then a real terminal on the same link and on a new one."""
    import random

    rng = random.Random(808)
    with terminal(gw, "13900000003") as t:
        for _ in range(200):
            blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            t.sock.sendall(blob)
        t.sock.sendall(b"\x7e")  # whatever the garbage left open ends here
        assert t.answer(t.heartbeat()) == 0
    with terminal(gw, "13900000003") as t:
        assert t.answer(t.heartbeat()) == 0


def test_an_alarm_without_the_handshake_is_taken_and_says_so(gw: GatewayProcess) -> None:
    """A terminal that never registered nor authenticated on this link: its SOS is still an
    incident (never dropped for want of a handshake), marked as from an unverified number."""
    with Terminal("13812340000", gw.channel_ports[0]) as t:
        assert t.answer(t.position(24.88, 102.50, alarm=SOS)) == 0
    (r,) = reports(gw, "13812340000")
    assert r["doc"]["extra"]["authenticated"] is False
    assert any("未鉴权" in d for d in r["doc"]["extra"]["details"])


def test_a_wrong_auth_code_is_refused(gw: GatewayProcess) -> None:
    with Terminal("13900000004", gw.channel_ports[0]) as t:
        t.register()
        assert t.authenticate("not-the-code") == 1


def test_a_broken_frame_is_a_message_error_and_the_link_goes_on(gw: GatewayProcess) -> None:
    with terminal(gw, "13900000004") as t:
        raw = frame.encode(0x0200, t.phone_raw, 999, b"\x00" * 10)  # too short a body
        t.sock.sendall(raw)
        assert t.answer(999) == 2
        good = frame.encode(0x0002, t.phone_raw, 1000, b"")
        bad = bytearray(good)
        bad[-2] ^= 0x55  # the checksum
        t.sock.sendall(bytes(bad) + b"\x7e\x00\x01garbage\x7e")
        t.serial = 1000
        assert t.answer(t.heartbeat()) == 0


def test_a_store_failure_is_not_answered_and_the_repeat_is_one_incident(
    gw: GatewayProcess,
) -> None:
    phone = "13900000005"
    with terminal(gw, phone) as t:
        at = datetime.now(UTC).replace(microsecond=0)
        lock = sqlite3.connect(gw.data_dir / "alarmgw.db", timeout=10)
        lock.isolation_level = None
        lock.execute("BEGIN IMMEDIATE")
        try:
            body = frame.position_body(SOS, 2, 24.97, 102.64, 1900, 0, 0, at)
            t.sock.sendall(frame.encode(0x0200, t.phone_raw, 500, body))
            assert t.answer(500, timeout=3) is None
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert reports(gw, phone) == []
        t.sock.sendall(frame.encode(0x0200, t.phone_raw, 500, body))  # the terminal repeats
        assert t.answer(500) == 0
        t.sock.sendall(frame.encode(0x0200, t.phone_raw, 500, body))
        assert t.answer(500) == 0
    assert len(reports(gw, phone)) == 1


def test_an_emergency_survives_a_restart(tmp_path: Path) -> None:
    """After kill -9 and a restart the open emergency is still the vehicle's: its next
    positions are the incident's track, not a new incident; the accept while the terminal
    is away reaches it as 0x8203 when it authenticates again."""
    gw = start(tmp_path)
    try:
        with terminal(gw, "13900000001") as t:
            assert t.answer(t.position(24.99, 102.67, alarm=SOS)) == 0
        (r,) = reports(gw, "13900000001")
        gw.kill()
        gw.start()
        with terminal(gw, "13900000001") as t:
            assert t.answer(t.position(24.991, 102.67, alarm=SOS)) == 0
            assert len(reports(gw, "13900000001")) == 1
            wait_for("the track", lambda: track(gw, r["incident_id"]) or None)
        token = gw.token("calltaker1", "calltaker")
        status, _ = gw.request(
            "POST",
            f"/api/v1/incidents/{r['number']}/actions",
            {"action": "accept", "category": "criminal", "priority": 1},
            token=token,
        )
        assert status == 200
        with terminal(gw, "13900000001") as t:  # authenticates: then the confirmation
            assert t.receive(0x8203, timeout=10) is not None
    finally:
        assert gw.stop() == 0


def test_kill_9_mid_stream_loses_no_answered_alarm(tmp_path: Path) -> None:
    gw = start(tmp_path, busy_timeout_ms=5000)
    answered: list[tuple[str, int, datetime]] = []
    stop = threading.Event()
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def run(n: int) -> None:
        phone = f"1370000{n:04d}"
        try:
            t = Terminal(phone, gw.channel_ports[0])
            for i in range(1, 2000):
                if stop.is_set():
                    return
                # Every 5th message an emergency of its own (the SOS bit rises again).
                alarm = SOS if i % 5 == 0 else 0
                at = base + timedelta(seconds=i)
                serial = t.position(24.98, 102.65, alarm=alarm, at=at)
                if t.answer(serial, timeout=5) == 0 and alarm:
                    answered.append((phone, serial, at))
        except OSError:
            return

    threads = [threading.Thread(target=run, args=(n,)) for n in range(1, 6)]
    for th in threads:
        th.start()
    wait_for("some answered alarms", lambda: len(answered) >= 10 or None, timeout=60)
    gw.kill()
    stop.set()
    for th in threads:
        th.join(10)
    gw.start()
    try:
        with db(gw) as conn:
            ids = {
                e
                for (e,) in conn.execute("SELECT external_id FROM reports WHERE channel = 'jt808'")
            }
            points = {
                (t, datetime.fromisoformat(f).replace(tzinfo=UTC))
                for t, f in conn.execute("SELECT terminal, fix_at FROM vehicle_track")
            }
        # An answered SOS is the report that opened its emergency, or a point of its track.
        lost = [
            (phone, serial)
            for phone, serial, at in answered
            if f"{phone}/{serial}/{at:%Y%m%dT%H%M%S}" not in ids and (phone, at) not in points
        ]
        assert not lost, f"answered but not stored: {lost} of {len(answered)}"
    finally:
        assert gw.stop() == 0
