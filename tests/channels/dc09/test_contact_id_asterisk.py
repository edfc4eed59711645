"""Alarm panels on the center's panel line, on the real Asterisk 22 (the project's
asterisk/ configuration): Contact ID events reach the gateway's SIA DC-09 port.

The panel is played by the same Asterisk (`tests/peers/cidpanel.py`: a call over a SIP/RTP
loop on loopback that comes back in as a carrier's, with the Contact ID digits as RFC 4733
events or as tones in the audio). The shipped dialplan answers it (`[from-carrier]` →
`[alarm-panel-in]` → AlarmReceiver(), alarmreceiver.conf), AlarmReceiver writes an event
file per message and runs `agi-bin/alarmgw-cid-forward`, which sends each event as an
ADM-CID frame. The first test sends them to the real gateway (its dc09 channel on the
forwarder's port): each event becomes its report, as a DC-09 panel's would. The others,
which make the gateway's side misbehave (down, dropping the link before its ACK, NAK,
DUH, silence), use `Receiver` below, a DC-09 receiver of the test's own that can be told
to do so: a real gateway does not drop an ACK on purpose. A call with two events takes
~20 s. Where Asterisk cannot run the tests skip with the reason;
`ALARMGW_REQUIRE_ASTERISK=1` turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.peers.ami import AmiSession
from tests.peers.asterisk import CHROOT, Asterisk, available
from tests.peers.cidpanel import PANEL_NUMBER, bad_checksum, contact_id, panel_call, use_panel
from tests.peers.gateway import GatewayProcess, channel_gateway, db, free_port, wait_for

SPOOL = "/var/spool/asterisk/alarmreceiver"
FORWARD_LOG = "/var/log/asterisk/alarmgw-cid-forward.log"
FORWARDER = "/usr/share/asterisk/agi-bin/alarmgw-cid-forward"


# -- a receiver that misbehaves on purpose ------------------------------------------------
# For the faults a real gateway cannot be made to produce on demand (an ACK lost after the
# store, a NAK, a DUH, silence, a port going down and up between two calls). What the
# tests require of what arrived is in one place, `assert_arrived`.


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC, written again here so that the forwarder's is checked, not trusted."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


FRAME = re.compile(
    rb"\n(?P<crc>[0-9A-F]{4})0(?P<len>[0-9A-F]{3})"
    rb'(?P<body>"(?P<token>ADM-CID)"(?P<seq>\d{4})(?:R(?P<rcvr>[0-9A-F]{1,6}))?'
    rb"L(?P<line>[0-9A-F]{1,6})#(?P<acct>[0-9A-F]{3,16})"
    rb"\[#(?P<acct2>[0-9A-F]{3,16})\|(?P<q>\d)(?P<code>\d{3}) (?P<group>\d{2}) (?P<zone>\d{3})\]"
    rb"(?P<xdata>(?:\[[^\[\]\r]*\])*))\r"
)


@dataclass
class Frame:
    raw: bytes
    seq: str
    receiver: str
    line: str
    account: str
    qualifier: str
    code: str
    group: str
    zone: str
    xdata: list[str]
    acked: bool = False

    @property
    def event(self) -> tuple[str, str, str, str, str]:
        return (self.account, self.qualifier, self.code, self.group, self.zone)

    @property
    def key(self) -> tuple[str, str, str, str, bytes]:
        """What the gateway recognises a retry by: receiver, line, account, sequence, data."""
        return (self.receiver, self.line, self.account, self.seq, self.raw[self.raw.index(b"[") :])


def parse_frame(raw: bytes) -> Frame:
    m = FRAME.fullmatch(raw)
    assert m, f"not an unencrypted ADM-CID frame without timestamp: {raw!r}"
    body = m.group("body")
    assert int(m.group("crc"), 16) == crc16_arc(body), raw
    assert int(m.group("len"), 16) == len(body), raw
    assert m.group("acct") == m.group("acct2"), raw
    return Frame(
        raw=raw,
        seq=m.group("seq").decode(),
        receiver=(m.group("rcvr") or b"").decode(),
        line=m.group("line").decode(),
        account=m.group("acct").decode(),
        qualifier=m.group("q").decode(),
        code=m.group("code").decode(),
        group=m.group("group").decode(),
        zone=m.group("zone").decode(),
        xdata=re.findall(r"\[([^\]]*)\]", m.group("xdata").decode()),
    )


def response(token: str, frame: Frame | None) -> bytes:
    """A DC-09 answer (ACK / NAK / DUH) to `frame`, with the CRC and length."""
    if frame is None or token == "NAK":
        body = f'"{token}"0000R0L0A0[]'
    else:
        rcvr = f"R{frame.receiver}" if frame.receiver else ""
        body = f'"{token}"{frame.seq}{rcvr}L{frame.line}#{frame.account}[]'
    raw = body.encode()
    return b"\n" + f"{crc16_arc(raw):04X}0{len(raw):03X}".encode() + raw + b"\r"


class Receiver:
    """A DC-09 receiver on TCP: records every frame and answers as `mode` says:

    ack      ACK with the frame's sequence, receiver, line and account (after storing)
    nak      NAK;  duh: DUH
    swallow  no answer, the connection closed (the frame may or may not have been stored)
    silent   no answer, the connection left open
    wrongseq an ACK of another sequence number

    `down()` closes the port (connection refused), `up()` opens it again, on the same port.
    `modes`, when set, gives the mode of each frame in turn before `mode` applies."""

    def __init__(self, port: int | None = None, mode: str = "ack") -> None:
        self.port = port or free_port()
        self.mode = mode
        self.modes: list[str] = []
        self.frames: list[Frame] = []
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []

    def up(self) -> Receiver:
        if self._server is None:
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", self.port))
            server.listen(16)
            server.settimeout(0.2)
            self._server = server
            t = threading.Thread(target=self._accept, args=(server,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self._conns.clear()
        for t in self._threads:
            t.join(5)
        self._threads.clear()

    def _accept(self, server: socket.socket) -> None:
        while self._server is server:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while b"\r" in buf:
                    raw, buf = buf.split(b"\r", 1)
                    if not self._answer(conn, raw + b"\r"):
                        return
        except OSError:
            return
        finally:
            conn.close()

    def _answer(self, conn: socket.socket, raw: bytes) -> bool:
        try:
            frame = parse_frame(raw)
        except AssertionError as e:
            with self._cond:
                self.errors.append(str(e))
                self._cond.notify_all()
            conn.sendall(response("NAK", None))
            return True
        with self._cond:
            mode = self.modes.pop(0) if self.modes else self.mode
            frame.acked = mode == "ack"
            self.frames.append(frame)
            self._cond.notify_all()
        if mode in ("ack", "nak", "duh"):
            conn.sendall(response(mode.upper(), frame))
        elif mode == "wrongseq":
            other = f"{int(frame.seq) % 9999 + 1:04d}"
            conn.sendall(response("ACK", Frame(**{**frame.__dict__, "seq": other})))
        elif mode == "silent":
            return True
        return mode != "swallow"

    def acked(self) -> list[Frame]:
        with self._cond:
            return [f for f in self.frames if f.acked]

    def wait(self, what: Callable[[Receiver], bool], timeout: float, text: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not what(self):
                left = deadline - time.monotonic()
                assert left > 0, f"not within {timeout} s: {text}; got {self.frames}"
                self._cond.wait(left)

    def wait_acked(self, n: int, timeout: float) -> None:
        self.wait(lambda r: len([f for f in r.frames if f.acked]) >= n, timeout, f"{n} ACKed")


Event = tuple[str, str, str, str, str]  # account, qualifier, code, group, zone


def assert_arrived(receiver: Receiver, expected: Sequence[Event], *, line: str = "1") -> None:
    """What the gateway must have got: each expected event taken exactly once (one ACKed
    frame per event, none more), in the order sent; any frame it saw more than once
    (a retry of a frame it did not ACK) the same, byte for byte, so that the gateway
    recognises the retry; no frame it could not parse. To be switched to the real
    gateway: one report per event, with the account, qualifier, code, group and zone."""
    assert not receiver.errors, receiver.errors
    acked = receiver.acked()
    assert [f.event for f in acked] == list(expected), [f.raw for f in receiver.frames]
    assert len({f.key for f in acked}) == len(acked), "an event was ACKed twice"
    for frame in receiver.frames:
        same = [f for f in acked if f.event == frame.event]
        assert same and same[0].key == frame.key, (frame.raw, [f.raw for f in same])
        assert frame.line == line and frame.receiver == ""


# -- fixtures ---------------------------------------------------------------------------


def forwarder_pids() -> list[int]:
    """The forwarder runs in Asterisk's root (detached from Asterisk)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") != str(CHROOT):
                continue
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"alarmgw-cid-forward" in cmdline:
            pids.append(int(entry.name))
    return pids


