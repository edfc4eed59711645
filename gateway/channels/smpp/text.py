"""SMS text as SMPP 3.4 carries it: decoding, encoding, splitting and the UDH. Pure, no I/O.

Codings (`data_coding`, SMPP 3.4 §5.2.19 for 0x00-0x0F, 3GPP TS 23.038 §4 above):

- 0x00 is the GSM 7-bit default alphabet *unpacked*, one septet per octet, which is how
  SMPP carries it in short_message (packed septets, which some SMSCs put in
  message_payload, go through `unpack_septets` first). The escape 0x1B selects the
  extension table (€ ^ { } [ ] ~ \\ | and form feed); an escape followed by a code the
  extension table does not define decodes as that code's default-table character, as
  23.038 §6.2.1.1 tells a receiver to; an escape followed by another escape (reserved for
  a further extension table) and an escape at the very end of the text decode as a space.
- 0x01 IA5/ASCII, 0x03 Latin-1, 0x06 ISO-8859-5 (Cyrillic), 0x07 ISO-8859-8 (Hebrew).
- 0x08 UCS2, decoded as strict UTF-16BE, as handsets send it: a surrogate pair is one
  character outside the BMP; an odd length or a lone surrogate is `BadText`.
- 0x02 and 0x04 (octets, unspecified) are binary: `decode` returns None and the caller keeps
  the bytes.
- 23.038 coding groups: 0x10-0x3F (general) and 0x40-0x7F (automatic deletion) take the
  alphabet from bits 3-2 (GSM 7-bit, 8-bit binary, UCS2); compressed text (bit 5) is not
  supported. 0xC0-0xDF (message waiting) are GSM 7-bit, 0xE0-0xEF UCS2, 0xF0-0xFF GSM
  7-bit or binary by bit 2.
- Anything else (JIS, KS C 5601, pictograms, reserved values) is `BadText` naming the value.

Decoded text keeps every control character the sender put in (not only CR, LF and TAB);
cleaning it up is the caller's business.
"""

from __future__ import annotations

from dataclasses import dataclass

# 3GPP TS 23.038 §6.2.1: the default alphabet, indexed by septet (0x1B is the escape).
_DEFAULT = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# §6.2.1.1: the extension table, reached by the escape 0x1B.
_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
ESCAPE = 0x1B
_ENCODE_DEFAULT = {c: i for i, c in enumerate(_DEFAULT) if i != ESCAPE}
_ENCODE_EXTENSION = {c: i for i, c in _EXTENSION.items()}

GSM7_CHARACTERS = frozenset(_ENCODE_DEFAULT)
"""The characters of the default table (one septet each)."""
GSM7_EXTENSION_CHARACTERS = frozenset(_ENCODE_EXTENSION)
"""The characters of the extension table (an escape and a septet each)."""

_GSM7, _BINARY, _UCS2 = "gsm7", "binary", "ucs2"
# The SMPP 3.4 §5.2.19 codings supported: ours, or a Python codec name.
_SMPP_CODINGS = {
    0x00: _GSM7,
    0x01: "ascii",
    0x02: _BINARY,
    0x03: "latin-1",
    0x04: _BINARY,
    0x06: "iso8859-5",
    0x07: "iso8859-8",
    0x08: _UCS2,
    # Not in SMPP 3.4 (0x0F is reserved there), but what Chinese operators' gateways use
    # for GBK, after CMPP and SGIP: an SMS reaching 12110 through one is GBK text.
    0x0F: "gbk",
}

SINGLE_GSM7 = 160  # septets in one SMS
SINGLE_UCS2 = 70  # UTF-16 code units in one SMS
PART_GSM7 = 153  # septets in one part after a 6-octet UDH
PART_UCS2 = 67  # UTF-16 code units in one part after a 6-octet UDH
MAX_PARTS = 255


