"""SIA DC-09 frames (gateway/channels/dc09/frame.py): published frames, encryption against
pysiaalarm as an independent implementation, the answers, the time window, TCP framing, and
fuzzing.

A frame is a panel's alarm: whatever the bytes, the reader answers with a value or a
`FrameError` that says what is wrong — never an IndexError that would leave the panel
without an answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.channels.dc09 import frame
from gateway.channels.dc09.frame import (
    Envelope,
    Event,
    FrameError,
    ack,
    build,
    crc16,
    duh,
    nak,
    open_message,
    parse_data,
    read_envelope,
    split_stream,
    timestamp_ok,
    wrap,
)
from tests.channels.dc09 import vectors
from tests.channels.dc09.vectors import Published

T0 = datetime(2026, 11, 24, 1, 0, 0, tzinfo=UTC)  # 09:00 in Shanghai
STAMP0 = "_01:00:00,11-24-2026"
KEYS = {
    16: b"0123456789ABCDEF",
    24: b"0123456789ABCDEF01234567",
    32: b"0123456789ABCDEF0123456789ABCDEF",
}
KINDS = {
    "crc",
    "length",
    "format",
    "token",
    "decrypt",
    "unencrypted",
    "encrypted_without_key",
    "timestamp",
}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def crc_bitwise(data: bytes) -> int:
    """CRC-16/ARC bit by bit, as DC-09's sample code computes it (our table is checked
    against this)."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0xA001
            byte >>= 1
    return crc


def checked(answer: bytes) -> bytes:
    """The content of an answer frame, after checking its LF, CR, length and CRC by hand."""
    assert answer[:1] == b"\n" and answer[-1:] == b"\r"
    content = answer[9:-1]
    assert answer[5:9] == b"%04X" % len(content)
    assert answer[1:5] == b"%04X" % crc_bitwise(content)
    return content


def refused(kind: str, f: object, *args: object) -> FrameError:
    with pytest.raises(FrameError) as e:
        f(*args)  # type: ignore[operator]
    assert e.value.kind == kind, str(e.value)
    assert str(e.value)  # a message a person can read
    return e.value


def decrypt_hex(key: bytes, hexed: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    d = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).decryptor()
    return d.update(bytes.fromhex(hexed.decode())) + d.finalize()


# -- CRC ----------------------------------------------------------------------------------------


def test_crc_check_value() -> None:
    assert crc16(b"123456789") == 0xBB3D == crc_bitwise(b"123456789")  # CRC-16/ARC


@given(st.binary(max_size=300))
def test_crc_table_is_the_bitwise_crc(data: bytes) -> None:
    assert crc16(data) == crc_bitwise(data)


def test_wrap_puts_crc_and_length_around_the_content() -> None:
    content = b'"NULL"0000L0#000[]_21:58:31,08-08-2019'
    assert wrap(content) == vectors.AJAX_NULL.frame  # a real Ajax hub's frame
    assert checked(wrap(content)) == content
    with pytest.raises(ValueError):
        wrap(b"x" * 0x1000)


# -- published frames ---------------------------------------------------------------------------


@pytest.mark.parametrize("v", vectors.GOOD, ids=lambda v: v.name)
def test_published_good_frames_are_read(v: Published) -> None:
    env = read_envelope(v.frame)
    assert env.raw == v.frame
    if env.encrypted and v.key is None:
        return  # its key was not published
    msg = open_message(env, v.key if env.encrypted else None)
    assert msg.envelope is env
    if env.encrypted:
        assert msg.timestamp is not None


@pytest.mark.parametrize("v", vectors.PYSIAALARM_LINES, ids=lambda v: v.name)
def test_pysiaalarm_lines_as_published(v: Published) -> None:
    """Most of pysiaalarm's own test lines carry a wrong length, several a wrong CRC; each
    is refused for the first thing wrong with it (the length is checked before the CRC)."""
    if v.name != "case_dc04":  # the facts recorded in vectors.py, checked by hand
        content = v.line.encode()[8:]
        assert (int(v.line[:4], 16) == crc_bitwise(content)) == v.crc_ok
        assert (int(v.line[4:8], 16) == len(content)) == v.length_ok
    if v.crc_ok and v.length_ok:
        read_envelope(v.frame)
    elif v.name == "case_dc04":
        refused("format", read_envelope, v.frame)  # "<x0A>" where the CRC should be
    else:
        assert not v.length_ok
        refused("length", read_envelope, v.frame)


def _repair(v: Published, *, crc: bool) -> bytes:
    line = v.line.replace("<x0A>", "")
    content = line.encode()[8:]
    head = line[:4] if not crc else f"{crc_bitwise(content):04X}"
    return b"\n" + head.encode() + b"%04X" % len(content) + content + b"\r"


@pytest.mark.parametrize("v", vectors.PYSIAALARM_LINES, ids=lambda v: v.name)
def test_pysiaalarm_lines_with_the_length_recounted(v: Published) -> None:
    """Recount only the length: the lines whose CRC is wrong are now refused for it."""
    if v.crc_ok:
        read_envelope(_repair(v, crc=False))
    else:
        e = refused("crc", read_envelope, _repair(v, crc=False))
        assert v.line.replace("<x0A>", "")[:4] in str(e)