def kill_forwarders() -> None:
    """SIGKILL every forwarder run, and wait until they are gone (and their locks with them)."""
    for pid in forwarder_pids():
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while forwarder_pids() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def receiver_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def asterisk(tmp_path_factory: pytest.TempPathFactory, receiver_port: int) -> Iterator[Asterisk]:
    reason = available()
    if reason:
        if os.environ.get("ALARMGW_REQUIRE_ASTERISK") == "1":
            pytest.fail(f"ALARMGW_REQUIRE_ASTERISK=1 but {reason}")
        pytest.skip(reason)
    ast = Asterisk(tmp_path_factory.mktemp("asterisk"))
    use_panel(ast)
    # The forwarder's target: the stand-in's port (its section's last value wins).
    ast.extra_config["alarmreceiver.conf"] = (
        f"[alarmgw-cid-forward]\ngateway = 127.0.0.1:{receiver_port}\n"
    )
    kill_forwarders()
    shutil.rmtree(ast.host_path(SPOOL), ignore_errors=True)
    ast.host_path(FORWARD_LOG).unlink(missing_ok=True)
    ast.start()
    yield ast
    kill_forwarders()
    ast.stop()


@pytest.fixture
def ami(asterisk: Asterisk) -> Iterator[AmiSession]:
    session = AmiSession(
        asterisk.ami_host, asterisk.ami_port, asterisk.ami_user, asterisk.ami_secret
    ).connect()
    yield session
    session.close()
    # Shown by pytest only when the test failed.
    print(asterisk.log_tail(120))
    log = asterisk.host_path(FORWARD_LOG)
    if log.exists():
        print(log.read_text(encoding="utf-8", errors="replace")[-4000:])
    # Known state: no call up, no forwarder left, an empty spool.
    kill_forwarders()
    if asterisk.running:
        asterisk.cli("channel request hangup all")
    shutil.rmtree(asterisk.host_path(SPOOL), ignore_errors=True)