class BadText(ValueError):
    """A message that cannot be decoded: `field` is where (short_message, data_coding, udh),
    `problem` what is wrong, in plain English."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _alphabet(data_coding: int) -> str:
    """gsm7, binary, ucs2 or a Python codec name for `data_coding`, or BadText."""
    dc = data_coding
    if dc in _SMPP_CODINGS:
        return _SMPP_CODINGS[dc]
    if 0x10 <= dc <= 0x7F:  # general data coding and automatic deletion groups
        if dc & 0x20:
            raise BadText("data_coding", f"data_coding {dc:#04x}: compressed text is not supported")
        alphabet = (dc >> 2) & 0x03
        if alphabet == 3:
            raise BadText("data_coding", f"data_coding {dc:#04x} names a reserved alphabet")
        return (_GSM7, _BINARY, _UCS2)[alphabet]
    if 0xC0 <= dc <= 0xDF:  # message waiting indication, GSM 7-bit
        return _GSM7
    if 0xE0 <= dc <= 0xEF:  # message waiting indication, UCS2
        return _UCS2
    if 0xF0 <= dc <= 0xFF:  # data coding/message class
        return _BINARY if dc & 0x04 else _GSM7
    raise BadText("data_coding", f"data_coding {dc:#04x} ({dc}) is not a supported coding")


def decode(data: bytes, data_coding: int, *, field: str = "short_message") -> str | None:
    """The text of `data` in `data_coding`; None for binary codings. BadText if it is not
    valid in that coding (`field` names where `data` came from in the error)."""
    alphabet = _alphabet(data_coding)
    if alphabet == _BINARY:
        return None
    if alphabet == _GSM7:
        return _decode_gsm7(data, field)
    if alphabet == _UCS2:
        return _decode_ucs2(data, field)
    try:
        return data.decode(alphabet, "strict")
    except UnicodeDecodeError as e:
        raise BadText(
            field,
            f"octet {data[e.start]:#04x} at offset {e.start} is not valid in "
            f"data_coding {data_coding:#04x} ({alphabet})",
        ) from None


def _decode_gsm7(data: bytes, field: str) -> str:
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        b = data[i]
        if b > 0x7F:
            raise BadText(
                field, f"octet {b:#04x} at offset {i} is not a GSM 7-bit septet (over 0x7f)"
            )
        if b != ESCAPE:
            out.append(_DEFAULT[b])
            i += 1
            continue
        if i + 1 == n:  # an escape with nothing after it
            out.append(" ")
            break
        nxt = data[i + 1]
        if nxt > 0x7F:
            raise BadText(
                field,
                f"octet {nxt:#04x} at offset {i + 1} is not a GSM 7-bit septet (over 0x7f)",
            )
        if nxt == ESCAPE:  # reserved for a further extension table: a space (23.038)
            out.append(" ")
        else:
            out.append(_EXTENSION.get(nxt, _DEFAULT[nxt]))
        i += 2
    return "".join(out)


def _decode_ucs2(data: bytes, field: str) -> str:
    if len(data) % 2:
        raise BadText(field, f"UCS2 text has an odd number of bytes ({len(data)})")
    try:
        return data.decode("utf-16-be", "strict")
    except UnicodeDecodeError as e:
        unit = int.from_bytes(data[e.start & ~1 : (e.start & ~1) + 2], "big")
        kind = "high" if 0xD800 <= unit <= 0xDBFF else "low"
        raise BadText(
            field,
            f"UCS2 text has a lone {kind} surrogate {unit:#06x} at offset {e.start & ~1}",
        ) from None


def gsm7_length(text: str) -> int | None:
    """Septets `text` takes in the GSM 7-bit alphabet (an extension character takes two),
    or None if some character is not in it."""
    n = 0
    for c in text:
        if c in _ENCODE_DEFAULT:
            n += 1
        elif c in _ENCODE_EXTENSION:
            n += 2
        else:
            return None
    return n


def encode_gsm7(text: str) -> bytes | None:
    """`text` as unpacked GSM 7-bit septets (one per octet, extension characters as the
    escape and a septet), or None if some character is not in the alphabet."""
    out = bytearray()
    for c in text:
        septet = _ENCODE_DEFAULT.get(c)
        if septet is not None:
            out.append(septet)
            continue
        septet = _ENCODE_EXTENSION.get(c)
        if septet is None:
            return None
        out += bytes((ESCAPE, septet))
    return bytes(out)


def encode_ucs2(text: str) -> bytes:
    """`text` as UCS2 the way handsets send it: UTF-16BE, so a character outside the BMP
    (an emoji, a rare CJK ideograph) becomes a surrogate pair, two code units. A str holding
    a lone surrogate raises UnicodeEncodeError (a ValueError)."""
    return text.encode("utf-16-be", "strict")


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Septets (each < 0x80) packed into octets least significant bit first, after
    `fill_bits` (0-6) zero bits, which align the first septet after a UDH (TS 23.040)."""
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0 to 6, not {fill_bits}")
    out = bytearray()
    acc, nbits = 0, fill_bits
    for i, s in enumerate(septets):
        if s > 0x7F:
            raise ValueError(f"{s:#04x} at offset {i} is not a septet")
        acc |= s << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(
    data: bytes, count: int, fill_bits: int = 0, *, field: str = "short_message"
) -> bytes:
    """`count` septets (one per octet) from packed `data`, skipping `fill_bits` (0-6)
    first; BadText if `data` is too short to hold them."""
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0 to 6, not {fill_bits}")
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    if fill_bits + 7 * count > 8 * len(data):
        raise BadText(
            field,
            f"{len(data)} octets cannot hold {count} packed septets"
            + (f" after {fill_bits} fill bits" if fill_bits else ""),
        )
    value = int.from_bytes(data, "little") >> fill_bits
    return bytes((value >> (7 * i)) & 0x7F for i in range(count))


def _concat_udh(ref: int, total: int, seq: int) -> bytes:
    return bytes((0x05, 0x00, 0x03, ref, total, seq))


