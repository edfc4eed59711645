"""The JT/T 808 wire (gateway/channels/jt808/frame.py): every published frame we could find,
round trips of what we write, the stream decoder's framing, and fuzzing.

A vehicle's SOS arrives as one of these frames: a frame that does not add up must come back
as a `FrameError` whose kind and header let the service answer the terminal, never as an
IndexError or a UnicodeDecodeError that would drop the link without an answer.
"""

from __future__ import annotations

import functools
import operator
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.channels.jt808 import frame
from gateway.channels.jt808.frame import (
    ALARM_BITS,
    CHINA_TIME,
    Decoder,
    FrameError,
    Message,
    Position,
    Register,
)
from tests.channels.jt808.vectors import NOT_JT808, TRACCAR, YEZHIHAO, Vector

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PHONE = bytes.fromhex("013912345678")
PHONE_2019 = bytes.fromhex("00000000013912345678")
T = datetime(2024, 5, 13, 3, 20, 18, tzinfo=UTC)

ACCEPTED = [v for v in TRACCAR if v.refused is None]
REFUSED = [v for v in TRACCAR if v.refused is not None]


def by_line(line: int) -> Vector:
    (v,) = [v for v in TRACCAR if v.line == line]
    return v


def one(data: bytes) -> Message:
    """The only message of a frame, read through the stream decoder and `decode` alike."""
    (item,) = Decoder().feed(data)
    assert isinstance(item, Message), item
    assert frame.decode(data) == item
    return item


def positions(msg: Message) -> list[Position]:
    if msg.header.msg_id == frame.POSITION:
        return [frame.decode_position(msg.body)]
    if msg.header.msg_id == frame.BATCH:
        return frame.decode_batch(msg.body)[1]
    return []


def with_checksum(raw: bytes) -> bytes:
    """A published (unescaped) frame with its checksum recomputed."""
    content = raw[1:-2]
    return b"\x7e" + frame.escape(content + bytes([frame.checksum(content)])) + b"\x7e"


# --- Traccar's frames ------------------------------------------------------------------------


def test_all_of_traccars_frames_are_here() -> None:
    assert len(TRACCAR) == 111
    assert len({v.line for v in TRACCAR}) == 111
    assert {v.refused for v in REFUSED} == {"checksum", "length", "unsupported"}
    # 4 fail their checksum upstream (142 is also a vendor's e-lock message 0x5501), 6 more
    # are that vendor's messages (one-byte serial), 1 announces a wrong body length.
    assert [v.line for v in REFUSED if v.refused == "checksum"] == [142, 328, 409, 415]
    vendor = [v.line for v in REFUSED if v.hex[2:4] == "55"]
    assert vendor == [138, 142, 145, 183, 259, 271, 274]
    assert [v.line for v in REFUSED if v.line not in vendor] == [328, 409, 415, 425]


@pytest.mark.parametrize("v", ACCEPTED, ids=lambda v: f"line{v.line}")
def test_traccar_frame_decodes(v: Vector) -> None:
    msg = one(v.on_wire())
    h = msg.header
    assert h.encrypted == 0 and h.packet is None
    assert h.version in (None, 1)
    assert frame.encode(h.msg_id, h.phone_raw, h.serial, msg.body, h.version) == v.on_wire()
    if h.msg_id == frame.REGISTER:
        frame.decode_register(msg.body, h.version)
    elif h.msg_id == frame.AUTH:
        frame.decode_auth(msg.body, h.version)
    for p in positions(msg):
        assert p.time.tzinfo is UTC
        assert datetime(2013, 1, 1, tzinfo=UTC) < p.time < datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("v", REFUSED, ids=lambda v: f"line{v.line}")
def test_traccar_frame_refused(v: Vector) -> None:
    with pytest.raises(FrameError) as caught:
        frame.decode(v.on_wire())
    e = caught.value
    assert e.kind == v.refused
    # The header was read: the service can answer 0x8001 "message error" to that terminal.
    assert e.header is not None and e.msg_id == int(v.hex[2:6], 16)
    assert e.serial is not None and e.phone
    (streamed,) = Decoder().feed(v.on_wire())
    assert isinstance(streamed, FrameError) and streamed.kind == v.refused


@pytest.mark.parametrize("line", [409, 415])
def test_a_position_failing_its_checksum_upstream_parses_once_recomputed(line: int) -> None:
    msg = one(with_checksum(by_line(line).raw()))
    assert msg.header.msg_id == frame.POSITION
    frame.decode_position(msg.body)


def test_the_cut_position_failing_its_checksum_upstream() -> None:
    """Line 328 announces a 50-byte body and holds 40: cut after its checksum was written.
    With the checksum recomputed its length is refused; with the length set too it parses."""
    raw = by_line(328).raw()
    with pytest.raises(FrameError) as caught:
        frame.decode(with_checksum(raw))
    assert caught.value.kind == "length"
    fixed = raw[:3] + struct.pack(">H", 40) + raw[5:]
    p = frame.decode_position(one(with_checksum(fixed)).body)
    assert (p.lat, p.lon, p.satellites) == (22.51488, 113.916508, 11)  # 0x01578cc0 N


