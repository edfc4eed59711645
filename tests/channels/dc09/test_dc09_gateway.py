"""Alarm panels end to end: a third-party DC-09 transmitter (PyPI dc09-spt, unencrypted) and
frames of our own builder (encrypted, late, broken) → a real gateway process → its store.

Here: ACK only with the event stored; a repeat ACKed again without a second report; NAK with
our time for a timestamp outside the window; DUH for what cannot be read — a clear frame of
an account that has a key, a wrong key, broken frames — and the link keeps working; UDP as
TCP; burglary → a priority-1 criminal incident at the premises with its name and zone; the
restoral joins it; a test signal and open/close only go to the history; an unknown panel
is still an incident; a store failure (a real SQLite lock) → no ACK → the repeat is one
report; a silent panel → one 通讯故障 incident; kill -9 while panels send → every ACKed
event stored once.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.channels.dc09 import frame
from tests.peers.gateway import GatewayProcess, channel_gateway, db, wait_for

NANBA = "530102510000"  # 南坝派出所 in the sample city
KEYS = {16: bytes(range(16)), 24: bytes(range(24)), 32: bytes(range(32))}
PREMISES = (
    "account,receiver,line,name,address,lat,lon,unit,phones,zones,key,supervision_s\n"
    f"1234,,,示例银行南坝支行,南坝路1号,24.98,102.65,{NANBA},0871-6500001,"
    '"1:前门, 2:金库, 3:营业厅",,\n'
    f"A128,,,示例金店,南坝路8号,24.981,102.651,{NANBA},,1:柜台,{KEYS[16].hex()},\n"
    f"A192,,,示例超市,南坝路9号,24.982,102.652,{NANBA},,,{KEYS[24].hex()},\n"
    f"A256,,,示例珠宝行,南坝路10号,24.983,102.653,{NANBA},,,{KEYS[32].hex()},\n"
    f"5555,,,示例便利店,南坝路20号,24.984,102.654,{NANBA},,,,\n"
    f"9999,,,示例仓库,南坝路30号,24.985,102.655,{NANBA},,,,2\n"
)


def start(tmp: Path, busy_timeout_ms: int = 300, settings: str = "") -> GatewayProcess:
    gw = channel_gateway(
        tmp,
        "dc09",
        "supervision_check_s = 0.5\nregistry_refresh_s = 0.5\nseen_flush_s = 0.2\n"
        'drill_accounts = ["D001"]\n' + settings,
        busy_timeout_ms=busy_timeout_ms,
    )
    csv = tmp / "premises.csv"
    csv.write_text(PREMISES, encoding="utf-8")
    out = gw.cli("targets", "import", str(csv))
    assert "6 new" in out.stdout, out.stdout + out.stderr
    gw.start()
    return gw


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    g = start(tmp_path_factory.mktemp("dc09"))
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


# -- a panel -----------------------------------------------------------------------------------


class Link:
    """A panel's TCP link: one frame out, its answer back (or None: nothing came)."""

    def __init__(self, gw: GatewayProcess, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", gw.channel_ports[0]), timeout=5)
        self.sock.settimeout(timeout)
        self.buffer = b""

    def send(self, data: bytes) -> bytes | None:
        self.sock.sendall(data)
        return self.answer()

    def answer(self) -> bytes | None:
        try:
            while b"\r" not in self.buffer:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return None
                self.buffer += chunk
        except TimeoutError:
            return None
        answer, _, self.buffer = self.buffer.partition(b"\r")
        return answer + b"\r"

    def close(self) -> None:
        self.sock.close()


def send(gw: GatewayProcess, data: bytes, timeout: float = 10.0) -> bytes | None:
    link = Link(gw, timeout)
    try:
        return link.send(data)
    finally:
        link.close()


def token(answer: bytes | None) -> str:
    """The answer's token (a NAK or DUH without a frame to echo has DC-09's zero address,
    `R0L0A0`, which no panel frame has: read by hand)."""
    assert answer is not None, "no answer"
    m = re.match(rb'\n[0-9A-F]{8}"\*?([A-Z-]+)"', answer)
    assert m is not None, answer
    return m[1].decode()


_seq = iter(range(1, 10_000))


def seq() -> str:
    return f"{next(_seq):04d}"


def now() -> datetime:
    return datetime.now(UTC)


def reports(gw: GatewayProcess, account: str) -> list[dict[str, Any]]:
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT r.external_id, r.doc, i.number, i.category, i.priority, i.lat, i.lon, "
            "i.summary FROM reports r JOIN incidents i ON i.id = r.incident_id "
            "WHERE r.channel = 'dc09' ORDER BY r.id"
        ).fetchall()
    out = []
    for r in rows:
        doc = json.loads(r["doc"])
        if doc["sender"]["id"] == account:
            out.append({**dict(r), "doc": doc})
    return out