def split_for_sending(text: str, ref: int) -> tuple[int, list[bytes]]:
    """`text` as short_message values: (data_coding, parts).

    The coding is 0 (GSM 7-bit, unpacked) if every character is in the GSM alphabet, else 8
    (UCS2). Text that fits one SMS (160 septets, 70 UTF-16 code units) is one part without
    a UDH; longer text is split into parts of at most 153 septets or 67 code units, each
    after a 6-octet concatenation UDH (05 00 03 ref total seq), never splitting an escape
    pair or a surrogate pair. The caller sets esm_class UDHI (0x40) when there are several
    parts. ValueError if `ref` is not 0-255 or the text needs more than 255 parts.
    """
    if not 0 <= ref <= 0xFF:
        raise ValueError(f"ref must be 0 to 255, not {ref}")
    gsm = encode_gsm7(text)
    if gsm is not None:  # one septet per octet
        coding, unit_octets, single, part_size = 0, 1, SINGLE_GSM7, PART_GSM7
        whole = gsm
    else:  # two octets per UTF-16 code unit
        coding, unit_octets, single, part_size = 8, 2, SINGLE_UCS2, PART_UCS2
        whole = encode_ucs2(text)
    if len(whole) // unit_octets <= single:
        return coding, [whole]
    if coding == 0:
        units = [encode_gsm7(c) or b"" for c in text]
    else:
        units = [encode_ucs2(c) for c in text]
    # Split between characters: an escape pair or a surrogate pair stays in one part.
    chunks: list[bytes] = []
    current = bytearray()
    used = 0
    for unit in units:
        n = len(unit) // unit_octets
        if used + n > part_size:
            chunks.append(bytes(current))
            current, used = bytearray(), 0
        current += unit
        used += n
    if current:
        chunks.append(bytes(current))
    if len(chunks) > MAX_PARTS:
        raise ValueError(f"the text needs {len(chunks)} parts, more than {MAX_PARTS}")
    total = len(chunks)
    return coding, [_concat_udh(ref, total, i + 1) + c for i, c in enumerate(chunks)]


@dataclass(frozen=True, slots=True)
class Concat:
    """A concatenation IE: part `seq` (1-based) of `total`, message reference `ref` (8 or
    16 bits)."""

    ref: int
    total: int
    seq: int


@dataclass(frozen=True, slots=True)
class Udh:
    """A parsed user data header: the concatenation IE if there is one (the last, if it is
    repeated, as TS 23.040 §9.2.3.24 says), every IE as (IEI, data), and its size in octets
    with the length octet."""

    concat: Concat | None
    ies: tuple[tuple[int, bytes], ...]
    size: int

    @property
    def fill_bits(self) -> int:
        """Zero bits between the UDH and the first packed GSM 7-bit septet."""
        return (7 - (8 * self.size) % 7) % 7


def parse_udh(short_message: bytes) -> tuple[Udh, bytes]:
    """The UDH at the start of `short_message` (esm_class UDHI set) and the user data after
    it. Unknown IEs are kept in `ies` and otherwise skipped; BadText(field "udh") for a
    header that does not fit or a concatenation IE that makes no sense."""
    if not short_message:
        raise BadText("udh", "the message is empty, there is no UDH length octet")
    udhl = short_message[0]
    end = 1 + udhl
    if end > len(short_message):
        raise BadText(
            "udh",
            f"UDH length {udhl} goes beyond the {len(short_message) - 1} octets after it",
        )
    ies: list[tuple[int, bytes]] = []
    concat: Concat | None = None
    i = 1
    while i < end:
        if i + 2 > end:
            raise BadText("udh", f"an IE at offset {i} has no length octet inside the UDH")
        iei, iedl = short_message[i], short_message[i + 1]
        if i + 2 + iedl > end:
            raise BadText(
                "udh", f"IE {iei:#04x} at offset {i} has length {iedl}, beyond the UDH length"
            )
        ie = bytes(short_message[i + 2 : i + 2 + iedl])
        ies.append((iei, ie))
        if iei in (0x00, 0x08):
            concat = _parse_concat(iei, ie)
        i += 2 + iedl
    return Udh(concat, tuple(ies), end), bytes(short_message[end:])


def _parse_concat(iei: int, ie: bytes) -> Concat:
    want = 3 if iei == 0x00 else 4
    if len(ie) != want:
        raise BadText(
            "udh", f"concatenation IE {iei:#04x} has length {len(ie)}, it should be {want}"
        )
    ref = ie[0] if iei == 0x00 else int.from_bytes(ie[0:2], "big")
    total, seq = ie[-2], ie[-1]
    if total == 0:
        raise BadText("udh", "concatenation IE says the message has 0 parts")
    if not 1 <= seq <= total:
        raise BadText("udh", f"concatenation IE says part {seq} of {total}")
    return Concat(ref, total, seq)