EXPECTED_AFTER_REPAIR = {
    # name: (token, account, what the repaired frame then says)
    "case_bug": (
        "SIA-DCS",
        "123456",
        [Event("SIA", "CL", partition="1", user="0", text="VX FRONTE")],
    ),
    "case_bug2": (
        "SIA-DCS",
        "123456",
        [Event("SIA", "KR", zone="1", partition="0", text="TAST. 001")],
    ),
    "case_adm_cid": ("ADM-CID", "12345A", [Event("CID", "110", "E", zone="129")]),
    "case_adm_cid2": ("ADM-CID", "4F39", [Event("CID", "401", "R", partition="1", user="57")]),
    "case_code_jc": ("SIA-DCS", "AAA", [Event("SIA", "JC", partition="2")]),
    "case_xdata_M": ("SIA-DCS", "AAA", [Event("SIA", "CL", partition="1", user="501")]),
    "case_xdata_K": ("SIA-DCS", "1111", [Event("SIA", "RP", zone="0", partition="1")]),
    "case_xdata_X_and_Y": ("SIA-DCS", "1111", [Event("SIA", "PA", zone="501", partition="1")]),
    "case_cl": ("SIA-DCS", "AAA", [Event("SIA", "CL", partition="1", user="501")]),
    "case_wa": ("SIA-DCS", "AAA", [Event("SIA", "WA", zone="0", partition="1")]),
}


@pytest.mark.parametrize("v", vectors.PYSIAALARM_LINES, ids=lambda v: v.name)
def test_pysiaalarm_lines_fully_repaired(v: Published) -> None:
    """With CRC and length recomputed, the clear lines read as what upstream expects of
    them; what stays wrong is named."""
    raw = _repair(v, crc=True)
    if v.name == "case_dc04":  # "_14:12:04,09-25-201": a 3-digit year
        refused("timestamp", open_message, read_envelope(raw), None)
        return
    if v.name == "case_op":  # no #account in the header
        assert "account" in str(refused("format", read_envelope, raw))
        return
    env = read_envelope(raw)
    if env.encrypted:
        key = v.key or vectors.PYSIAALARM_KEY
        if v.key is None:  # their key was not published: ours is a wrong key
            refused("decrypt", open_message, env, key)
        refused("encrypted_without_key", open_message, env, None)
        return
    token, account, events = EXPECTED_AFTER_REPAIR[v.name]
    assert env.token == token
    msg = open_message(env, None)
    assert parse_data(env.token, msg.data, default_account=env.account) == (account, events)


@pytest.mark.parametrize("line", vectors.PYSIAALARM_NOT_DC09)
def test_pysiaalarm_non_dc09_lines_are_refused(line: str) -> None:
    refused("format", read_envelope, b"\n" + line.encode() + b"\r")
    refused("format", read_envelope, line.encode())


def test_iobroker_encrypted_frame_with_a_binary_pad() -> None:
    """A published encrypted frame (lower-case hex; control characters in its pad)."""
    v = vectors.IOBROKER_ENCRYPTED
    env = read_envelope(v.frame)
    assert (env.token, env.encrypted, env.sequence, env.receiver, env.line, env.account) == (
        "SIA-DCS",
        True,
        "0018",
        None,
        "0",
        "12345",
    )
    assert v.key is not None
    plain = decrypt_hex(v.key, env.body[1:])
    assert re.search(rb"[\x00-\x1f]", plain[: plain.index(b"|")])  # the pad is binary
    msg = open_message(env, v.key)
    assert msg.timestamp == datetime(2018, 10, 26, 7, 50, 26, tzinfo=UTC)
    account, events = parse_data(env.token, msg.data)
    assert account == "12345"
    assert events == [
        Event(
            "SIA",
            "UT",
            zone="0",
            partition="0",
            text="$PR,SCOMPARSA          ,Centrale,Zona1,ROtTe.6MyLittlPoint",
            time="09:50:24",
        )
    ]
    refused("decrypt", open_message, env, KEYS[16][::-1])


def test_iobroker_clear_frame() -> None:
    env = read_envelope(vectors.IOBROKER_CLEAR.frame)
    msg = open_message(env, None)
    assert msg.timestamp == datetime(2018, 10, 25, 12, 37, 53, tzinfo=UTC)
    assert parse_data(env.token, msg.data)[1][0].time == "14:37:53"
    refused("unencrypted", open_message, env, KEYS[16])


def test_pysiaalarm_null_without_a_pad_separator() -> None:
    """pysiaalarm's encrypted NULL: "ppppppppppp]_time" — the pad, then the empty data's
    ']' with no '|' between them."""
    v = next(v for v in vectors.PYSIAALARM_LINES if v.name == "case_null")
    env = read_envelope(v.frame)
    msg = open_message(env, v.key)
    assert (msg.data, msg.extended) == ("", ())
    assert msg.timestamp == datetime(2020, 7, 5, 18, 24, 52, tzinfo=UTC)
    assert parse_data(env.token, msg.data, default_account=env.account) == ("AAAB", [])


def test_ajax_null() -> None:
    env = read_envelope(vectors.AJAX_NULL.frame)
    assert (env.token, env.sequence, env.receiver, env.line, env.account) == (
        "NULL",
        "0000",
        None,
        "0",
        "000",
    )
    msg = open_message(env, None)
    assert msg.data == "" and msg.timestamp == datetime(2019, 8, 8, 21, 58, 31, tzinfo=UTC)


# -- the envelope -------------------------------------------------------------------------------

GOOD_CONTENT = b'"SIA-DCS"0001R12L3#1234[#1234|Nri1/BA01]' + STAMP0.encode()


def test_envelope_fields() -> None:
    env = read_envelope(wrap(GOOD_CONTENT))
    assert env == Envelope(
        raw=wrap(GOOD_CONTENT),
        token="SIA-DCS",
        encrypted=False,
        sequence="0001",
        receiver="12",
        line="3",
        account="1234",
        body=b"[#1234|Nri1/BA01]" + STAMP0.encode(),
    )