def test_the_vendor_frame_failing_its_checksum_is_then_unsupported() -> None:
    with pytest.raises(FrameError) as caught:
        frame.decode(with_checksum(by_line(142).raw()))
    assert caught.value.kind == "unsupported"


def test_the_frame_published_as_wire_bytes() -> None:
    v = by_line(232)
    assert v.wire and b"\x7d\x02" in v.raw()
    msg = one(v.on_wire())
    assert frame.decode_position(msg.body).time == datetime(2021, 11, 8, 11, 40, 50, tzinfo=UTC)
    # Read as Traccar's protocol decoder reads the others (already unescaped), it is wrong.
    with pytest.raises(FrameError) as caught:
        frame.decode(b"\x7e" + frame.escape(v.raw()[1:-1]) + b"\x7e")
    assert caught.value.kind == "checksum"


def test_the_frames_with_a_literal_7d_go_escaped_on_the_wire() -> None:
    literal = [v for v in ACCEPTED if b"\x7d" in v.raw()[1:-1] and not v.wire]
    assert {v.line for v in literal} == {163, 187, 203, 391, 397, 401, 405}
    for v in literal:
        assert b"\x7d\x01" in v.on_wire()
        with pytest.raises(FrameError):
            frame.decode(v.raw())  # unescaped bytes are not a frame


def test_traccar_position_read_by_hand() -> None:
    """Line 337: an SOS from a 2013 terminal near Southampton, checked byte by byte."""
    msg = one(by_line(337).on_wire())
    assert (msg.header.phone, msg.header.phone_raw.hex(), msg.header.serial) == (
        "94027587492",
        "094027587492",
        10,
    )
    p = frame.decode_position(msg.body)
    assert p.sos and p.alarms == ("紧急报警",)
    assert p.located and p.has_fix
    assert (p.lat, p.lon) == (50.871735, -1.255923)  # 0x03083db7 N, 0x001329f3 W
    assert (p.altitude_m, p.speed_kmh, p.heading) == (0, 2.0, 0)
    assert p.time == datetime(2013, 4, 12, 8, 49, 52, tzinfo=UTC)  # 130412164952 Beijing
    assert p.mileage_km == 1.8
    assert set(p.extras) == {0x01, 0x36}


def test_traccar_positions_south_and_north_by_the_status_bits() -> None:
    """Lines 310 and 313: the same Jakarta terminal, first not located with the south bit
    clear (so north, as the bits say), then located in the south."""
    first = frame.decode_position(one(by_line(310).on_wire()).body)
    second = frame.decode_position(one(by_line(313).on_wire()).body)
    assert not first.located and first.lat == 6.152695
    assert second.located and (second.lat, second.lon) == (-6.152508, 106.720475)
    assert second.time == datetime(2017, 1, 17, 2, 5, 42, tzinfo=UTC)
    assert (second.altitude_m, second.mileage_km, second.io_status) == (22, 4326.4, 0)
    assert (second.signal, second.satellites) == (27, 4)


@pytest.mark.parametrize(
    ("line", "satellites"),
    [
        (14, [14]),  # verifyAttribute KEY_SATELLITES, 14 (a 0x0704 batch)
        (33, [14]),  # the same, 2019
        (130, [7]),
        (61, [10, 10, 10, 10, 10, 11]),
    ],
)
def test_traccar_satellites(line: int, satellites: list[int]) -> None:
    assert [p.satellites for p in positions(one(by_line(line).on_wire()))] == satellites


def test_traccar_alarms_and_items() -> None:
    # KEY_ALARM low battery: bit 7 终端主电源欠压.
    (p,) = positions(one(by_line(224).on_wire()))
    assert p.alarm == 1 << 7 and p.alarms == ("终端主电源欠压",)
    # KEY_ALARM tampering: Traccar's reading of bits 16 and 17.
    (p,) = positions(one(by_line(244).on_wire()))
    assert p.alarm == 1 << 17
    # videoAlarm 4: the JT/T 1078 item 0x14.
    (p,) = positions(one(by_line(69).on_wire()))
    assert p.extras[0x14] == bytes.fromhex("00000004")
    assert one(by_line(33).on_wire()).header.version == 1
    assert one(by_line(364).on_wire()).header.phone == "0"  # an all-zero phone


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # JT/T 808-2011 layout (8-byte model), still sent.
        (221, Register(44, 303, "70111", "BSJ-M7B", "0000000", 1, "粤B88888")),
        (316, Register(44, 303, "70111", "BSJ-A6-BD", "0567872", 1, "粤B88888")),
        (319, Register(0, 0, "70107", "HB-R03GBD", "2366104", 2, "苏BA6860")),
        (322, Register(0, 0, "", "HB-R03GBD", "1906751", 2, "ABC00000")),
        # 2019, no plate.
        (30, Register(0, 0, "", "MD300", "866496077582164", 4, "")),
    ],
)
def test_traccar_registrations(line: int, expected: Register) -> None:
    msg = one(by_line(line).on_wire())
    assert frame.decode_register(msg.body, msg.header.version) == expected


