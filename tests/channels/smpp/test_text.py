"""SMS text coding (gateway.channels.smpp.text): tables, spec vectors, errors, properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.channels.smpp.text import (
    GSM7_CHARACTERS,
    GSM7_EXTENSION_CHARACTERS,
    BadText,
    Concat,
    decode,
    encode_gsm7,
    encode_ucs2,
    gsm7_length,
    pack_septets,
    parse_udh,
    split_for_sending,
    unpack_septets,
)

# 23.038 §6.2.1, row by row (0x1B, the escape, as "\x1b").
DEFAULT_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION_TABLE = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
gsm_text = st.text(alphabet=sorted(GSM7_CHARACTERS | GSM7_EXTENSION_CHARACTERS))


@pytest.mark.parametrize(
    ("septet", "char"), [(i, c) for i, c in enumerate(DEFAULT_TABLE) if i != 0x1B]
)
def test_default_table(septet: int, char: str) -> None:
    assert encode_gsm7(char) == bytes([septet])
    assert decode(bytes([septet]), 0) == char
    assert gsm7_length(char) == 1


@pytest.mark.parametrize(("char", "septet"), sorted(EXTENSION_TABLE.items()))
def test_extension_table(char: str, septet: int) -> None:
    assert encode_gsm7(char) == bytes([0x1B, septet])
    assert decode(bytes([0x1B, septet]), 0) == char
    assert gsm7_length(char) == 2


def test_tables_are_complete() -> None:
    assert len(GSM7_CHARACTERS) == 127
    assert GSM7_EXTENSION_CHARACTERS == set(EXTENSION_TABLE)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\x1b\x41", "A"),  # unknown extension code: the default table's character
        (b"\x1b\x0d", "\r"),  # CR2 in the extension table: the default table's CR
        (b"\x1b\x1b\x41", " A"),  # escape to a further table: a space
        (b"ab\x1b", "ab "),  # escape at the end: a space
        (b"\x00\x07\x01", "@ì£"),
        (b"\x1b\x65 5", "€ 5"),
    ],
)
def test_gsm7_escape_corner_cases(data: bytes, text: str) -> None:
    assert decode(data, 0) == text


@pytest.mark.parametrize("text", ["ç", "中", "😀", "\t", "\x1b", "ab`", "a\x00"])
def test_not_gsm7(text: str) -> None:
    assert encode_gsm7(text) is None
    assert gsm7_length(text) is None


@pytest.mark.parametrize("data", [b"\x80", b"ab\xff", b"\x1b\x80"])
def test_gsm7_octet_over_0x7f(data: bytes) -> None:
    with pytest.raises(BadText) as e:
        decode(data, 0)
    assert e.value.field == "short_message"
    assert "not a GSM 7-bit septet" in e.value.problem


@pytest.mark.parametrize(
    ("septets", "fill", "packed"),
    [
        (b"hellohello", 0, bytes.fromhex("E8329BFD4697D9EC37")),
        (b"hello", 0, bytes.fromhex("E8329BFD06")),
        (b"\x00" * 8, 0, bytes(7)),
        (b"\x7f" * 8, 0, b"\xff" * 7),
        (b"A", 1, b"\x82"),  # 0x41 after one fill bit
        (b"", 0, b""),
    ],
)
def test_pack_vectors(septets: bytes, fill: int, packed: bytes) -> None:
    assert pack_septets(septets, fill) == packed
    assert unpack_septets(packed, len(septets), fill) == septets


def test_pack_rejects_octets_and_bad_fill() -> None:
    with pytest.raises(ValueError):
        pack_septets(b"\x80")
    with pytest.raises(ValueError):
        pack_septets(b"a", 7)
    with pytest.raises(ValueError):
        unpack_septets(b"a", 1, -1)


def test_unpack_too_short() -> None:
    with pytest.raises(BadText) as e:
        unpack_septets(b"\xe8\x32", 3)
    assert e.value.problem == "2 octets cannot hold 3 packed septets"


@given(st.binary().map(lambda b: bytes(x & 0x7F for x in b)), st.integers(0, 6))
def test_pack_unpack_round_trip(septets: bytes, fill: int) -> None:
    assert unpack_septets(pack_septets(septets, fill), len(septets), fill) == septets


@given(gsm_text)
def test_gsm7_round_trip(text: str) -> None:
    data = encode_gsm7(text)
    assert data is not None
    assert len(data) == gsm7_length(text)
    assert decode(data, 0) == text


@given(st.text())
def test_ucs2_round_trip(text: str) -> None:
    assert decode(encode_ucs2(text), 8) == text


def test_ucs2_astral_is_a_surrogate_pair() -> None:
    assert encode_ucs2("😀") == b"\xd8\x3d\xde\x00"
    assert decode(b"\x4e\x2d\xd8\x3d\xde\x00", 8) == "中😀"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x00a\x00b\x00c\x00", "UCS2 text has an odd number of bytes (7)"),
        (b"\xd8\x3d", "UCS2 text has a lone high surrogate 0xd83d at offset 0"),
        (b"\xd8\x3d\x00a", "UCS2 text has a lone high surrogate 0xd83d at offset 0"),
        (b"\x00a\xde\x00", "UCS2 text has a lone low surrogate 0xde00 at offset 2"),
        (b"\xde\x00\xd8\x3d", "UCS2 text has a lone low surrogate 0xde00 at offset 0"),
    ],
)
def test_ucs2_errors(data: bytes, problem: str) -> None:
    with pytest.raises(BadText) as e:
        decode(data, 8)
    assert (e.value.field, e.value.problem) == ("short_message", problem)


def test_ascii_and_latin1() -> None:
    assert decode(b"Help! 110", 1) == "Help! 110"
    with pytest.raises(BadText, match="octet 0xe9 at offset 1"):
        decode(b"f\xe9", 1)
    assert decode(bytes(range(256)), 3) == bytes(range(256)).decode("latin-1")
    assert decode(b"caf\xe9", 3) == "café"
    assert decode(b"\xb0", 6) == "А"  # Cyrillic capital A
    with pytest.raises(BadText):
        decode(b"\xa1", 7)  # undefined in ISO-8859-8


def test_control_characters_are_kept() -> None:
    assert decode(b"a\x00\x07\x1bb", 3) == "a\x00\x07\x1bb"


@pytest.mark.parametrize(
    ("data_coding", "data", "text"),
    [
        (0x00, b"\x1b\x65", "€"),
        (0x01, b"ab", "ab"),
        (0x02, b"\xff", None),
        (0x03, b"\xe9", "é"),
        (0x04, b"\xff", None),
        (0x08, b"\x4e\x2d", "中"),
        (0x10, b"\x1b\x65", "€"),  # general group, class 0, GSM 7-bit
        (0x11, b"\x41", "A"),
        (0x14, b"\xff", None),  # general group, 8-bit data
        (0x18, b"\x4e\x2d", "中"),  # general group, class 0, UCS2
        (0x48, b"\x4e\x2d", "中"),  # automatic deletion group, UCS2
        (0xC0, b"\x41", "A"),  # message waiting, discard, GSM 7-bit
        (0xD8, b"\x41", "A"),  # message waiting, store, GSM 7-bit
        (0xE0, b"\x4e\x2d", "中"),  # message waiting, store, UCS2
        (0xF0, b"\x41", "A"),  # class 0 (flash), GSM 7-bit
        (0xF1, b"\x1b\x14", "^"),
        (0xF4, b"\xff", None),  # 8-bit data
        (0xF6, b"\xff", None),
    ],
)
def test_data_coding_groups(data_coding: int, data: bytes, text: str | None) -> None:
    assert decode(data, data_coding) == text


@pytest.mark.parametrize(
    ("data_coding", "words"),
    [
        (0x05, "0x05 (5) is not a supported coding"),
        (0x09, "0x09 (9) is not a supported coding"),
        (0x0E, "0x0e (14) is not a supported coding"),
        (0x0C, "0x0c (12) is not a supported coding"),
        (0x1C, "names a reserved alphabet"),
        (0x20, "compressed text is not supported"),
        (0x80, "0x80 (128) is not a supported coding"),
        (0xBF, "0xbf (191) is not a supported coding"),
        (0x100, "0x100 (256) is not a supported coding"),
        (-1, "is not a supported coding"),
    ],
)
def test_unsupported_data_coding(data_coding: int, words: str) -> None:
    with pytest.raises(BadText) as e:
        decode(b"a", data_coding)
    assert e.value.field == "data_coding"
    assert words in e.value.problem


def test_bad_text_message_names_the_field() -> None:
    with pytest.raises(BadText) as e:
        decode(b"\x00", 8, field="message_payload")
    assert str(e.value) == "message_payload: UCS2 text has an odd number of bytes (1)"
    assert isinstance(e.value, ValueError)


@given(st.binary(max_size=300), st.integers(0, 255))
def test_decode_arbitrary_bytes_only_bad_text(data: bytes, data_coding: int) -> None:
    try:
        text = decode(data, data_coding)
    except BadText:
        return
    assert text is None or isinstance(text, str)


# split_for_sending


def parts_of(text: str, ref: int = 7) -> tuple[int, list[bytes]]:
    coding, parts = split_for_sending(text, ref)
    if len(parts) > 1:
        for seq, part in enumerate(parts, 1):
            assert part[:6] == bytes((5, 0, 3, ref, len(parts), seq))
    return coding, parts


def test_split_short_gsm() -> None:
    assert split_for_sending("", 1) == (0, [b""])
    assert split_for_sending("a" * 160, 1) == (0, [b"a" * 160])
    assert split_for_sending("€" * 80, 1) == (0, [b"\x1b\x65" * 80])


def test_split_161_gsm() -> None:
    coding, parts = parts_of("a" * 161)
    assert coding == 0
    assert [len(p) - 6 for p in parts] == [153, 8]


def test_split_escape_at_boundary() -> None:
    coding, parts = parts_of("a" * 152 + "€" + "b" * 10)
    assert coding == 0
    assert parts[0][6:] == b"a" * 152  # 152 + 2 would be 154: the pair goes whole to part 2
    assert parts[1][6:] == b"\x1b\x65" + b"b" * 10


def test_split_chinese() -> None:
    text = "".join(chr(0x4E00 + i) for i in range(200))
    coding, parts = parts_of(text, ref=200)
    assert coding == 8
    assert len(parts) == 3
    assert [(len(p) - 6) // 2 for p in parts] == [67, 67, 66]
    assert "".join(parse_udh_text(p) for p in parts) == text


def test_split_short_ucs2() -> None:
    assert split_for_sending("中" * 70, 0) == (8, ["中".encode("utf-16-be") * 70])
    coding, parts = parts_of("中" * 71)
    assert [(len(p) - 6) // 2 for p in parts] == [67, 4]
    # 35 emoji are 70 code units: one SMS
    assert len(split_for_sending("😀" * 35, 0)[1]) == 1


def test_split_emoji_at_boundary() -> None:
    text = "中" * 66 + "😀" + "中" * 10
    coding, parts = parts_of(text)
    assert coding == 8
    assert (len(parts[0]) - 6) // 2 == 66  # 66 + 2 would be 68
    assert parts[1][6:10] == b"\xd8\x3d\xde\x00"
    assert "".join(parse_udh_text(p) for p in parts) == text


def test_split_limits() -> None:
    with pytest.raises(ValueError):
        split_for_sending("a", 256)
    assert len(split_for_sending("a" * 153 * 255, 0)[1]) == 255
    with pytest.raises(ValueError, match="256 parts"):
        split_for_sending("a" * (153 * 255 + 1), 0)


def parse_udh_text(part: bytes) -> str:
    _, payload = parse_udh(part)
    text = decode(payload, 8)
    assert text is not None
    return text


# parse_udh


@pytest.mark.parametrize(
    ("data", "concat", "ies", "payload"),
    [
        (b"\x05\x00\x03\x2a\x03\x02hi", Concat(0x2A, 3, 2), ((0, b"\x2a\x03\x02"),), b"hi"),
        (
            b"\x06\x08\x04\x12\x34\x02\x01",
            Concat(0x1234, 2, 1),
            ((8, b"\x12\x34\x02\x01"),),
            b"",
        ),
        # an unknown IE (port addressing) before the concatenation IE
        (
            b"\x0b\x05\x04\x0b\x84\x23\xf0\x00\x03\x01\x02\x02x",
            Concat(1, 2, 2),
            ((5, b"\x0b\x84\x23\xf0"), (0, b"\x01\x02\x02")),
            b"x",
        ),
        # repeated concatenation IE: the last one counts
        (
            b"\x0a\x00\x03\x01\x02\x01\x00\x03\x09\x02\x02",
            Concat(9, 2, 2),
            ((0, b"\x01\x02\x01"), (0, b"\x09\x02\x02")),
            b"",
        ),
        (b"\x00abc", None, (), b"abc"),
        (b"\x02\x70\x00", None, ((0x70, b""),), b""),
    ],
)
def test_parse_udh(
    data: bytes, concat: Concat | None, ies: tuple[tuple[int, bytes], ...], payload: bytes
) -> None:
    udh, rest = parse_udh(data)
    assert (udh.concat, udh.ies, udh.size, rest) == (concat, ies, data[0] + 1, payload)


def test_udh_fill_bits() -> None:
    assert parse_udh(b"\x05\x00\x03\x01\x02\x01")[0].fill_bits == 1  # 153 septets remain
    assert parse_udh(b"\x06\x08\x04\x00\x01\x02\x01")[0].fill_bits == 0


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "the message is empty, there is no UDH length octet"),
        (b"\x05\x00\x03\x01", "UDH length 5 goes beyond the 3 octets after it"),
        (b"\x01\x00", "an IE at offset 1 has no length octet inside the UDH"),
        (b"\x03\x00\x03\x01\x02\x01", "IE 0x00 at offset 1 has length 3, beyond the UDH length"),
        (b"\x04\x00\x02\x01\x02", "concatenation IE 0x00 has length 2, it should be 3"),
        (b"\x05\x08\x03\x01\x02\x01", "concatenation IE 0x08 has length 3, it should be 4"),
        (b"\x05\x00\x03\x01\x00\x00", "concatenation IE says the message has 0 parts"),
        (b"\x05\x00\x03\x01\x02\x00", "concatenation IE says part 0 of 2"),
        (b"\x05\x00\x03\x01\x02\x03", "concatenation IE says part 3 of 2"),
    ],
)
def test_parse_udh_bad(data: bytes, problem: str) -> None:
    with pytest.raises(BadText) as e:
        parse_udh(data)
    assert (e.value.field, e.value.problem) == ("udh", problem)


@given(st.binary(max_size=200))
def test_parse_udh_arbitrary_bytes_only_bad_text(data: bytes) -> None:
    try:
        udh, payload = parse_udh(data)
    except BadText:
        return
    assert udh.size + len(payload) == len(data)