def signals(gw: GatewayProcess, account: str) -> list[sqlite3.Row]:
    with db(gw) as conn:
        return conn.execute(
            "SELECT * FROM dc09_signals WHERE account = ? ORDER BY id", (account,)
        ).fetchall()


def premises(gw: GatewayProcess, account: str) -> sqlite3.Row:
    with db(gw) as conn:
        row = conn.execute("SELECT * FROM premises WHERE account = ?", (account,)).fetchone()
    assert row is not None
    return row


# -- a third-party transmitter ---------------------------------------------------------------


def spt(gw: GatewayProcess, account: str) -> Any:
    from dc09_spt import dc09_spt

    t = dc09_spt.dc09_spt(account)
    t.set_path("main", "primary", "127.0.0.1", gw.channel_ports[0], type="TCP")
    return t


def sent(t: Any, timeout: float = 20.0) -> None:
    wait_for(
        "the transmitter's queue to empty", lambda: t.state()["msgs queued"] == 0 or None, timeout
    )


def test_dc09_spt_burglary_is_an_incident_and_its_restoral_joins_it(gw: GatewayProcess) -> None:
    t = spt(gw, "1234")
    t.send_msg("SIA-DCS", {"code": "BA", "zone": 3})
    sent(t)
    (alarm,) = wait_for("the burglary", lambda: reports(gw, "1234") or None)
    assert alarm["category"] == "criminal" and alarm["priority"] == 1
    assert "示例银行南坝支行" in alarm["summary"] and "3号防区 营业厅" in alarm["summary"]
    assert (alarm["lat"], alarm["lon"]) == (24.98, 102.65)
    assert alarm["doc"]["alarm"] == {"account": "1234", "zone": "3"}
    t.send_msg("SIA-DCS", {"code": "BR", "zone": 3})
    sent(t)
    both = wait_for("the restoral", lambda: (r := reports(gw, "1234"))[1:] and r)
    assert len(both) == 2 and both[1]["number"] == alarm["number"]  # joined, no new incident
    assert both[1]["doc"].get("follow_up") is True
    # A periodic test, an opening: the premises' history, never an incident.
    t.send_msg("SIA-DCS", {"code": "RP"})
    t.send_msg("SIA-DCS", {"code": "OP", "user": 7, "area": 1})
    sent(t)
    kinds = wait_for("two signals", lambda: (s := signals(gw, "1234"))[1:] and s)
    assert [s["kind"] for s in kinds] == ["test", "openclose"]
    assert len(reports(gw, "1234")) == 2
    assert premises(gw, "1234")["last_seen_at"] is not None


def test_dc09_spt_contact_id_fire(gw: GatewayProcess) -> None:
    t = spt(gw, "5555")
    t.send_msg("ADM-CID", {"code": 110, "q": 1, "zone": 4, "area": 1})
    sent(t)
    (fire,) = wait_for("the fire", lambda: reports(gw, "5555") or None)
    assert fire["category"] == "fire" and fire["priority"] == 1
    assert fire["doc"]["extra"]["protocol"] == "CID"


def test_a_restoral_with_nothing_open_goes_to_the_history(gw: GatewayProcess) -> None:
    answer = send(gw, frame.build("SIA-DCS", seq(), "5555", "#5555|NFR9", timestamp=now()))
    assert token(answer) == "ACK"
    assert [s["code"] for s in signals(gw, "5555")] == ["FR"]
    assert not [r for r in reports(gw, "5555") if r["doc"]["alarm"]["zone"] == "9"]