def test_traccar_auth_and_heartbeat() -> None:
    auth = one(by_line(325).on_wire())
    assert frame.decode_auth(auth.body, None) == "authentication"
    assert frame.decode_auth(one(by_line(331).on_wire()).body, None) == "2011110811332196"
    beat = one(by_line(343).on_wire())
    assert (beat.header.msg_id, beat.header.phone, beat.header.serial) == (2, "43048325465", 183)
    assert beat.body == b""


def test_a_phone_that_is_not_bcd_is_read_as_an_imei() -> None:
    """Line 397 (a Jimi JC371): 4eb6fb4ad628 is a 48-bit number, the IMEI without its Luhn
    digit, as Traccar reads it."""
    h = one(by_line(397).on_wire()).header
    assert h.phone_raw.hex() == "4eb6fb4ad628"
    assert h.phone == str(0x4EB6FB4AD628) + "7" == "865478070001047"
    doubled = [int(c) * (1 + i % 2) for i, c in enumerate(reversed(h.phone))]
    assert sum(d // 10 + d % 10 for d in doubled) % 10 == 0  # a valid Luhn number


def test_every_published_position_is_rebuilt_byte_for_byte() -> None:
    count = 0
    for v in ACCEPTED:
        for p in positions(one(v.on_wire())):
            rebuilt = frame.position_body(
                p.alarm,
                p.status,
                p.lat,
                p.lon,
                p.altitude_m,
                p.speed_kmh,
                p.heading,
                p.time,
                p.extras,
            )
            assert frame.decode_position(rebuilt + p.unparsed) == p
            if v.line != 252:  # it repeats an empty item 0x00 four times
                msg = one(v.on_wire())
                if msg.header.msg_id == frame.POSITION:
                    assert rebuilt + p.unparsed == msg.body
            count += 1
    assert count > 80


def test_not_jt808_text_between_frames_is_refused_and_the_stream_goes_on() -> None:
    good = by_line(313).on_wire()
    for text in NOT_JT808:
        items = Decoder().feed(text + good)
        assert isinstance(items[0], FrameError)
        assert isinstance(items[1], Message) and items[1].header.serial == 3


# --- yezhihao/jt808-server's frames: both editions, and our answers compared with theirs ---


def test_yezhihao_frames_decode() -> None:
    for p in YEZHIHAO:
        msg = one(p.on_wire())
        assert (msg.header.version is None) == ("2013" in p.what)


def test_yezhihao_registrations_both_editions() -> None:
    old = one(YEZHIHAO[2].on_wire())
    new = one(YEZHIHAO[3].on_wire())
    assert old.header.version is None and new.header.version == 1
    assert new.header.phone == "12345678901234567890"
    assert frame.decode_register(old.body, None) == Register(
        31, 115, "yzh", "www.jtt808.cn", "7654321", 1, "测A888888"
    )
    assert frame.decode_register(new.body, 1) == Register(
        31, 115, "yzh", "www.jtt808.cn", "09876543210987654321", 1, "测A888888"
    )


def test_yezhihao_auth_both_editions() -> None:
    assert frame.decode_auth(one(YEZHIHAO[4].on_wire()).body, None) == "abc@123&456"
    msg = one(YEZHIHAO[5].on_wire())
    code = "pmYGzGukO8K4Z5lpIOTg8dqb3eprYaHBbXSPLtdbyG8="
    assert frame.decode_auth(msg.body, 1) == code
    rebuilt = frame.auth_body(code, 1, imei="123456789012345", software="")
    assert rebuilt[:60] == msg.body[:60]  # (their software version is right-aligned)


def test_yezhihao_position_and_its_additional_items() -> None:
    for p in (YEZHIHAO[6], YEZHIHAO[7]):
        msg = one(p.on_wire())
        pos = frame.decode_position(msg.body)
        assert (pos.alarm, pos.status) == (1 << 10, 1 << 11)
        assert pos.alarms == ("TTS模块故障",)
        # Their sample swaps latitude and longitude: the bytes say 116° north.
        assert (pos.lat, pos.lon) == (116.307629, 40.058359) and not pos.has_fix
        assert (pos.altitude_m, pos.speed_kmh, pos.heading) == (312, 0.3, 99)
        assert pos.time == datetime(2020, 7, 7, 11, 23, 59, tzinfo=UTC)
        assert (pos.mileage_km, pos.fuel_l, pos.recorder_speed_kmh) == (1.1, 2.2, 3.3)
        assert (pos.alarm_event_id, pos.ext_status, pos.io_status) == (44, 99, 10)
        assert (pos.signal, pos.satellites) == (30, 40)
        assert sorted(pos.extras) == [1, 2, 3, 4, 5, 0x11, 0x12, 0x13, 0x25, 0x2A, 0x2B, 0x30, 0x31]
        h = msg.header
        body = frame.position_body(
            pos.alarm,
            pos.status,
            pos.lat,
            pos.lon,
            312,
            0.3,
            99,
            datetime(2020, 7, 7, 19, 23, 59, tzinfo=CHINA_TIME),
            pos.extras,
        )
        assert frame.encode(h.msg_id, h.phone_raw, h.serial, body, h.version) == p.on_wire()


def test_yezhihao_batch() -> None:
    for p in (YEZHIHAO[8], YEZHIHAO[9]):
        msg = one(p.on_wire())
        kind, items = frame.decode_batch(msg.body)
        assert kind == 1 and len(items) == 3 and all(i.extras == {} for i in items)
        bodies = [msg.body[5:33], msg.body[35:63], msg.body[65:93]]
        assert frame.batch_body(1, bodies) == msg.body


def test_our_answers_match_an_independent_encoder() -> None:
    phone = bytes.fromhex("012345678901")
    phone_2019 = bytes.fromhex("00000000017299841738")
    code = "chwD0SE1f" * 3
    assert frame.register_response(phone, 0x7FFF, 0x970C, 0, code) == YEZHIHAO[10].on_wire()
    assert frame.register_response(phone_2019, 0xFFFF, 0x970C, 0, code, 1) == (
        YEZHIHAO[11].on_wire()
    )
    assert frame.alarm_confirm(phone, 0x7FFF, 123, 0x9D5E) == YEZHIHAO[12].on_wire()
    assert frame.alarm_confirm(phone_2019, 0xFFFF, 123, 0x9D5E, 1) == YEZHIHAO[13].on_wire()
    # 0x0001, the terminal's general response, has the body of our 0x8001.
    for p, version in ((YEZHIHAO[0], None), (YEZHIHAO[1], 1)):
        theirs = one(p.on_wire()).header
        ours = frame.general_response(theirs.phone_raw, theirs.serial, 123, 0x01C8, 3, version)
        terminal = frame.encode(
            0x0001, theirs.phone_raw, theirs.serial, frame.decode(ours).body, version
        )
        assert terminal == p.on_wire()


def test_a_checksum_of_7d_is_escaped() -> None:
    p = YEZHIHAO[14]
    assert p.on_wire().endswith(b"\x7d\x01\x7e")
    msg = one(p.on_wire())
    h = msg.header
    assert frame.encode(h.msg_id, h.phone_raw, h.serial, msg.body, h.version) == p.on_wire()


def test_traccars_encoder_frames() -> None:
    """Jt808ProtocolEncoderTest / Jt808FrameEncoderTest at the same commit."""
    phone = bytes.fromhex("0b3a73ce2ff2")
    assert frame.encode(0x8105, phone, 0, b"\xf0") == bytes.fromhex(
        "7e810500010b3a73ce2ff20000f0247e"
    )
    text = b"\x01Test, Command, 123#"
    assert frame.encode(0x8300, phone, 0, text) == bytes.fromhex(
        "7e830000140b3a73ce2ff2000001546573742c20436f6d6d616e642c2031323323a57e"
    )
    assert frame.escape(bytes.fromhex("307e087d55")) == bytes.fromhex("307d02087d0155")


# --- what we write, read back ---------------------------------------------------------------


@pytest.mark.parametrize("version", [None, 1])
def test_answers_round_trip(version: int | None) -> None:
    phone = PHONE if version is None else PHONE_2019
    msg = frame.decode(frame.general_response(phone, 7, 513, frame.POSITION, 2, version))
    assert (msg.header.msg_id, msg.header.phone_raw, msg.header.serial) == (0x8001, phone, 7)
    assert msg.header.version == version and msg.header.phone == "13912345678"
    assert struct.unpack(">HHB", msg.body) == (513, 0x0200, 2)

    msg = frame.decode(frame.register_response(phone, 8, 9, 0, "鉴权A1", version))
    assert msg.header.msg_id == 0x8100
    assert msg.body == struct.pack(">HB", 9, 0) + "鉴权A1".encode("gbk")
    # The auth code goes only with result 0.
    msg = frame.decode(frame.register_response(phone, 8, 9, 4, "ignored", version))
    assert msg.body == struct.pack(">HB", 9, 4)

    msg = frame.decode(frame.alarm_confirm(phone, 10, 0, frame.CONFIRM_SOS, version))
    assert (msg.header.msg_id, msg.body) == (0x8203, bytes.fromhex("000000000001"))


@pytest.mark.parametrize("version", [None, 1])
def test_terminal_bodies_round_trip(version: int | None) -> None:
    reg = Register(53, 100, "ABCDE", "车载终端-M1", "T0001", 2, "云A12345")
    body = frame.register_body(53, 100, "ABCDE", "车载终端-M1", "T0001", 2, "云A12345", version)
    assert len(body) == (37 if version is None else 76) + len("云A12345".encode("gbk"))
    assert frame.decode_register(body, version) == reg
    body = frame.auth_body("code-1", version, imei="861234567890123", software="V1.2")
    assert frame.decode_auth(body, version) == "code-1"
    when = datetime(2025, 1, 1, 0, 0, 5, tzinfo=CHINA_TIME)
    pos = frame.position_body(1, 3, -33.868, -151.209, -154, 61.5, 359, when, {0x31: b"\x09"})
    p = frame.decode_position(pos)
    assert (p.lat, p.lon, p.altitude_m, p.speed_kmh, p.heading) == (
        -33.868,
        -151.209,
        -154,
        61.5,
        359,
    )
    assert p.time == datetime(2024, 12, 31, 16, 0, 5, tzinfo=UTC) and p.satellites == 9
    assert p.status == 3 | frame.STATUS_SOUTH | frame.STATUS_WEST and p.sos and p.has_fix
    assert frame.decode_batch(frame.batch_body(1, [pos, pos])) == (1, [p, p])
    assert frame.decode_batch(frame.batch_body(0, [])) == (0, [])


def test_the_2011_registration_layout() -> None:
    body = struct.pack(">HH", 44, 303) + b"70111" + b"M7".ljust(8, b"\0") + b"ID00001" + b"\x01"
    assert frame.decode_register(body + "粤B1".encode("gbk"), None).model == "M7"
    assert frame.decode_register(body + "粤B1".encode("gbk"), None).plate == "粤B1"


def test_sub_packaged_and_encrypted_headers() -> None:
    for version, phone in ((None, PHONE), (3, PHONE_2019)):
        data = frame.encode(0x0801, phone, 5, b"\x01\x02", version, packet=(3, 2), encrypted=1)
        h = frame.decode(data).header
        assert (h.packet, h.encrypted, h.version) == ((3, 2), 1, version)


@pytest.mark.parametrize(
    ("phone_raw", "serial", "body"),
    [
        (bytes.fromhex("7e7d7e7d7e7d"), 1, b""),  # not BCD, but written as given
        (PHONE, 0x7E7D, b""),
        (PHONE, 1, b"\x7e\x7d\x7d\x02\x7d\x01\x7e"),
    ],
)
def test_escapes_inside_header_body_and_checksum(
    phone_raw: bytes, serial: int, body: bytes
) -> None:
    data = frame.encode(0x0200, phone_raw, serial, body)
    assert data[0] == data[-1] == 0x7E and 0x7E not in data[1:-1]
    msg = one(data)
    assert (msg.header.phone_raw, msg.header.serial, msg.body) == (phone_raw, serial, body)


@pytest.mark.parametrize(("wanted", "code"), [(0x7E, 0x02), (0x7D, 0x01)])
def test_a_checksum_that_needs_escaping(wanted: int, code: int) -> None:
    header = struct.pack(">HH", 0x0002, 1) + PHONE + struct.pack(">H", 1)
    last = wanted ^ frame.checksum(header)  # the one-byte body that makes the checksum
    data = frame.encode(0x0002, PHONE, 1, bytes([last]))
    assert data.endswith(bytes([0x7D, code, 0x7E]))
    assert one(data).body == bytes([last])


def test_writing_refuses_what_cannot_go_on_the_wire() -> None:
    with pytest.raises(ValueError):
        frame.encode(0x0200, PHONE, 1, bytes(1024))
    with pytest.raises(ValueError):
        frame.encode(0x0200, PHONE_2019, 1, b"")  # a 2019 phone in a 2013 header
    with pytest.raises(ValueError):
        frame.encode(0x0200, PHONE, 1, b"", version=1)
    with pytest.raises(ValueError):
        frame.encode(0x0200, PHONE, 0x10000, b"")
    with pytest.raises(ValueError):
        frame.register_response(PHONE, 1, 1, 0, None)
    with pytest.raises(ValueError):
        frame.position_body(0, 0, 0, 0, 40000, 0, 0, T)
    with pytest.raises(ValueError):
        frame.position_body(0, 0, 0, 0, 0, 0, 0, datetime(2024, 1, 1))  # naive
    with pytest.raises(ValueError):
        frame.register_body(1, 1, "TOO-LONG", "m", "t", 1, "p")
    with pytest.raises(ValueError):
        frame.bcd_phone("1234567890123")
    assert frame.bcd_phone("13912345678") == PHONE
    assert frame.bcd_phone("13912345678", 1) == PHONE_2019


def test_checksum_is_the_xor_of_every_byte() -> None:
    for data in (b"", b"\x01", b"\x01\x02\x04", bytes(range(256)) * 3 + b"\x55"):
        assert frame.checksum(data) == functools.reduce(operator.xor, data, 0)


def test_alarm_bits() -> None:
    assert sorted(ALARM_BITS) == list(range(32))
    assert ALARM_BITS[0] == "紧急报警"
    assert ALARM_BITS[7] == "终端主电源欠压" and ALARM_BITS[8] == "终端主电源掉电"
    assert ALARM_BITS[27] == "车辆非法点火" and ALARM_BITS[28] == "车辆非法位移"
    assert "碰撞" in ALARM_BITS[29] and ALARM_BITS[30] == "侧翻预警"
    with pytest.raises(TypeError):
        ALARM_BITS[0] = "x"  # type: ignore[index]


# --- refusals ---------------------------------------------------------------------------------


BODY = frame.position_body(1, 2, 25.0, 102.7, 0, 0, 0, T)


def good() -> bytes:
    return frame.encode(0x0200, PHONE, 0x1234, BODY)


def seal(content: bytes) -> bytes:
    """Header and body as given, with their checksum, escaped and framed."""
    return b"\x7e" + frame.escape(content + bytes([frame.checksum(content)])) + b"\x7e"


def test_a_bad_checksum_carries_the_header() -> None:
    data = bytearray(good())
    data[-2] ^= 0x01
    with pytest.raises(FrameError) as caught:
        frame.decode(bytes(data))
    e = caught.value
    assert (e.kind, e.msg_id, e.phone, e.serial) == ("checksum", 0x0200, "13912345678", 0x1234)
    assert (e.phone_raw, e.version) == (PHONE, None)
    assert "checksum" in str(e) and "13912345678" in str(e) and "0x0200" in str(e)


@pytest.mark.parametrize(
    ("content", "kind", "has_header"),
    [
        (b"\x02\x00", "length", False),  # not even a header
        (bytes.fromhex("0200400001"), "length", False),  # a 2019 header cut short
        (bytes.fromhex("02000000013912345678"), "length", False),  # no serial
        (bytes.fromhex("020000000139123456780001"), "length", True),  # no checksum
        (bytes.fromhex("0200000001391234567800017d03"), "escape", True),
        (bytes.fromhex("0200000001391234567800017d"), "escape", True),
    ],
)
def test_refusals(content: bytes, kind: str, has_header: bool) -> None:
    with pytest.raises(FrameError) as caught:
        frame.decode(content)
    assert caught.value.kind == kind
    assert (caught.value.header is not None) == has_header


def test_body_length_must_match() -> None:
    for announced in (len(BODY) - 1, len(BODY) + 1, 0):
        head = struct.pack(">HH", 0x0200, announced) + PHONE + struct.pack(">H", 0x1234)
        with pytest.raises(FrameError) as caught:
            frame.decode(seal(head + BODY))
        assert caught.value.kind == "length" and caught.value.serial == 0x1234


def test_reserved_bit_is_unsupported_and_bad_packets_are_format() -> None:
    head = struct.pack(">HH", 0x0200, 0x8000 | len(BODY)) + PHONE + struct.pack(">H", 0x1234)
    with pytest.raises(FrameError) as caught:
        frame.decode(seal(head + BODY))
    assert caught.value.kind == "unsupported"
    head = struct.pack(">HH", 0x0801, 0x2000) + PHONE + struct.pack(">HHH", 1, 2, 3)
    with pytest.raises(FrameError) as caught:
        frame.decode(head + bytes([frame.checksum(head)]))
    assert caught.value.kind == "format" and caught.value.header is not None
    with pytest.raises(FrameError) as caught:
        frame.decode(good() + good())
    assert caught.value.kind == "format"


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        (lambda: frame.decode_position(bytes(27)), "length"),
        (lambda: frame.decode_batch(b"\x00"), "length"),
        (lambda: frame.decode_batch(frame.batch_body(0, [bytes(20)])), "length"),
        (lambda: frame.decode_batch(b"\x00\x02\x00" + frame.batch_body(0, [])[3:]), "format"),
        (lambda: frame.decode_register(bytes(24), None), "length"),
        (lambda: frame.decode_register(bytes(75), 1), "length"),
        (lambda: frame.decode_register(bytes(36) + b"\x01\x80", None), "format"),
        (lambda: frame.decode_auth(b"\x05abc", 1), "length"),
        (lambda: frame.decode_auth(b"", None), "format"),
        (lambda: frame.decode_auth(b"\xff\xfe", None), "format"),
    ],
)
def test_body_refusals(call: Callable[[], object], kind: str) -> None:
    with pytest.raises(FrameError) as caught:
        call()
    assert caught.value.kind == kind and str(caught.value)