def test_lower_case_hex_is_read_and_the_account_is_upper_case() -> None:
    content = b'"ADM-CID"9999Rab1Lc#abcdef[#ABCDEF|1130 01 015]'
    raw = b"\n%04x%04x%s\r" % (crc16(content), len(content), content)
    env = read_envelope(raw)
    assert (env.receiver, env.line, env.account) == ("ab1", "c", "ABCDEF")


ENVELOPE_REFUSALS = [
    ("not from LF", GOOD_CONTENT[:0] + wrap(GOOD_CONTENT)[1:], "format"),
    ("not to CR", wrap(GOOD_CONTENT)[:-1] + b"\n", "format"),
    ("empty", b"", "format"),
    ("too short", b"\n\r", "format"),
    ("header not hex", b"\nZZZZ0026" + GOOD_CONTENT + b"\r", "format"),
    ("length short", b"\n%04X%04X%s\r" % (crc16(GOOD_CONTENT), 5, GOOD_CONTENT), "length"),
    (
        "length not 0LLL",
        b"\n%04X1%03X%s\r" % (crc16(GOOD_CONTENT), len(GOOD_CONTENT), GOOD_CONTENT),
        "length",
    ),
    ("crc", b"\n%04X%04X%s\r" % (crc16(GOOD_CONTENT) ^ 1, len(GOOD_CONTENT), GOOD_CONTENT), "crc"),
    ("token unquoted", wrap(b"SIA-DCS0001L0#1234[]"), "token"),
    ("token with a space", wrap(b'"SIA DCS"0001L0#1234[]'), "token"),
    ("empty token", wrap(b'""0001L0#1234[]'), "token"),
    ("star alone", wrap(b'"*"0001L0#1234[]'), "token"),
    ("sequence of 3", wrap(b'"NULL"001L0#1234[]'), "format"),
    ("no account", wrap(b'"NULL"0001L0[]'), "format"),
    ("account of 2", wrap(b'"NULL"0001L0#12[]'), "format"),
    ("account of 17", wrap(b'"NULL"0001L0#' + b"1" * 17 + b"[]"), "format"),
    ("account not hex", wrap(b'"NULL"0001L0#12G4[]'), "format"),
    ("receiver after line", wrap(b'"NULL"0001L0R1#1234[]'), "format"),
    ("receiver of 7", wrap(b'"NULL"0001R1234567L0#1234[]'), "format"),
    ("no [", wrap(b'"NULL"0001L0#1234'), "format"),
    ("anything else", wrap(b'"NULL"0001L0#1234 []'), "format"),
]


@pytest.mark.parametrize(
    ("raw", "kind"), [c[1:] for c in ENVELOPE_REFUSALS], ids=[c[0] for c in ENVELOPE_REFUSALS]
)
def test_envelope_refusals(raw: bytes, kind: str) -> None:
    refused(kind, read_envelope, raw)


def test_a_refusal_names_what_is_wrong() -> None:
    e = refused("crc", read_envelope, b"\n0000%04X%s\r" % (len(GOOD_CONTENT), GOOD_CONTENT))
    assert "0000" in str(e) and f"{crc16(GOOD_CONTENT):04X}" in str(e)
    assert "account" in str(refused("format", read_envelope, wrap(b'"NULL"0001L0[]')))


def test_what_transmitters_in_the_field_send_is_taken() -> None:
    """dc09-spt leaves the line out and counts its sequence in hex (000A after 0009): an
    alarm is not refused over either, and the ACK echoes both as sent."""
    env = read_envelope(wrap(b'"SIA-DCS"000A#1234[#1234|NBA1]'))
    assert (env.sequence, env.line, env.account) == ("000A", "", "1234")
    assert b'"ACK"000A#1234[]' in ack(env, None, datetime(2026, 11, 26, tzinfo=UTC))


def test_frame_error_pickles() -> None:
    import pickle

    e = pickle.loads(pickle.dumps(FrameError("crc", "CRC 0000 on the wire")))
    assert (e.kind, str(e)) == ("crc", "CRC 0000 on the wire")


# -- the message in clear -----------------------------------------------------------------------


def clear(body: bytes) -> Envelope:
    return read_envelope(wrap(b'"SIA-DCS"0001L0#1234' + body))


def test_clear_message() -> None:
    msg = open_message(clear(b"[#1234|Nri1/BA01][X012W34.1][Y045N12.2]" + STAMP0.encode()), None)
    assert (msg.data, msg.extended, msg.timestamp) == (
        "#1234|Nri1/BA01",
        ("X012W34.1", "Y045N12.2"),
        T0,
    )
    msg = open_message(clear(b"[]"), None)
    assert (msg.data, msg.extended, msg.timestamp) == ("", (), None)


def test_text_in_utf8_or_gb18030() -> None:
    for encoding in ("utf-8", "gb18030"):
        body = "[#1234|Nri1/BA01^金库前门^]".encode(encoding)
        msg = open_message(clear(body), None)
        assert parse_data("SIA-DCS", msg.data)[1][0].text == "金库前门"


MESSAGE_REFUSALS = [
    ("no ]", b"[#1234|Nri1/BA01", "format"),
    ("[ in the data", b"[#12[34]", "format"),
    ("junk after ]", b"[#1234|Nri1/BA01]junk", "format"),
    ("block not closed", b"[#1234|Nri1/BA01][X1", "format"),
    ("control character", b"[#1234|Nri1/BA01\x07]", "format"),
    ("hour 25", b"[#1234|Nri1/BA01]_25:00:00,11-24-2026", "timestamp"),
    ("month 13", b"[#1234|Nri1/BA01]_01:00:00,13-24-2026", "timestamp"),
    ("two-digit year", b"[#1234|Nri1/BA01]_01:00:00,11-24-26", "timestamp"),
    ("not a time", b"[#1234|Nri1/BA01]_now", "timestamp"),
]