@pytest.mark.parametrize("size", sorted(KEYS))
def test_encrypted_hold_up_for_each_key_size(gw: GatewayProcess, size: int) -> None:
    account = f"A{size * 8}"
    raw = frame.build(
        "SIA-DCS", seq(), account, f"#{account}|NHA1", key=KEYS[size], timestamp=now()
    )
    answer = send(gw, raw)
    assert answer is not None
    env = frame.read_envelope(answer)
    assert env.token == "ACK" and env.encrypted  # answered in the panel's own key
    assert frame.open_message(env, KEYS[size]).timestamp is not None
    assert b"None" not in answer and KEYS[size].hex().upper().encode() not in answer.upper()
    (r,) = wait_for("the hold-up", lambda: reports(gw, account) or None)
    assert r["priority"] == 1 and r["category"] == "criminal"


def test_an_account_with_a_key_is_never_taken_in_clear(gw: GatewayProcess) -> None:
    assert token(send(gw, frame.build("SIA-DCS", seq(), "A128", "#A128|NBA9"))) == "DUH"
    wrong_key = KEYS[16][::-1]
    wrong = frame.build("SIA-DCS", seq(), "A128", "#A128|NBA9", key=wrong_key, timestamp=now())
    assert token(send(gw, wrong)) == "DUH"
    assert not [r for r in reports(gw, "A128") if r["doc"]["alarm"]["zone"] == "9"]


def test_a_late_timestamp_is_answered_nak_with_our_time(gw: GatewayProcess) -> None:
    late = frame.build(
        "SIA-DCS", seq(), "5555", "#5555|NBA2", timestamp=now() - timedelta(minutes=5)
    )
    answer = send(gw, late)
    assert token(answer) == "NAK"
    m = re.search(rb"\[\]_(\d\d:\d\d:\d\d,\d\d-\d\d-\d{4})\r$", answer or b"")
    assert m is not None, answer
    ours = datetime.strptime(m[1].decode(), "%H:%M:%S,%m-%d-%Y").replace(tzinfo=UTC)
    assert abs((ours - now()).total_seconds()) < 5
    assert not [r for r in reports(gw, "5555") if r["doc"]["alarm"]["zone"] == "2"]


def test_a_repeat_is_acked_again_without_a_second_report(gw: GatewayProcess) -> None:
    raw = frame.build("SIA-DCS", seq(), "5555", "#5555|NPA5", timestamp=now())
    assert token(send(gw, raw)) == "ACK"
    assert token(send(gw, raw)) == "ACK"
    panic = [r for r in reports(gw, "5555") if r["doc"]["alarm"]["zone"] == "5"]
    assert len(panic) == 1


def test_broken_frames_get_duh_and_the_link_goes_on(gw: GatewayProcess) -> None:
    link = Link(gw)
    try:
        good = frame.build("SIA-DCS", seq(), "5555", "#5555|NBA6", timestamp=now())
        bad_crc = b"\n0000" + good[5:]
        assert token(link.send(bad_crc)) == "DUH"
        assert token(link.send(b"\nthis is no frame at all\r")) == "DUH"
        assert token(link.send(good[:20] + b"\r")) == "DUH"  # truncated
        assert token(link.send(good)) == "ACK"
    finally:
        link.close()
    assert [r for r in reports(gw, "5555") if r["doc"]["alarm"]["zone"] == "6"]


def test_garbage_never_stops_the_receiver(gw: GatewayProcess) -> None:
    """Arbitrary bytes on a TCP link and in datagrams: DUH or nothing, never a crash; then a
    real frame on the same link is ACKed."""
    import random

    rng = random.Random(9)
    link = Link(gw, timeout=0.2)
    try:
        for _ in range(200):
            blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            link.sock.sendall(blob)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(blob, ("127.0.0.1", gw.channel_ports[0]))
        link.sock.sendall(b"\r")  # whatever the garbage left open ends here
        while link.answer() is not None:  # the DUHs
            pass
        link.sock.settimeout(10)
        good = frame.build("SIA-DCS", seq(), "5555", "#5555|NBA11", timestamp=now())
        assert token(link.send(good)) == "ACK"
    finally:
        link.close()


def test_a_drill_panel_files_drills(gw: GatewayProcess) -> None:
    assert (
        token(send(gw, frame.build("SIA-DCS", seq(), "D001", "#D001|NBA1", timestamp=now())))
        == "ACK"
    )
    (r,) = reports(gw, "D001")
    assert r["doc"]["drill"] is True