def test_a_broken_tail_of_additional_items_is_kept_not_refused() -> None:
    base = frame.position_body(1, 2, 25.0, 102.7, 0, 0, 0, T)
    p = frame.decode_position(base + bytes.fromhex("300118" + "31") + b"\x09")
    assert p.signal == 0x18 and p.satellites is None and p.unparsed == bytes.fromhex("3109")
    assert p.sos  # the alarm still counts
    p = frame.decode_position(base + bytes.fromhex("310201ff"))  # 0x31 should be one byte
    assert p.satellites is None and p.extras == {0x31: b"\x01\xff"}


# --- the stream decoder -----------------------------------------------------------------------


def stream() -> list[bytes]:
    return [v.on_wire() for v in ACCEPTED[:20]] + [p.on_wire() for p in YEZHIHAO]


def test_several_frames_in_one_read_and_shared_flags() -> None:
    frames = stream()
    items = Decoder().feed(b"".join(frames))
    assert all(isinstance(i, Message) for i in items) and len(items) == len(frames)
    # One 0x7e may both close a frame and open the next.
    shared = frames[0] + b"".join(f[1:] for f in frames[1:])
    assert Decoder().feed(shared) == items


def test_frames_cut_at_every_byte() -> None:
    frames = stream()[:6]
    data = b"".join(frames)
    expected = Decoder().feed(data)
    for cut in range(len(data) + 1):
        d = Decoder()
        assert d.feed(data[:cut]) + d.feed(data[cut:]) == expected
    d = Decoder()
    assert [i for b in data for i in d.feed(bytes([b]))] == expected