@pytest.mark.parametrize(
    ("body", "kind"), [c[1:] for c in MESSAGE_REFUSALS], ids=[c[0] for c in MESSAGE_REFUSALS]
)
def test_clear_message_refusals(body: bytes, kind: str) -> None:
    refused(kind, open_message, clear(body), None)


# -- encryption ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", sorted(KEYS))
def test_encrypted_round_trip(size: int) -> None:
    key = KEYS[size]
    raw = build(
        "SIA-DCS",
        "0042",
        "1234",
        "#1234|Nri1/BA015",
        receiver="1F",
        line="2",
        key=key,
        timestamp=T0,
        extended=["X012W34.1"],
    )
    assert b"#1234|" not in raw and b"BA015" not in raw
    env = read_envelope(raw)
    assert (env.token, env.encrypted, env.sequence, env.receiver, env.line) == (
        "SIA-DCS",
        True,
        "0042",
        "1F",
        "2",
    )
    assert re.fullmatch(rb"\[([0-9A-F]{32})+", env.body)
    msg = open_message(env, key)
    assert (msg.data, msg.extended, msg.timestamp) == ("#1234|Nri1/BA015", ("X012W34.1",), T0)
    # The pad: 1 to 16 printable characters other than | [ ], then '|'.
    plain = decrypt_hex(key, env.body[1:])
    pad = plain[: plain.index(b"|")]
    assert 1 <= len(pad) <= 16 and re.fullmatch(rb"[!-~]+", pad) and not set(pad) & set(b"|[]")


def test_deterministic_pad() -> None:
    a = build("NULL", "0001", "1234", "", key=KEYS[16], timestamp=T0, pad="0")
    assert a == build("NULL", "0001", "1234", "", key=KEYS[16], timestamp=T0, pad="0")
    env = read_envelope(a)
    assert decrypt_hex(KEYS[16], env.body[1:]) == b"0" * 10 + b"|]" + STAMP0.encode()
    for bad in ("", "|", "a]"):
        with pytest.raises(ValueError):
            build("NULL", "0001", "1234", "", key=KEYS[16], timestamp=T0, pad=bad)


def test_a_full_block_gets_a_full_pad() -> None:
    """ "|" + rest already a multiple of 16: 16 pad characters (as pysiaalarm's zfill and
    other transmitters do), never 0."""
    data = "x" * (32 - 1 - 1 - len(STAMP0))  # '|' + data + ']' + stamp = 32
    env = read_envelope(build("SIA-DCS", "0001", "1234", data, key=KEYS[16], timestamp=T0))
    plain = decrypt_hex(KEYS[16], env.body[1:])
    assert plain.index(b"|") == 16 and len(plain) == 48


def test_wrong_key() -> None:
    raw = build("SIA-DCS", "0001", "1234", "#1234|Nri1/BA01", key=KEYS[16], timestamp=T0)
    for key in (KEYS[16][::-1], KEYS[24], KEYS[32], bytes(16)):
        refused("decrypt", open_message, read_envelope(raw), key)


def test_key_configured_but_frame_in_clear() -> None:
    raw = build("SIA-DCS", "0001", "1234", "#1234|Nri1/BA01", timestamp=T0)
    e = refused("unencrypted", open_message, read_envelope(raw), KEYS[16])
    assert "1234" in str(e)


def test_encrypted_frame_without_a_key() -> None:
    raw = build("SIA-DCS", "0001", "1234", "#1234|Nri1/BA01", key=KEYS[16], timestamp=T0)
    refused("encrypted_without_key", open_message, read_envelope(raw), None)


def test_encrypted_message_must_carry_a_timestamp() -> None:
    """Without one it could be replayed; the NULL case matters most: an empty message
    that a wrong key could otherwise fake with a single ']'."""
    raw = build("NULL", "0001", "1234", "", key=KEYS[16])
    e = refused("decrypt", open_message, read_envelope(raw), KEYS[16])
    assert "timestamp" in str(e)


def test_encrypted_body_must_be_hex_blocks() -> None:
    for body in (b"[XYZ", b"[" + b"A" * 31, b"[", b"[" + b"0" * 32 + b"]"):
        env = read_envelope(wrap(b'"*SIA-DCS"0001L0#1234' + body))
        refused("format", open_message, env, KEYS[16])


def test_bad_key_sizes_are_a_programming_error() -> None:
    raw = build("NULL", "0001", "1234", "", key=KEYS[16], timestamp=T0)
    with pytest.raises(ValueError):
        open_message(read_envelope(raw), b"short")
    with pytest.raises(ValueError):
        build("NULL", "0001", "1234", "", key=b"x" * 17, timestamp=T0)


def test_build_refuses_what_a_frame_cannot_carry() -> None:
    for kwargs in (
        {"token": "SIA DCS"},
        {"sequence": "1"},
        {"account": "12"},
        {"account": "XYZ1"},
        {"line": ""},
        {"receiver": "R1"},
        {"data": "a]b"},
        {"extended": ["X[1]"]},
    ):
        args = {"token": "SIA-DCS", "sequence": "0001", "account": "1234", "data": ""}
        args.update(kwargs)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            build(**args)  # type: ignore[arg-type]


# -- pysiaalarm as an independent implementation -------------------------------------------------