@pytest.fixture
def receiver(receiver_port: int) -> Iterator[Receiver]:
    """The gateway's DC-09 port, where the forwarder sends; down until the test brings it up."""
    r = Receiver(receiver_port)
    yield r
    r.down()


def event_files(asterisk: Asterisk) -> list[Path]:
    spool = asterisk.host_path(SPOOL)
    return sorted(spool.glob("event-*")) if spool.exists() else []


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def forward_log(asterisk: Asterisk, since: int = 0) -> str:
    """The forwarder's log (from character `since` on: the module's tests share it)."""
    log = asterisk.host_path(FORWARD_LOG)
    return log.read_text(encoding="utf-8", errors="replace")[since:] if log.exists() else ""


def wait_refused(asterisk: Asterisk, since: int) -> None:
    """Until the forwarder run of the call just made found the gateway's port closed."""
    wait_until(
        lambda: "Connection refused" in forward_log(asterisk, since), 15, "a refused attempt"
    )


def call_panel(
    ami: AmiSession, messages: Sequence[str], *, caller: str, dtmf: str = "rfc4733"
) -> list[dict[str, str]]:
    """A panel's call with `messages`; returns its per-message events once it hung up."""
    mark = ami.mark()
    panel_call(ami, messages, caller=caller, dtmf=dtmf)
    called = ami.wait_event("UserEvent", 20, since=mark, UserEvent="AlarmgwPanel")
    assert called["Called"] == PANEL_NUMBER and called["Context"] == "alarm-panel-in"
    ami.wait_event("UserEvent", 30, since=mark, UserEvent="AlarmgwTestPanel", Step="handshake")
    ami.wait_event("UserEvent", 120, since=mark, UserEvent="AlarmgwTestPanel", Step="done")
    return [
        m
        for m in ami.messages[mark:]
        if m.get("UserEvent") == "AlarmgwTestPanel" and m.get("Step") == "message"
    ]


def retry_by_hand() -> subprocess.CompletedProcess[str]:
    """`alarmgw-cid-forward --retry`, as cron would run it in Asterisk's root."""
    return subprocess.run(
        ["chroot", str(CHROOT), FORWARDER, "--retry"], capture_output=True, text=True, timeout=60
    )


BURGLARY = ("1234", "1", "130", "01", "015")  # new burglary alarm, group 1, zone 15
FIRE = ("1234", "1", "110", "01", "003")  # new fire alarm, zone 3
RESTORE = ("1234", "3", "130", "01", "015")  # the burglary zone restored