def test_udp_as_tcp(gw: GatewayProcess) -> None:
    raw = frame.build("SIA-DCS", seq(), "5555", "#5555|NBA7", timestamp=now())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        s.sendto(raw, ("127.0.0.1", gw.channel_ports[0]))
        answer, _ = s.recvfrom(2048)
    assert token(answer) == "ACK"
    assert [r for r in reports(gw, "5555") if r["doc"]["alarm"]["zone"] == "7"]


def test_an_unknown_panel_is_still_an_incident(gw: GatewayProcess) -> None:
    assert (
        token(send(gw, frame.build("SIA-DCS", seq(), "777", "#777|NBA1", timestamp=now()))) == "ACK"
    )
    (r,) = reports(gw, "777")
    assert r["summary"].startswith("未登记的报警终端 账号 777") and r["priority"] == 1


def test_a_store_failure_is_not_acked_and_the_repeat_is_one_report(gw: GatewayProcess) -> None:
    """A real store fault: another process holds SQLite's write lock past the gateway's
    300 ms busy timeout. No ACK (the panel repeats); the repeat, after the lock, is one
    report; and another repeat is ACKed again, still one."""
    raw = frame.build("SIA-DCS", seq(), "5555", "#5555|NBA8", timestamp=now())
    lock = sqlite3.connect(gw.data_dir / "alarmgw.db", timeout=10)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")
    try:
        assert send(gw, raw, timeout=3) is None
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert not [r for r in reports(gw, "5555") if r["doc"]["alarm"]["zone"] == "8"]
    assert token(send(gw, raw)) == "ACK"
    assert token(send(gw, raw)) == "ACK"
    assert len([r for r in reports(gw, "5555") if r["doc"]["alarm"]["zone"] == "8"]) == 1


def test_a_silent_panel_opens_one_comm_fault_incident(gw: GatewayProcess) -> None:
    """Premises 9999 must report every 2 s and never did: one 通讯故障 incident, however
    long it stays silent; when it reports again the fault is cleared."""
    (fault,) = wait_for("the comm fault", lambda: reports(gw, "9999") or None, timeout=20)
    assert fault["summary"].startswith("通讯故障：示例仓库") and fault["priority"] == 4
    time.sleep(2)
    assert len(reports(gw, "9999")) == 1
    assert premises(gw, "9999")["fault_reported_at"] is not None
    assert token(send(gw, frame.build("NULL", seq(), "9999", "", timestamp=now()))) == "ACK"
    wait_for("the fault cleared", lambda: premises(gw, "9999")["fault_reported_at"] is None or None)


def test_kill_9_while_panels_send_loses_nothing_acked(tmp_path: Path) -> None:
    gw = start(tmp_path, busy_timeout_ms=5000)
    acked: list[str] = []
    stop = threading.Event()

    def panel(n: int) -> None:
        link: Link | None = None
        for i in range(1, 400):
            if stop.is_set():
                return
            sequence = f"{i:04d}"
            raw = frame.build("SIA-DCS", sequence, "5555", f"#5555|NBA{n}", line=str(n),
                              timestamp=now())  # fmt: skip
            try:
                link = link or Link(gw, timeout=5)
                answer = link.send(raw)
            except OSError:
                return
            if answer is None:
                return
            if frame.read_envelope(answer).token == "ACK":
                acked.append(f"{n}/{sequence}")

    threads = [threading.Thread(target=panel, args=(n,)) for n in range(1, 6)]
    for t in threads:
        t.start()
    wait_for("some ACKs", lambda: len(acked) >= 50 or None, timeout=30)
    gw.kill()
    stop.set()
    for t in threads:
        t.join(10)
    gw.start()
    try:
        stored: dict[str, int] = {}
        for r in reports(gw, "5555"):
            line, sequence = r["doc"]["extra"]["line"], r["doc"]["extra"]["sequence"]
            key = f"{line}/{sequence}"
            stored[key] = stored.get(key, 0) + 1
        lost = [a for a in acked if a not in stored]
        assert not lost, f"ACKed but not stored: {lost[:10]} of {len(acked)}"
        assert all(count == 1 for count in stored.values())
    finally:
        assert gw.stop() == 0