@pytest.mark.parametrize("size", sorted(KEYS))
def test_pysiaalarm_encrypts_we_decrypt(size: int) -> None:
    pysia = pytest.importorskip("pysiaalarm")
    key = KEYS[size]
    account = pysia.SIAAccount("1111", key.decode())
    hexed = pysia.SIAEvent(sia_account=account).encrypt_content("|Nri1/WA000]_16:04:02,07-09-2020")
    env = read_envelope(wrap(b'"*SIA-DCS"7654L0#1111[' + hexed.encode()))
    msg = open_message(env, key)
    assert msg.data == "Nri1/WA000"
    assert msg.timestamp == datetime(2020, 7, 9, 16, 4, 2, tzinfo=UTC)
    refused("decrypt", open_message, env, KEYS[32 if size != 32 else 16])


def test_pysiaalarm_reproduces_the_generated_vector() -> None:
    pysia = pytest.importorskip("pysiaalarm")
    account = pysia.SIAAccount("1111", vectors.PYSIAALARM_KEY.decode())
    hexed = pysia.SIAEvent(sia_account=account).encrypt_content("|Nri1/WA000]_16:04:02,07-09-2020")
    assert read_envelope(vectors.PYSIAALARM_GENERATED.frame).body == b"[" + hexed.encode()


@pytest.mark.parametrize("size", sorted(KEYS))
@pytest.mark.parametrize(
    ("token", "data"), [("SIA-DCS", "#1111|Nri2/BA015"), ("ADM-CID", "#1111|1130 02 015")]
)
def test_we_encrypt_pysiaalarm_decrypts(size: int, token: str, data: str) -> None:
    pysia = pytest.importorskip("pysiaalarm")
    key = KEYS[size]
    raw = build(token, "0042", "1111", data, key=key, timestamp=T0, receiver="1")
    event = pysia.SIAEvent.from_line(
        raw[1:-1].decode(), {"1111": pysia.SIAAccount("1111", key.decode())}
    )
    assert event.valid_message  # its CRC agrees with ours
    assert event.account == "1111"
    assert event.timestamp == T0
    if token == "SIA-DCS":
        assert (event.code, event.ri) == ("BA", "2")
    else:
        assert (event.event_qualifier, event.event_type, event.partition) == ("1", "130", "02")


@given(st.text(max_size=200))
def test_our_crc_is_pysiaalarms(text: str) -> None:
    pysia = pytest.importorskip("pysiaalarm")
    assert pysia.SIAEvent._crc_calc(text) == f"{crc16(text.encode()):04X}"


def test_pysiaalarm_answers_none_where_we_do_not() -> None:
    """The trap DESIGN.md warns of: pysiaalarm's ACK to a frame without a receiver
    number says "None"."""
    pysia = pytest.importorskip("pysiaalarm")
    raw = build("SIA-DCS", "0042", "1111", "#1111|Nri1/RP000", key=KEYS[16], timestamp=T0)
    event = pysia.SIAEvent.from_line(
        raw[1:-1].decode(), {"1111": pysia.SIAAccount("1111", KEYS[16].decode())}
    )
    assert b"None" in event.create_response()
    assert b"None" not in ack(read_envelope(raw), KEYS[16], T0)


# -- answers ------------------------------------------------------------------------------------


def test_ack_in_clear() -> None:
    env = read_envelope(vectors.IOBROKER_CLEAR.frame)
    answer = ack(env, None, T0)
    assert checked(answer) == b'"ACK"0005L0#12345[]' + STAMP0.encode()
    assert read_envelope(answer).token == "ACK"


def test_ack_echoes_receiver_line_and_account_as_sent() -> None:
    env = read_envelope(
        build("SIA-DCS", "0007", "abc12", "#ABC12|Nri1/CL1", receiver="1f", line="A2")
    )
    assert env.account == "ABC12"
    assert checked(ack(env, None, T0)) == b'"ACK"0007R1fLA2#abc12[]' + STAMP0.encode()


@pytest.mark.parametrize("size", sorted(KEYS))
def test_ack_of_an_encrypted_message_is_encrypted(size: int) -> None:
    key = KEYS[size]
    env = read_envelope(build("SIA-DCS", "0042", "1234", "#1234|Nri1/BA01", key=key, timestamp=T0))
    answer = ack(env, key, T0 + timedelta(seconds=1))
    content = checked(answer)
    assert content.startswith(b'"*ACK"0042L0#1234[')
    assert b"None" not in answer
    assert key not in answer and key.hex().encode() not in answer.lower()
    assert b"[K" not in answer
    reply = read_envelope(answer)
    assert (reply.token, reply.encrypted, reply.sequence, reply.line, reply.account) == (
        "ACK",
        True,
        "0042",
        "0",
        "1234",
    )
    plain = decrypt_hex(key, reply.body[1:])
    assert plain.endswith(b"|]_01:00:01,11-24-2026")  # pad, '|', the empty data, our time
    msg = open_message(reply, key)
    assert (msg.data, msg.extended, msg.timestamp) == ("", (), T0 + timedelta(seconds=1))


def test_ack_of_an_encrypted_message_needs_the_key() -> None:
    env = read_envelope(build("NULL", "0001", "1234", "", key=KEYS[16], timestamp=T0))
    with pytest.raises(ValueError):
        ack(env, None, T0)


def test_nak_is_dc09s() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert nak(now) == b'\n1F1C0025"NAK"0000R0L0A0[]_03:04:05,01-02-2026\r'
    assert checked(nak(now)) == b'"NAK"0000R0L0A0[]_03:04:05,01-02-2026'
    shanghai = now.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert nak(shanghai) == nak(now)  # the wire is UTC whatever the caller's zone
    with pytest.raises(ValueError):
        nak(now.replace(tzinfo=None))