def test_garbage_between_frames() -> None:
    a, b = good(), frame.encode(0x0002, PHONE, 2, b"")
    items = Decoder().feed(b"junk" + a + b"\x00\xff\x7d" + b"\x7e\x7e\x7e" + b)
    kinds = [i.kind if isinstance(i, FrameError) else "ok" for i in items]
    assert kinds == ["length", "ok", "length", "ok"]
    # Garbage long enough to look like a header is answered as a message error.
    (e, ok) = Decoder().feed(b"\r\nGET / HTTP/1.1\r\n" + a)
    assert isinstance(e, FrameError) and e.kind == "checksum" and e.msg_id == 0x0D0A
    assert ok == frame.decode(a)
    assert Decoder().feed(b"\x7e\x7e\x7e\x7e") == []  # empty frames


def test_unbounded_garbage_stays_bounded() -> None:
    d = Decoder(max_frame=2048)
    errors: list[Message | FrameError] = []
    for _ in range(1000):
        errors += d.feed(b"\x7d\x01" * 512)  # escapes count once: 1 MiB of wire
        assert len(d._buf) <= 2 * 2048 + 1024
    assert [e.kind for e in errors if isinstance(e, FrameError)] == ["too_long"]
    assert d.feed(good()) == [frame.decode(good())]