# -- tests ------------------------------------------------------------------------------


def test_panel_events_become_reports_of_the_real_gateway(
    asterisk: Asterisk, ami: AmiSession, receiver_port: int, tmp_path: Path
) -> None:
    """The real gateway, its dc09 channel on the forwarder's port and the premises 1234 in
    its registry: a burglary and a fire by phone line become two incidents at the
    premises (criminal and fire, priority 1), Contact ID in their extra; the restoral of
    the burglary's zone joins its incident."""
    gw = channel_gateway(tmp_path, "dc09", port=receiver_port)
    csv = tmp_path / "premises.csv"
    csv.write_text(
        "account,name,address,lat,lon,unit,zones\n"
        '1234,示例储蓄所,南坝路66号,24.975,102.64,530102510000,"3:后门, 15:金库"\n',
        encoding="utf-8",
    )
    gw.cli("targets", "import", str(csv))
    gw.start()
    try:
        call_panel(ami, [contact_id(*BURGLARY), contact_id(*FIRE)], caller="02887650100")
        got = wait_for("two reports", lambda: (r := dc09_reports(gw))[1:] and r, timeout=60)
        burglary, fire = got
        assert (burglary["category"], burglary["priority"]) == ("criminal", 1)
        assert "示例储蓄所" in burglary["summary"] and "15号防区 金库" in burglary["summary"]
        assert burglary["doc"]["extra"]["protocol"] == "CID"
        assert (fire["category"], fire["priority"]) == ("fire", 1)
        assert "3号防区 后门" in fire["summary"]
        call_panel(ami, [contact_id(*RESTORE)], caller="02887650100")
        got = wait_for("the restoral", lambda: (r := dc09_reports(gw))[2:] and r, timeout=60)
        assert got[2]["number"] == burglary["number"] and got[2]["doc"]["follow_up"]
        wait_until(lambda: not forwarder_pids(), 15, "the forwarder finished")
        assert event_files(asterisk) == []
    finally:
        assert gw.stop() == 0


def dc09_reports(gw: GatewayProcess) -> list[dict[str, Any]]:
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT r.doc, i.number, i.category, i.priority, i.summary FROM reports r "
            "JOIN incidents i ON i.id = r.incident_id WHERE r.channel = 'dc09' ORDER BY r.id"
        ).fetchall()
    return [{**dict(r), "doc": json.loads(r["doc"])} for r in rows]


@pytest.mark.parametrize("dtmf", ["rfc4733", "inband"])
def test_panel_events_reach_the_gateway(
    asterisk: Asterisk, ami: AmiSession, receiver: Receiver, dtmf: str
) -> None:
    """A burglary and a fire, with a garbled message between them: AlarmReceiver kisses
    off the two good ones (and writes them), not the garbled one (which it writes nowhere);
    the forwarder delivers the two, each once, and removes their files."""
    receiver.up()
    burglary, fire = contact_id(*BURGLARY), contact_id(*FIRE)
    garbled = bad_checksum(contact_id("1234", "1", "120", "01", "007"))
    started = datetime.now(UTC)
    since, full_since = len(forward_log(asterisk)), asterisk.full_log.stat().st_size
    steps = call_panel(ami, [burglary, garbled, fire], caller="02887654321", dtmf=dtmf)
    kissoffs = [(s["Message"], s["Kissoff"]) for s in steps]
    assert kissoffs == [
        (burglary, "yes"),
        (garbled, "no"),
        (garbled, "no"),  # the panel tried again
        (fire, "yes"),
    ], kissoffs

    receiver.wait_acked(2, timeout=30)
    wait_until(lambda: not forwarder_pids(), 15, "the forwarder finished")
    assert_arrived(receiver, [BURGLARY, FIRE])
    assert event_files(asterisk) == []
    assert not asterisk.host_path(f"{SPOOL}/rejected").exists()
    # [H...]: when AlarmReceiver wrote the event (DC-09 time of occurrence, UTC).
    for frame in receiver.acked():
        (h,) = frame.xdata
        when = datetime.strptime(h, "H%H:%M:%S,%m-%d-%Y").replace(tzinfo=UTC)
        assert started - timedelta(seconds=2) <= when <= datetime.now(UTC), h
    log = forward_log(asterisk, since)
    assert "#1234 1130 (new) group 01 zone 015 from 02887654321" in log
    assert "#1234 1110 (new) group 01 zone 003 from 02887654321" in log
    with open(asterisk.full_log, "rb") as f:
        f.seek(full_since)
        full = f.read().decode("utf-8", "replace")
    assert full.count(f"AlarmReceiver: Received Event {garbled}") == 2
    assert full.count("AlarmReceiver: Nonzero checksum") == 2