def test_duh() -> None:
    env = read_envelope(wrap(b'"ZZZ-NEW"0031R2L1#1234[#1234|whatever]'))
    assert checked(duh(env, T0)) == b'"DUH"0031R2L1#1234[]' + STAMP0.encode()
    assert checked(duh(None, T0)) == b'"DUH"0000R0L0A0[]' + STAMP0.encode()


# -- the time window ----------------------------------------------------------------------------


def stamped(t: datetime | None) -> frame.Message:
    return open_message(read_envelope(build("NULL", "0001", "1234", "", timestamp=t)), None)


@pytest.mark.parametrize(
    ("offset", "ok"),
    [(-41, False), (-40, True), (-39, True), (0, True), (19, True), (20, True), (21, False)],
)
def test_window_is_40s_behind_20s_ahead(offset: int, ok: bool) -> None:
    """DC-09 "+20/-40": a message stamped up to 40 s before our time (it was sent before we
    got it) or up to 20 s after it (a panel clock running fast) passes; edges are in."""
    assert timestamp_ok(stamped(T0 + timedelta(seconds=offset)), T0) is ok


def test_window_can_be_set_and_needs_names() -> None:
    msg = stamped(T0 - timedelta(seconds=60))
    assert not timestamp_ok(msg, T0)
    assert timestamp_ok(msg, T0, behind_s=60, ahead_s=0)
    assert not timestamp_ok(stamped(T0 + timedelta(seconds=1)), T0, behind_s=60, ahead_s=0)
    with pytest.raises(TypeError):
        timestamp_ok(msg, T0, 60, 0)  # type: ignore[misc]


def test_window_without_a_timestamp_or_in_another_zone() -> None:
    assert timestamp_ok(stamped(None), T0)
    zone = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")
    assert timestamp_ok(stamped(T0), T0.astimezone(zone))
    with pytest.raises(ValueError):
        timestamp_ok(stamped(T0), T0.replace(tzinfo=None))


# -- TCP: frames out of a stream ----------------------------------------------------------------

A = build("SIA-DCS", "0001", "1234", "#1234|Nri1/BA01", timestamp=T0)
B = build("SIA-DCS", "0002", "1234", "#1234|Nri1/BR01", key=KEYS[16], timestamp=T0)


def feed(chunks: list[bytes], max_frame: int = 1024) -> tuple[list[bytes | FrameError], bytearray]:
    buf = bytearray()
    out: list[bytes | FrameError] = []
    for chunk in chunks:
        buf += chunk
        out += split_stream(buf, max_frame)
        assert len(buf) <= max_frame
    return out, buf


def test_one_frame_split_at_every_byte() -> None:
    for i in range(1, len(B)):
        out, buf = feed([B[:i], B[i:]])
        assert out == [B] and buf == b""


def test_one_byte_at_a_time() -> None:
    out, buf = feed([bytes([b]) for b in A + B])
    assert out == [A, B] and buf == b""


def test_two_frames_in_one_read_and_a_half() -> None:
    out, buf = feed([A + B + A[:7]])
    assert out == [A, B] and buf == A[:7]


def test_garbage_between_frames_is_reported_and_frames_survive() -> None:
    out, buf = feed([b"GET / HTTP/1.1" + A + b"\x00junk\xff" + B])
    assert out[1] == A and out[3] == B and buf == b""
    assert [e.kind for e in out if isinstance(e, FrameError)] == ["format", "format"]
    assert "GET" in str(out[0])


def test_cr_lf_endings_and_stray_blanks_are_quiet() -> None:
    out, buf = feed([A + b"\n", B + b"\r\n", b"\0\0 ", A])
    assert out == [A, B, A]


def test_endless_garbage_stays_bounded() -> None:
    junk = bytes(range(256)).replace(b"\n", b"").replace(b"\r", b"") * 8
    out, buf = feed([junk] * 300 + [A])
    assert out[-1] == A and all(isinstance(x, FrameError) for x in out[:-1])


def test_a_frame_start_that_never_ends_stays_bounded() -> None:
    """Dropped once it passes max_frame; the rest of it is then noise."""
    out, buf = feed([b"\n" + b"7" * 100] + [b"8" * 100] * 20 + [A])
    kinds = [x.kind for x in out if isinstance(x, FrameError)]
    assert kinds[0] == "length" and set(kinds[1:]) == {"format"} and out[-1] == A


def test_a_frame_longer_than_max_frame() -> None:
    big = build("SIA-DCS", "0001", "1234", "#1234|Nri1/BA01^" + "x" * 600 + "^")
    out, buf = feed([big + A], max_frame=512)
    assert isinstance(out[0], FrameError) and out[0].kind == "length" and out[1:] == [A]


@given(
    st.lists(st.sampled_from([A, B, b"noise", b"\r", b"\n\r", b"\r\n"]), max_size=8),
    st.lists(st.integers(1, 60), min_size=1, max_size=20),
)
def test_any_chunking_gives_the_same_frames(parts: list[bytes], sizes: list[int]) -> None:
    stream = b"".join(parts)
    chunks, i, k = [], 0, 0
    while i < len(stream):
        n = sizes[k % len(sizes)]
        chunks.append(stream[i : i + n])
        i, k = i + n, k + 1
    out, buf = feed(chunks)
    whole, rest = feed([stream])
    assert [x for x in out if isinstance(x, bytes)] == [x for x in whole if isinstance(x, bytes)]
    assert buf == rest


# -- fuzz: nothing but FrameError ---------------------------------------------------------------