def test_a_too_long_frame_is_dropped_and_the_next_parses() -> None:
    long = frame.encode(0x0900, PHONE, 9, bytes(1000))
    d = Decoder(max_frame=512)
    items = d.feed(long + good())
    assert isinstance(items[0], FrameError) and items[0].kind == "too_long"
    assert items[0].serial == 9 and items[0].msg_id == 0x0900  # it can still be answered
    assert items[1:] == [frame.decode(good())]
    # The default holds the longest legal frame, escaped from end to end.
    worst = frame.encode(0x0900, PHONE_2019, 0x7E7E, b"\x7e" * 1023, 1, packet=(2, 1))
    assert one(worst).body == b"\x7e" * 1023


# --- fuzzing ----------------------------------------------------------------------------------

READERS = [
    frame.decode,
    frame.decode_position,
    frame.decode_batch,
    lambda b: frame.decode_register(b, None),
    lambda b: frame.decode_register(b, 1),
    lambda b: frame.decode_auth(b, None),
    lambda b: frame.decode_auth(b, 1),
]


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_frame_error(data: bytes) -> None:
    for read in READERS:
        try:
            read(data)
        except FrameError as e:
            assert e.kind in frame.KINDS and str(e)
    for item in Decoder(max_frame=128).feed(data):
        assert isinstance(item, Message | FrameError)


