"""The Contact ID forwarder (asterisk/agi-bin/alarmgw-cid-forward) without Asterisk: the
event files as AlarmReceiver writes them and as a hostile caller or a broken disk might
leave them, the DC-09 frame it makes, and what it does with each answer of the gateway
(stood in for by the `Receiver` of test_contact_id_asterisk.py)."""

from __future__ import annotations

import fcntl
import importlib.machinery
import importlib.util
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.channels.dc09.test_contact_id_asterisk import (
    BURGLARY,
    FIRE,
    Receiver,
    assert_arrived,
    parse_frame,
)
from tests.peers.cidpanel import bad_checksum, contact_id
from tests.peers.gateway import ROOT

SCRIPT = ROOT / "asterisk/agi-bin/alarmgw-cid-forward"


def load_forwarder() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("alarmgw_cid_forward", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


fwd = load_forwarder()


def grouped(*events: str, caller: str = "02887654321", stamp: str = "") -> bytes:
    """An event file exactly as AlarmReceiver writes it (write_metadata, write_event)."""
    stamp = stamp or "2026-03-14 09:15:02 +0800"
    return (
        "\n\n[metadata]\n\nPROTOCOL=ADEMCO_CONTACT_ID\nCHECKSUM=yes\n"
        f"CALLINGFROM={caller}\nCALLERNAME=panel\nTIMESTAMP={stamp}\n\n[events]\n\n"
        + "".join(f"{e}\n" for e in events)
    ).encode()


def ungrouped(*events: str) -> bytes:
    """The same with alarmreceiver.conf no_group_meta = yes."""
    return (
        "PROTOCOL=ADEMCO_CONTACT_ID\nCHECKSUM=yes\nCALLINGFROM=02887654321\n"
        "CALLERNAME=panel\nTIMESTAMP=2026-03-14 09:15:02 +0800\n\n"
        + "".join(f"event={e}\n" for e in events)
    ).encode()


B, F = contact_id(*BURGLARY), contact_id(*FIRE)


@pytest.fixture(autouse=True)
def no_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fwd, "SETTLE", 0.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.down()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "alarmreceiver"
    path.mkdir()
    return path


def settings_for(spool: Path, receiver: Receiver, /, **more: str) -> object:
    values = {
        **fwd.DEFAULTS,
        "eventspooldir": str(spool),
        "gateway": f"127.0.0.1:{receiver.port}",
        "timeout": "2",
        **more,
    }
    return fwd.Settings(values)


def put(spool: Path, name: str, data: bytes, age: float = 0.0) -> Path:
    path = spool / name
    path.write_bytes(data)
    if age:
        t = time.time() - age
        os.utime(path, (t, t))
    return path


# -- the frame --------------------------------------------------------------------------


def test_crc_is_crc16_arc() -> None:
    assert fwd.crc16_arc(b"123456789") == 0xBB3D  # the catalogue's check value


def test_the_frame_of_an_event(spool: Path, receiver: Receiver) -> None:
    ef = fwd.parse_event_file("event-AbC123", grouped(B))
    (event,) = ef.events
    data, seq = fwd.frame(settings_for(spool, receiver), ef, event)
    body = f'"ADM-CID"{seq}L1#1234[#1234|1130 01 015][H01:15:02,03-14-2026]'
    crc = fwd.crc16_arc(body.encode())
    assert data == f"\n{crc:04X}0{len(body):03X}{body}\r".encode()
    # The example of asterisk/README.md.
    assert data == b'\nED71003D"ADM-CID"1005L1#1234[#1234|1130 01 015][H01:15:02,03-14-2026]\r'
    frame = parse_frame(data)
    assert frame.event == BURGLARY and frame.xdata == ["H01:15:02,03-14-2026"]
    # The same event gives the same frame on every run; another file another sequence.
    again = fwd.parse_event_file("event-AbC123", grouped(B))
    assert fwd.frame(settings_for(spool, receiver), again, again.events[0]) == (data, seq)
    other = fwd.parse_event_file("event-XyZ789", grouped(B))
    assert fwd.frame(settings_for(spool, receiver), other, other.events[0])[1] != seq


def test_pysiaalarm_reads_the_frame(spool: Path, receiver: Receiver) -> None:
    """The gateway reads DC-09 with pysiaalarm's parser (DESIGN.md): it takes the frame,
    [H...] included (it would not take a second extended data block)."""
    pysia = pytest.importorskip("pysiaalarm")
    from pysiaalarm.event import SIAEvent

    ef = fwd.parse_event_file("event-AbC123", grouped(F))
    data, seq = fwd.frame(settings_for(spool, receiver, receiver="12"), ef, ef.events[0])
    event = SIAEvent.from_line(data.strip(b"\n\r").decode(), {"1234": pysia.SIAAccount("1234")})
    assert event.valid_message
    assert (event.sequence, event.receiver, event.line, event.account) == (seq, "R12", "L1", "1234")
    assert (event.event_qualifier, event.event_type, event.partition, event.ri) == (
        "1",
        "110",
        "01",
        "003",
    )
    assert event.code == "FA"  # fire alarm
    assert [x.identifier for x in event.extended_data or []] == ["H"]


def test_acks_as_a_receiver_sends_them() -> None:
    """An ACK may carry the receiver's time (the gateway's does); it must be the ACK of this
    frame, whole and intact."""
    ack = b'\nD1BB0026"ACK"1005L1#1234[]_06:51:07,11-26-2026\r'
    assert fwd.check_ack(ack, "1005", "1234")
    assert fwd.check_ack(fwd.wrap('"ACK"1005L1#1234[]'), "1005", "1234")
    cases = [
        (ack.replace(b"D1BB", b"D1BC"), "1005", "1234", "bad CRC"),
        (ack.replace(b"1005", b"1006"), "1006", "1234", "bad CRC"),
        (ack, "1006", "1234", "ACK of sequence 1005, not 1006"),
        (ack, "1005", "5678", "account 1234, not 5678"),
        (fwd.wrap('"NAK"0000R0L0A0[]_06:51:07,11-26-2026'), "1005", "1234", "NAK"),
        (fwd.wrap('"DUH"1005L1#1234[]'), "1005", "1234", "DUH"),
        (b"OK\r", "1005", "1234", "not a DC-09 answer"),
    ]
    for answer, seq, account, why in cases:
        with pytest.raises(fwd.Refused, match=why):
            fwd.check_ack(answer, seq, account)


def test_without_time_of_occurrence(spool: Path, receiver: Receiver) -> None:
    ef = fwd.parse_event_file("event-AbC123", grouped(B, stamp="Sat Mar 14, 2026 @ 09:15"))
    data, _ = fwd.frame(settings_for(spool, receiver), ef, ef.events[0])
    assert parse_frame(data).xdata == []  # a TIMESTAMP it cannot read: no [H...]
    ef = fwd.parse_event_file("event-AbC123", grouped(B, stamp="0001-01-01 00:00:00 +0100"))
    data, _ = fwd.frame(settings_for(spool, receiver), ef, ef.events[0])
    assert parse_frame(data).xdata == []
    ef = fwd.parse_event_file("event-AbC123", grouped(B))
    data, _ = fwd.frame(settings_for(spool, receiver, time_of_occurrence="no"), ef, ef.events[0])
    assert parse_frame(data).xdata == []


def test_hex_account_digits() -> None:
    """Contact ID sends an account's hex digits B-F as DTMF * # A B C."""
    (event,) = fwd.parse_event_file("event-AbC123", grouped(contact_id("*#AB", *FIRE[1:]))).events
    assert event.account == "BCDE"


# -- what is in the files ---------------------------------------------------------------

CASES = [
    # (what, file bytes, events forwarded, where the file ends up)
    ("as AlarmReceiver writes it", grouped(B, F), [BURGLARY, FIRE], "deleted"),
    ("no_group_meta = yes", ungrouped(F), [FIRE], "deleted"),
    ("no event at all", grouped(), [], "deleted"),
    ("a wrong checksum digit", grouped(B, bad_checksum(F)), [BURGLARY], "rejected"),
    ("a DTMF D", grouped(B[:-1] + "D"), [], "rejected"),
    ("15 digits", grouped(B[:-1]), [], "rejected"),
    ("17 digits", grouped(B + "0"), [], "rejected"),
    ("Arabic-Indic digits", grouped("١٢٣٤١٨١١٣٠٠١٠١٥٦"), [], "rejected"),
    ("qualifier 2", grouped(contact_id("1234", "2", "130", "01", "015")), [], "rejected"),
    ("message type 17", grouped(contact_id("1234", "1", "130", "01", "015", kind="17")), [], "rejected"),  # noqa: E501
    ("a * in the zone", grouped(contact_id("1234", "1", "130", "01", "01*")), [], "rejected"),
    ("a # in the code", grouped(contact_id("1234", "1", "1#0", "01", "015")), [], "rejected"),
    ("metadata among the events", grouped(B) + b"TIMESTAMP=2020-01-01 00:00:00 +0000\n", [BURGLARY], "rejected"),  # noqa: E501
    ("a second [events] block", grouped(B) + b"\n[events]\n" + F.encode() + b"\n", [BURGLARY, FIRE], "deleted"),  # noqa: E501
    ("another protocol", grouped(B).replace(b"ADEMCO_CONTACT_ID", b"ADEMCO_EXPRESS_4_1"), [], "rejected"),  # noqa: E501
    ("no metadata", (B + "\n").encode(), [], "rejected"),
    ("empty", b"", [], "rejected"),
    ("binary", grouped(B) + b"\0\xff\xfe", [], "rejected"),
    ("huge", grouped(B) + (F + "\n").encode() * 70000, [], "rejected"),
    ("huge line", grouped(B) + b"9" * (1 << 20) + b"\n", [], "rejected"),
    ("not UTF-8", grouped(B, caller="XX").replace(b"XX", b"\xff\xfe"), [BURGLARY], "deleted"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "data", "forwarded", "fate"), CASES, ids=[c[0] for c in CASES])
def test_event_files(
    spool: Path,
    receiver: Receiver,
    what: str,
    data: bytes,
    forwarded: list[tuple[str, str, str, str, str]],
    fate: str,
) -> None:
    receiver.up()
    put(spool, "event-AbC123", data)
    assert fwd.forward(settings_for(spool, receiver)) == 0
    assert_arrived(receiver, forwarded)
    assert not (spool / "event-AbC123").exists()
    assert (spool / "rejected" / "event-AbC123").exists() == (fate == "rejected")


def test_a_hostile_caller_id_stays_out_of_the_frame_and_the_log(
    spool: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    caller = "\x1b[31m;$(reboot)`id`|\x07" + "9" * 200
    receiver.up()
    put(spool, "event-AbC123", grouped(B, caller=caller))
    assert fwd.forward(settings_for(spool, receiver)) == 0
    assert_arrived(receiver, [BURGLARY])
    assert b"reboot" not in receiver.frames[0].raw
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "9" * 40 not in err
    assert "?[31m;$(reboot)`id`|?" in err


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=600)
    | st.text(alphabet="0123456789*#ABCD=[]\n metadaPROTCL_", max_size=400).map(str.encode)
)  # noqa: E501
def test_any_bytes_parse_without_harm(data: bytes) -> None:
    """Whatever a file holds: no exception, and only valid Contact ID messages come out."""
    for prefix in (b"", grouped()):
        ef = fwd.parse_event_file("event-AbC123", prefix + data)
        for event in ef.events:
            assert fwd.contact_id_problem(event.digits) is None
            assert event.account.isalnum() and event.code.isdigit() and event.zone.isdigit()