@FUZZ
@given(st.lists(st.binary(max_size=400), max_size=20), st.integers(16, 1100))
def test_fuzz_split_stream(chunks: list[bytes], max_frame: int) -> None:
    out, buf = feed(chunks, max_frame)
    for item in out:
        if isinstance(item, bytes):
            assert item[:1] == b"\n" and item[-1:] == b"\r" and len(item) <= max_frame
            assert b"\n" not in item[1:] and b"\r" not in item[:-1]
        else:
            assert item.kind in {"format", "length"}


def _deep(envelope: Envelope | None, key: bytes | None) -> None:
    """Everything a receiver does with a frame, up to the answer."""
    if envelope is None:
        return
    duh(envelope, T0)
    msg = open_message(envelope, key if envelope.encrypted else None)
    timestamp_ok(msg, T0)
    parse_data(envelope.token, msg.data, default_account=envelope.account)
    ack(envelope, key if envelope.encrypted else None, T0)


def _read(raw: bytes) -> Envelope | None:
    try:
        return read_envelope(raw)
    except FrameError as e:
        assert e.kind in KINDS
        return None


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_read_envelope(raw: bytes) -> None:
    _read(raw)
    _read(b"\n" + raw + b"\r")


TOKENS = st.sampled_from(
    [b"SIA-DCS", b"*SIA-DCS", b"ADM-CID", b"*ADM-CID", b"NULL", b"*NULL", b"X"]
)


@FUZZ
@given(TOKENS, st.binary(max_size=400), st.sampled_from([None, KEYS[16]]))
def test_fuzz_frames_with_a_good_crc(token: bytes, tail: bytes, key: bytes | None) -> None:
    try:
        _deep(_read(wrap(b'"' + token + b'"0001L0#1234' + tail)), key)
        _deep(_read(wrap(b'"' + token + b'"' + tail)), key)
    except FrameError as e:
        assert e.kind in KINDS


@FUZZ
@given(
    st.booleans(),
    st.binary(max_size=300),
    st.sampled_from([None, KEYS[16], KEYS[24], KEYS[32]]),
)
def test_fuzz_open_message(encrypted: bool, body: bytes, key: bytes | None) -> None:
    env = Envelope(b"", "SIA-DCS", encrypted, "0001", None, "0", "1234", b"[" + body)
    try:
        open_message(env, key)
    except FrameError as e:
        assert e.kind in KINDS


@FUZZ
@given(
    st.binary(min_size=16, max_size=256).map(lambda b: b[: len(b) // 16 * 16]),
    st.sampled_from(sorted(KEYS)),
)
def test_random_ciphertext_is_never_a_message(cipher: bytes, size: int) -> None:
    """What a wrong key (or a forger) produces is refused as "decrypt", never accepted."""
    env = Envelope(b"", "NULL", True, "0001", None, "0", "1234", b"[" + cipher.hex().encode())
    refused("decrypt", open_message, env, KEYS[size])


@FUZZ
@given(st.sampled_from(["SIA-DCS", "ADM-CID", "NULL", "ACK", ""]), st.text(max_size=200))
def test_fuzz_parse_data(token: str, data: str) -> None:
    try:
        account, events = parse_data(token, data)
    except FrameError as e:
        assert e.kind in {"format", "token"}
    else:
        assert all(isinstance(e, Event) for e in events)


# -- properties: build → read, and mutations ----------------------------------------------------

HEX = "0123456789ABCDEFabcdef"
TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="[]"), max_size=120
)
STAMPS = st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=0)
)