def outcome(items: list[Message | FrameError]) -> list[object]:
    """Errors compare by identity: compare their kind and message instead."""
    return [(i.kind, str(i)) if isinstance(i, FrameError) else i for i in items]


@FUZZ
@given(st.lists(st.sampled_from(stream()), min_size=1, max_size=4), st.data())
def test_damaged_frames_raise_only_frame_error(frames: list[bytes], data: st.DataObject) -> None:
    wire = bytearray(b"".join(frames))
    for _ in range(data.draw(st.integers(0, 4))):
        at = data.draw(st.integers(0, len(wire) - 1))
        wire[at] = data.draw(st.sampled_from([0x7E, 0x7D, 0x00, 0xFF, wire[at] ^ 0x10]))
    d = Decoder()
    cut = data.draw(st.integers(0, len(wire)))
    items = d.feed(bytes(wire[:cut])) + d.feed(bytes(wire[cut:]))
    assert outcome(items) == outcome(Decoder().feed(bytes(wire)))  # however the reads fall
    for item in items:
        if isinstance(item, Message):
            for read in READERS[1:]:
                try:
                    read(item.body)
                except FrameError:
                    pass


phones = st.text("0123456789", min_size=1, max_size=12)
versions = st.one_of(st.none(), st.integers(0, 255))
times = st.datetimes(
    min_value=datetime(2000, 1, 1, 0, 0, 0),
    max_value=datetime(2099, 12, 31, 23, 59, 59),
    timezones=st.just(CHINA_TIME),
).map(lambda t: t.replace(microsecond=0))