def test_gateway_down_when_the_call_ends(
    asterisk: Asterisk, ami: AmiSession, receiver: Receiver
) -> None:
    """The gateway's port is closed when the panel hangs up: the event file stays, the
    forwarder tries again on its own and delivers once the gateway is back, once."""
    since = len(forward_log(asterisk))
    call_panel(ami, [contact_id(*BURGLARY)], caller="02887650001")
    wait_refused(asterisk, since)
    files = event_files(asterisk)
    assert len(files) == 1
    assert forwarder_pids(), "the forwarder gave up at once"
    time.sleep(3)
    assert event_files(asterisk) == files and not receiver.frames

    receiver.up()
    receiver.wait_acked(1, timeout=40)
    wait_until(lambda: not forwarder_pids(), 15, "the forwarder finished")
    assert_arrived(receiver, [BURGLARY])
    assert event_files(asterisk) == []


def test_unacknowledged_frame_is_sent_again(
    asterisk: Asterisk, ami: AmiSession, receiver: Receiver
) -> None:
    """The gateway takes the frame but the connection drops before its ACK: the file
    stays, the same frame (same sequence number) comes again, and is ACKed once."""
    receiver.modes = ["swallow"]
    receiver.up()
    call_panel(ami, [contact_id(*RESTORE)], caller="02887650002")
    receiver.wait_acked(1, timeout=40)
    wait_until(lambda: not forwarder_pids(), 15, "the forwarder finished")
    assert [f.acked for f in receiver.frames] == [False, True]
    assert receiver.frames[0].raw == receiver.frames[1].raw
    assert_arrived(receiver, [RESTORE])
    assert event_files(asterisk) == []


def test_left_events_go_by_hand_and_with_the_next_call(
    asterisk: Asterisk, ami: AmiSession, receiver: Receiver
) -> None:
    """An event whose forwarder gave up (here: killed) waits in the spool; `--retry` while
    the gateway is down leaves it there (exit status 1); the next panel's call delivers
    it, oldest first, with its own; `--retry` then has nothing to do."""
    since = len(forward_log(asterisk))
    call_panel(ami, [contact_id(*FIRE)], caller="02887650003")
    wait_refused(asterisk, since)
    kill_forwarders()
    (left,) = event_files(asterisk)
    out = retry_by_hand()
    assert out.returncode == 1, out.stderr
    assert "Connection refused" in out.stderr
    assert event_files(asterisk) == [left]

    receiver.up()
    call_panel(ami, [contact_id(*BURGLARY)], caller="02887650004")
    receiver.wait_acked(2, timeout=30)
    wait_until(lambda: not forwarder_pids(), 15, "the forwarder finished")
    assert_arrived(receiver, [FIRE, BURGLARY])
    assert event_files(asterisk) == []
    out = retry_by_hand()
    assert out.returncode == 0, out.stderr
    assert len(receiver.frames) == 2


def test_a_caller_who_sends_nothing_is_hung_up(
    asterisk: Asterisk, ami: AmiSession, receiver: Receiver
) -> None:
    """ALARMGW_PANEL_MAX_CALL bounds a call to the panel line (here 4 s): a caller who
    sends no digit is hung up on, and nothing is written or forwarded."""
    asterisk.set_global("ALARMGW_PANEL_MAX_CALL", "4")
    try:
        mark = ami.mark()
        res = ami.action(
            "Originate",
            Channel=f"PJSIP/{PANEL_NUMBER}@faxloop",
            Application="Wait",
            Data="30",
            CallerID='"silent" <02887650005>',
            Async="true",
        )
        assert res["Response"] == "Success", res
        called = ami.wait_event("UserEvent", 20, since=mark, UserEvent="AlarmgwPanel")
        started = time.monotonic()
        ami.wait_event("Hangup", 15, since=mark, Uniqueid=called["Uniqueid"])
        assert 3 <= time.monotonic() - started <= 8
    finally:
        asterisk.set_global("ALARMGW_PANEL_MAX_CALL", "300")
    time.sleep(1)
    assert event_files(asterisk) == [] and not forwarder_pids() and not receiver.frames