@st.composite
def panel_frames(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    size = draw(st.sampled_from([None, 16, 24, 32]))
    fields: dict[str, object] = {
        "token": draw(st.sampled_from(["SIA-DCS", "ADM-CID", "NULL"])),
        "sequence": f"{draw(st.integers(0, 9999)):04d}",
        "account": draw(st.text(HEX, min_size=3, max_size=16)),
        "data": draw(TEXT),
        "line": draw(st.text(HEX, min_size=1, max_size=6)),
        "receiver": draw(st.none() | st.text(HEX, min_size=1, max_size=6)),
        "key": draw(st.binary(min_size=size, max_size=size)) if size else None,
        "timestamp": draw(STAMPS if size else st.none() | STAMPS),
        "extended": draw(st.lists(TEXT, max_size=3)),
    }
    return build(**fields), fields  # type: ignore[arg-type]


@FUZZ
@given(panel_frames())
def test_build_then_read(case: tuple[bytes, dict[str, object]]) -> None:
    raw, f = case
    env = read_envelope(raw)
    key = f["key"]
    assert isinstance(key, bytes | None)
    assert (env.token, env.encrypted, env.sequence, env.receiver, env.line) == (
        f["token"],
        key is not None,
        f["sequence"],
        f["receiver"],
        f["line"],
    )
    assert env.account == str(f["account"]).upper()
    msg = open_message(env, key)
    assert (msg.data, msg.extended, msg.timestamp) == (
        f["data"],
        tuple(cast(list[str], f["extended"])),
        f["timestamp"],
    )
    answer = read_envelope(ack(env, key, T0))
    assert (answer.sequence, answer.receiver, answer.line, answer.account) == (
        env.sequence,
        env.receiver,
        env.line,
        env.account,
    )
    assert open_message(answer, key).data == ""


@FUZZ
@given(panel_frames(), st.data())
def test_mutated_frames_are_refused_or_unchanged(
    case: tuple[bytes, dict[str, object]], data: st.DataObject
) -> None:
    """One byte replaced, inserted or removed: refused, or (a hex digit of the header in
    the other case) read exactly as before."""
    raw, f = case
    key = f["key"]
    assert isinstance(key, bytes | None)
    original = open_message(read_envelope(raw), key)
    i = data.draw(st.integers(0, len(raw) - 1))
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    byte = bytes([data.draw(st.integers(0, 255))])
    if how == "replace":
        mutated = raw[:i] + byte + raw[i + 1 :]
    elif how == "insert":
        mutated = raw[:i] + byte + raw[i:]
    else:
        mutated = raw[:i] + raw[i + 1 :]
    if mutated == raw:
        return
    try:
        env = read_envelope(mutated)
        msg = open_message(env, key if env.encrypted else None)
    except FrameError as e:
        assert e.kind in KINDS
        return
    assert 1 <= i <= 8 and mutated[i : i + 1].lower() == raw[i : i + 1].lower()
    assert (msg.data, msg.extended, msg.timestamp) == (
        original.data,
        original.extended,
        original.timestamp,
    )


# -- the data: SIA and Contact ID ---------------------------------------------------------------

SIA_DATA = [
    ("#1234|Nri1/BA015", "1234", [Event("SIA", "BA", zone="15", partition="1")]),
    (
        "Nri1/BA01/BA02",
        "",
        [Event("SIA", "BA", zone="1", partition="1"), Event("SIA", "BA", zone="2", partition="1")],
    ),
    ("#12ab|NFA129", "12AB", [Event("SIA", "FA", zone="129")]),
    ("|Nri2/JC12", "", [Event("SIA", "JC", partition="2")]),  # JC: an area number
    ("NNL2", "", [Event("SIA", "NL", partition="2")]),  # "N" + the code NL
    ("NL2", "", [Event("SIA", "NL", partition="2")]),  # the code NL, no "N"
    (
        "Nid3/ri2/OP3^Zhang San^",
        "",
        [Event("SIA", "OP", partition="2", user="3", text="Zhang San")],
    ),
    ("Nri04/OP001NM", "", [Event("SIA", "OP", partition="4", user="1", text="NM")]),
    ("Nri1CL0^VX FRONTE ^", "", [Event("SIA", "CL", partition="1", user="0", text="VX FRONTE")]),
    ("Nti10:30/ri1/PA3", "", [Event("SIA", "PA", zone="3", partition="1", time="10:30")]),
    ("#1234|Nri1/HA2|A金库", "1234", [Event("SIA", "HA", zone="2", partition="1", text="金库")]),
    ("#1234|Nri1/BA1^a/b|c^", "1234", [Event("SIA", "BA", zone="1", partition="1", text="a/b|c")]),
    ("#1234|NRP", "1234", [Event("SIA", "RP")]),
    (
        "#1234|Nri1BA01*Familie*",
        "1234",
        [Event("SIA", "BA", zone="1", partition="1", text="Familie")],
    ),
]


@pytest.mark.parametrize(("data", "account", "events"), SIA_DATA, ids=[c[0] for c in SIA_DATA])
def test_sia_data(data: str, account: str, events: list[Event]) -> None:
    assert parse_data("SIA-DCS", data) == (account, events)


CID_DATA = [
    ("#1234|1130 01 015", "1234", Event("CID", "130", "E", zone="15", partition="1")),
    ("1130 01 015", "", Event("CID", "130", "E", zone="15", partition="1")),
    ("113001015", "", Event("CID", "130", "E", zone="15", partition="1")),
    ("|3130 01 015", "", Event("CID", "130", "R", zone="15", partition="1")),
    ("#4F39|3401 01 057", "4F39", Event("CID", "401", "R", partition="1", user="57")),
    ("1401 00 000", "", Event("CID", "401", "E")),
    ("1602 00 000", "", Event("CID", "602", "E")),
    ("6130 12 100", "", Event("CID", "130", "P", zone="100", partition="12")),
]


@pytest.mark.parametrize(("data", "account", "event"), CID_DATA, ids=[c[0] for c in CID_DATA])
def test_contact_id_data(data: str, account: str, event: Event) -> None:
    assert parse_data("ADM-CID", data) == (account, [event])


DATA_REFUSALS = [
    ("SIA-DCS", "", "no event"),
    ("SIA-DCS", "#1234|", "no event"),
    ("SIA-DCS", "#12G4|NBA1", "account"),
    ("SIA-DCS", "N123", "'N123'"),
    ("SIA-DCS", "Nri1/ba01", "no event"),
    ("ADM-CID", "#1234|5130 01 015", "qualifier 5"),
    ("ADM-CID", "#1234|1130 01", "Q EEE GG ZZZ"),
    ("ADM-CID", "#1234|1130 01 015 7", "Q EEE GG ZZZ"),
    ("ADM-CID", "", "Q EEE GG ZZZ"),
    ("ADM-CID", "١١٣٠ ٠١ ٠١٥", "Q EEE GG ZZZ"),  # digits, but not ASCII ones
]


@pytest.mark.parametrize(("token", "data", "says"), DATA_REFUSALS)
def test_data_refusals_name_the_bad_part(token: str, data: str, says: str) -> None:
    assert says in str(refused("format", parse_data, token, data))


def test_null_carries_no_event_whatever_its_data() -> None:
    assert parse_data("NULL", "") == ("", [])
    assert parse_data("NULL", "", default_account="000") == ("000", [])
    assert parse_data("NULL", "#0000|0000 00 000") == ("0000", [])  # pysiaalarm issue #42
    assert parse_data("NULL", "#zz|x", default_account="1") == ("1", [])


def test_unknown_token() -> None:
    assert "ACK" in str(refused("token", parse_data, "ACK", "#1234|NBA1"))