def test_only_event_files_are_read(spool: Path, receiver: Receiver, tmp_path: Path) -> None:
    receiver.up()
    secret = tmp_path / "secret"
    secret.write_bytes(grouped(B))
    (spool / "event-Link01").symlink_to(secret)
    put(spool, "notes.txt", grouped(B))
    put(spool, "event-toolong1", grouped(B))
    (spool / "event-Dir001").mkdir()
    assert fwd.forward(settings_for(spool, receiver)) == 0
    assert receiver.frames == [] and secret.exists()


def test_a_file_just_written_is_given_time(
    spool: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AlarmReceiver creates the file, then writes it: one younger than SETTLE is read
    only once it is that old."""
    monkeypatch.setattr(fwd, "SETTLE", 0.5)
    receiver.up()
    put(spool, "event-AbC123", grouped(B))
    started = time.monotonic()
    assert fwd.forward(settings_for(spool, receiver)) == 0
    assert time.monotonic() - started >= 0.4
    assert_arrived(receiver, [BURGLARY])


# -- the gateway's answers --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["nak", "duh", "wrongseq", "silent", "swallow"])
def test_no_ack_keeps_the_file(spool: Path, receiver: Receiver, mode: str) -> None:
    """A NAK, a DUH, the ACK of another frame, no answer, a dropped connection: the file
    stays; the next run sends the very same frame, and after the ACK the file goes."""
    receiver.mode = mode
    receiver.up()
    path = put(spool, "event-AbC123", grouped(B), age=60)
    settings = settings_for(spool, receiver, timeout="1")
    assert fwd.forward(settings) == 1
    assert path.exists() and len(receiver.frames) >= 1
    receiver.mode = "ack"
    assert fwd.forward(settings) == 0
    assert not path.exists()
    assert_arrived(receiver, [BURGLARY])


def test_gateway_down_keeps_everything_in_order(spool: Path, receiver: Receiver) -> None:
    """No connection: nothing is lost, and a later run delivers the oldest file first."""
    put(spool, "event-Second", grouped(F), age=10)
    put(spool, "event-First1", grouped(B), age=20)
    settings = settings_for(spool, receiver)
    assert fwd.forward(settings) == 2
    assert len(list(spool.iterdir())) == 2
    receiver.up()
    assert fwd.forward(settings) == 0
    assert_arrived(receiver, [BURGLARY, FIRE])
    assert list(spool.iterdir()) == []


def test_a_connection_dropped_between_frames_is_reopened(spool: Path, receiver: Receiver) -> None:
    """The gateway drops the connection on the second frame (it may have stored it): the
    forwarder reconnects once and sends the frame again, in the same run."""
    receiver.modes = ["ack", "swallow"]
    receiver.up()
    put(spool, "event-AbC123", grouped(B, F))
    assert fwd.forward(settings_for(spool, receiver)) == 0
    assert [f.acked for f in receiver.frames] == [True, False, True]
    assert_arrived(receiver, [BURGLARY, FIRE])


def test_a_refused_event_does_not_hold_up_the_others(spool: Path, receiver: Receiver) -> None:
    receiver.modes = ["duh"]
    receiver.up()
    refused = put(spool, "event-First1", grouped(B), age=20)
    put(spool, "event-Second", grouped(F), age=10)
    assert fwd.forward(settings_for(spool, receiver)) == 1
    assert refused.exists() and not (spool / "event-Second").exists()
    assert [f.event for f in receiver.acked()] == [FIRE]


def test_a_file_another_run_holds_is_left_to_it(spool: Path, receiver: Receiver) -> None:
    receiver.up()
    path = put(spool, "event-AbC123", grouped(B))
    with open(path, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert fwd.forward(settings_for(spool, receiver)) == 0
        assert path.exists() and receiver.frames == []


# -- the command and its configuration --------------------------------------------------


def test_the_shipped_configuration() -> None:
    values = fwd.read_config(str(ROOT / "asterisk/alarmreceiver.conf"))
    settings = fwd.Settings(values)
    assert settings.spool == "/var/spool/asterisk/alarmreceiver"
    assert settings.gateway == ("127.0.0.1", 9009)
    assert (settings.receiver, settings.line, settings.time_of_occurrence) == ("", "1", True)
    assert settings.retry[:3] == [2.0, 4.0, 8.0] and sum(settings.retry) > 1500


def test_a_later_value_wins(tmp_path: Path) -> None:
    conf = tmp_path / "alarmreceiver.conf"
    shipped = (ROOT / "asterisk/alarmreceiver.conf").read_text(encoding="utf-8")
    conf.write_text(
        shipped + "\n[alarmgw-cid-forward]\ngateway => 10.0.0.9:7000 ; the test's\nline = 2A\\;\n",
        encoding="utf-8",
    )
    values = fwd.read_config(str(conf))
    assert values["gateway"] == "10.0.0.9:7000" and values["line"] == "2A;"
    with pytest.raises(ValueError, match="line"):
        fwd.Settings(values)


def test_retry_command(spool: Path, receiver: Receiver, tmp_path: Path) -> None:
    conf = tmp_path / "alarmreceiver.conf"
    conf.write_text(
        f"[general]\neventspooldir = {spool}\n[alarmgw-cid-forward]\n"
        f"gateway = 127.0.0.1:{receiver.port}\ntimeout = 2\n",
        encoding="utf-8",
    )
    put(spool, "event-AbC123", grouped(B))
    assert fwd.main(["alarmgw-cid-forward", "--retry", "--config", str(conf)]) == 1
    receiver.up()
    assert fwd.main(["alarmgw-cid-forward", "--retry", "--config", str(conf)]) == 0
    assert_arrived(receiver, [BURGLARY])
    assert fwd.main(["alarmgw-cid-forward", "--bogus"]) == 2