@FUZZ
@given(
    phone=phones,
    version=versions,
    msg_id=st.integers(0, 0xFFFF),
    serial=st.integers(0, 0xFFFF),
    body=st.binary(max_size=1023),
    packet=st.one_of(
        st.none(),
        st.integers(1, 0xFFFF).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))),
    ),
)
def test_frames_round_trip(
    phone: str,
    version: int | None,
    msg_id: int,
    serial: int,
    body: bytes,
    packet: tuple[int, int] | None,
) -> None:
    raw = frame.bcd_phone(phone.lstrip("0") or "0", version)
    data = frame.encode(msg_id, raw, serial, body, version, packet=packet)
    msg = frame.decode(data)
    assert msg == Message(
        frame.Header(msg_id, version, phone.lstrip("0") or "0", raw, serial, 0, packet), body
    )
    assert Decoder().feed(data) == [msg]


@FUZZ
@given(
    alarm=st.integers(0, 2**32 - 1),
    status=st.integers(0, 2**32 - 1),
    lat=st.integers(-90_000_000, 90_000_000),
    lon=st.integers(-180_000_000, 180_000_000),
    altitude=st.integers(-32768, 32767),
    speed=st.integers(0, 0xFFFF),
    heading=st.integers(0, 0xFFFF),
    time=times,
    extras=st.dictionaries(st.integers(0, 255), st.binary(max_size=255), max_size=4),
)
def test_positions_round_trip(
    alarm: int,
    status: int,
    lat: int,
    lon: int,
    altitude: int,
    speed: int,
    heading: int,
    time: datetime,
    extras: dict[int, bytes],
) -> None:
    body = frame.position_body(
        alarm, status, lat / 1e6, lon / 1e6, altitude, speed / 10, heading, time, extras
    )
    p = frame.decode_position(body)
    assert (p.alarm, p.lat, p.lon, p.altitude_m) == (alarm, lat / 1e6, lon / 1e6, altitude)
    assert p.status & ~0xC == status & ~0xC
    assert (p.speed_kmh, p.heading, p.time) == (speed / 10, heading, time)
    assert p.time.utcoffset() == timedelta(0)
    assert p.extras == extras and p.unparsed == b""
    assert p.sos == bool(alarm & 1) and p.located == bool(status & 2)
    kind, items = frame.decode_batch(frame.batch_body(1, [body, body]))
    assert (kind, items) == (1, [p, p])


@FUZZ
@given(
    version=versions,
    province=st.integers(0, 0xFFFF),
    text=st.text(st.characters(codec="gbk", exclude_characters="\x00 "), max_size=5),
    plate=st.text(st.characters(codec="gbk", exclude_characters="\x00 "), max_size=12),
    color=st.integers(0, 255),
)
def test_registrations_and_auth_round_trip(
    version: int | None, province: int, text: str, plate: str, color: int
) -> None:
    # At most 4 bytes a character (GB18030): they fit the 5-byte maker and 7-byte terminal id.
    maker = text[: 1 if version is None else 2]
    body = frame.register_body(province, 1, maker, text, text[:1], color, plate, version)
    reg = frame.decode_register(body, version)
    assert reg == Register(province, 1, maker, text, text[:1], color, plate)
    if text:
        assert frame.decode_auth(frame.auth_body(text, version), version) == text


def test_a_position_without_a_valid_time_is_still_read() -> None:
    """A terminal whose clock was never set sends zeros (or garbage) for the time: its
    emergency is still an emergency — the time is None, the rest is read."""
    good = frame.position_body(
        1, 2, 24.98, 102.65, 1900, 30.0, 90, datetime(2026, 11, 26, tzinfo=UTC)
    )
    bad_times = ("000000000000", "ffffffffffff", "2405131200aa", "241301120000", "240230120000")
    for bad in map(bytes.fromhex, bad_times):
        pos = frame.decode_position(good[:22] + bad + good[28:])
        assert pos.time is None and pos.sos and abs(pos.lat - 24.98) < 1e-9
