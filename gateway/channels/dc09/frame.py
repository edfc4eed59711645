"""SIA DC-09 frames as an alarm receiver reads and answers them: bytes in, values out.

A frame (ANSI/SIA DC-09-2013, "Internet Protocol Event Reporting")::

    LF crc 0LLL "id" seq [Rrcvr] Lpref #acct [data][x-data]... [_HH:MM:SS,MM-DD-YYYY] CR

- ``crc``: CRC-16/ARC (poly 0xA001 reflected, init 0) of the bytes from the first ``"`` to
  the byte before CR, as 4 hex digits; ``0LLL``: the count of those same bytes, in hex.
- ``id``: the token (``SIA-DCS``, ``ADM-CID``, ``NULL`` …), ``*`` in front when encrypted.
- ``seq`` 4 decimal digits; ``R`` receiver and ``L`` line prefix 1–6 hex digits (``L`` is
  required, ``R`` optional); ``#acct`` 3–16 hex digits.
- Clear: ``[data]`` then extended-data blocks (``[X…]`` longitude, ``[Y…]`` latitude,
  ``[H…]`` …) then the timestamp, optional when clear. Encrypted: everything after the ``[``
  is hex of AES-CBC (zero IV, 128/192/256-bit key) over ``pad|data]…_timestamp``, the pad
  pseudo-random characters other than ``|``, ``[``, ``]`` bringing the length to a multiple
  of 16. An encrypted message must carry its timestamp: it is what stops a replay.

The time window (DC-09 "Timestamp"): a receiver refuses a message stamped more than 20 s
ahead of its clock or more than 40 s behind it ("+20/-40"), and its NAK carries its own time
so that the panel can correct its clock. A message is sent before it is received, hence the
wider margin in the past.

Nothing here does I/O or reads a clock: the caller passes ``now``. Every refusal is a
`FrameError` whose ``kind`` the receiver counts and whose text says what is wrong.
pysiaalarm is not used: it treats one TCP read as one message, answers a missing receiver
with a literal ``None``, sends the key in clear in a ``[K…]`` block, and lets a wrong length
pass; its encrypted ACK also lacks the ``|`` after the pad.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.channels.dc09.codes import CID_USER_CODES, SIA_AREA_CODES, SIA_USER_CODES

LF = 0x0A
CR = 0x0D
KEY_SIZES = (16, 24, 32)  # AES-128/192/256
TOKENS = frozenset({"SIA-DCS", "ADM-CID", "NULL"})  # what parse_data reads
MAX_LENGTH = 0xFFF  # 0LLL: three hex digits

ErrorKind = Literal[
    "crc",
    "length",
    "format",
    "token",
    "decrypt",
    "unencrypted",
    "encrypted_without_key",
    "timestamp",
]


class FrameError(ValueError):
    """A frame we do not accept; ``kind`` for counting, ``str()`` for the log."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind

    def __reduce__(self) -> tuple[type[FrameError], tuple[ErrorKind, str]]:
        return (FrameError, (self.kind, str(self)))


@dataclass(frozen=True, slots=True)
class Envelope:
    """What can be read without a key."""

    raw: bytes  # the whole frame, LF … CR
    token: str  # without the '*'
    encrypted: bool
    sequence: str  # 4 digits, as on the wire
    receiver: str | None  # without 'R', as on the wire
    line: str  # without 'L', as on the wire
    account: str  # without '#', upper case
    body: bytes  # from the '[' to the byte before CR


@dataclass(frozen=True, slots=True)
class Message:
    envelope: Envelope
    data: str  # between the '[' and its ']', decrypted and without the pad
    extended: tuple[str, ...]  # the [X…] [Y…] … blocks, without brackets
    timestamp: datetime | None  # aware, UTC


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a message's data, in SIA (DC-03/DC-07) or Contact ID (DC-05) terms."""

    protocol: Literal["SIA", "CID"]
    code: str  # SIA "BA"; Contact ID "130"
    qualifier: str | None = None  # Contact ID: E new/opening, R restore/closing, P still present
    zone: str | None = None  # zone/point number, leading zeros stripped
    partition: str | None = None  # SIA ri / area; Contact ID group ("00" → None)
    user: str | None = None  # SIA id / user-number codes; Contact ID user (open/close …)
    text: str = ""  # free text (SIA ^…^ or an A block)
    time: str | None = None  # SIA ti "HH:MM"


# -- CRC and the frame around a content -------------------------------------------------------


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        c = byte
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC, DC-09's frame check (check value: crc16(b"123456789") == 0xBB3D)."""
    c = 0
    for byte in data:
        c = (c >> 8) ^ _CRC_TABLE[(c ^ byte) & 0xFF]
    return c


def wrap(content: bytes) -> bytes:
    """LF, CRC, 0LLL, `content` (from the first '"'), CR."""
    if len(content) > MAX_LENGTH:
        raise ValueError(f"a DC-09 frame holds at most {MAX_LENGTH} bytes, not {len(content)}")
    return b"\n%04X%04X%s\r" % (crc16(content), len(content), content)


# -- TCP: frames out of a byte stream ---------------------------------------------------------

_BLANK = b" \t\r\n\0"


def split_stream(buf: bytearray, max_frame: int = 1024) -> list[bytes | FrameError]:
    """Take the complete frames off the front of `buf` (which is changed), in order.

    A frame is the bytes from the last LF before a CR to that CR: a frame holds neither, so
    what precedes that LF is noise (a stray CR or LF of a CR LF ending is dropped quietly,
    anything else is reported). What is left in `buf` is the start of a frame (from an LF)
    no longer than `max_frame`, so a peer sending garbage cannot make it grow.
    """
    out: list[bytes | FrameError] = []
    pos = 0  # what is before pos is taken; buf is cut once, at the end
    while True:
        cr = buf.find(b"\r", pos)
        lf = buf.rfind(b"\n", pos, cr if cr != -1 else len(buf))
        if lf != -1:
            start = lf
        else:  # no frame start: up to the CR (or everything) is noise
            start = cr + 1 if cr != -1 else len(buf)
        if start > pos:
            noise = bytes(buf[pos:start])
            pos = start
            if noise.strip(_BLANK):
                why = f"{len(noise)} bytes outside a frame dropped: {_show(noise)}"
                out.append(FrameError("format", why))
            continue
        if cr == -1:
            if len(buf) - pos > max_frame:
                why = (
                    f"{len(buf) - pos} bytes since the frame start (LF) and no CR: longer "
                    f"than {max_frame}, dropped"
                )
                out.append(FrameError("length", why))
                pos = len(buf)
            break
        frame = bytes(buf[pos : cr + 1])
        pos = cr + 1
        if len(frame) > max_frame:
            why = f"a frame of {len(frame)} bytes, more than {max_frame}"
            out.append(FrameError("length", why))
        else:
            out.append(frame)
    del buf[:pos]
    return out


def _show(b: bytes, limit: int = 40) -> str:
    return repr(b[:limit]) + ("…" if len(b) > limit else "")


# -- the envelope -----------------------------------------------------------------------------

_HEX = re.compile(rb"[0-9A-Fa-f]{4}\Z")
_TOKEN = re.compile(rb'"(\*?)([A-Za-z0-9-]{1,16})"')
_ADDRESS = re.compile(
    rb"(?P<seq>[0-9A-Fa-f]{4})(?:R(?P<rcv>[0-9A-Fa-f]{1,6}))?(?:L(?P<line>[0-9A-Fa-f]{1,6}))?"
    rb"(?:#(?P<acct>[0-9A-Fa-f]{3,16}))?(?=\[)"
)


def read_envelope(frame: bytes) -> Envelope:
    """Check a frame's LF/CR, length, CRC, token and address fields; the body stays unread."""
    if len(frame) < 10 or frame[0] != LF or frame[-1] != CR:
        raise FrameError("format", f"a DC-09 frame runs from LF to CR: {_show(frame)}")
    head, content = frame[1:9], frame[9:-1]
    if not (_HEX.match(head[:4]) and _HEX.match(head[4:])):
        raise FrameError("format", f"no CRC and length (8 hex digits) after the LF: {_show(head)}")
    if head[4:5] != b"0" or int(head[4:], 16) != len(content):
        raise FrameError(
            "length",
            f"length {head[4:].decode()} on the wire, {len(content):04X} counted",
        )
    crc = crc16(content)
    if int(head[:4], 16) != crc:
        raise FrameError("crc", f"CRC {head[:4].decode()} on the wire, {crc:04X} computed")
    t = _TOKEN.match(content)
    if t is None:
        raise FrameError("token", f'no "token" at the start of the message: {_show(content)}')
    a = _ADDRESS.match(content, t.end())
    if a is None:
        raise FrameError(
            "format",
            "no sequence (4 digits), receiver, line and account before the '[': "
            + _show(content[t.end() :]),
        )
    # DC-09 wants L and a decimal sequence; transmitters in the field (dc09-spt among them)
    # leave L out and count in hex. An alarm is not refused over either: the ACK echoes them.
    if a["acct"] is None:
        raise FrameError("format", "no account (#…)")
    return Envelope(
        raw=frame,
        token=t[2].decode(),
        encrypted=bool(t[1]),
        sequence=a["seq"].decode(),
        receiver=a["rcv"].decode() if a["rcv"] is not None else None,
        line=a["line"].decode() if a["line"] is not None else "",
        account=a["acct"].decode().upper(),
        body=content[a.end() :],
    )


# -- the message ------------------------------------------------------------------------------

_REST = re.compile(
    rb"(?P<data>[^\[\]]*)\](?P<ext>(?:\[[^\[\]]*\])*)(?:_(?P<ts>[^\[\]]*))?\Z", re.DOTALL
)
_STAMP = re.compile(rb"(\d\d):(\d\d):(\d\d),(\d\d)-(\d\d)-(\d{4})\Z")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_HEX_BODY = re.compile(rb"(?:[0-9A-Fa-f]{32})+\Z")


def open_message(env: Envelope, key: bytes | None) -> Message:
    """The message data, decrypted with `key` when the frame is encrypted.

    An account with a key must not be accepted in clear, nor an encrypted frame of an
    account without one. A wrong key shows as a plaintext that is not a DC-09 message
    (no pad separator, no ']', control characters, no timestamp): "decrypt".
    """
    if not env.encrypted:
        if key is not None:
            raise FrameError(
                "unencrypted",
                f"account {env.account} has a key but sent {env.token} in clear",
            )
        return _message(env, env.body[1:], "format")
    if key is None:
        raise FrameError(
            "encrypted_without_key",
            f"account {env.account} sent an encrypted {env.token} and has no key",
        )
    hexed = env.body[1:]
    if not _HEX_BODY.match(hexed):
        raise FrameError(
            "format",
            f"the encrypted part is not hex in blocks of 16 bytes ({len(hexed)} characters)",
        )
    decryptor = _aes(key).decryptor()
    plain = decryptor.update(bytes.fromhex(hexed.decode())) + decryptor.finalize()
    # The pad ends at the first '|'. Some panels leave the '|' out when the data is empty
    # ("pad]_timestamp", pysiaalarm's own ACKs too): then the pad ends at the ']'.
    bar, close = plain.find(b"|"), plain.find(b"]")
    if bar != -1 and (close == -1 or bar < close):
        pad, rest = plain[:bar], plain[bar + 1 :]
    elif close != -1:
        pad, rest = plain[:close], plain[close:]
    else:
        raise FrameError("decrypt", f"account {env.account}: no '|' or ']' after decrypting")
    if b"[" in pad:
        raise FrameError("decrypt", f"account {env.account}: '[' in the pad after decrypting")
    msg = _message(env, rest, "decrypt")
    if msg.timestamp is None:
        raise FrameError(
            "decrypt",
            f"account {env.account}: no timestamp after decrypting (a wrong key, or a panel "
            "that does not stamp encrypted messages as DC-09 requires)",
        )
    return msg


def _message(env: Envelope, rest: bytes, kind: ErrorKind) -> Message:
    where = "decrypted text" if kind == "decrypt" else "message"
    if _CONTROL.search(rest):
        raise FrameError(kind, f"account {env.account}: control characters in the {where}")
    m = _REST.match(rest)
    if m is None:
        raise FrameError(
            kind,
            f"account {env.account}: the {where} is not [data][extended]…_timestamp: "
            + (_show(rest) if kind != "decrypt" else f"{len(rest)} bytes"),
        )
    ext = tuple(_text(b[1:]) for b in m["ext"].split(b"]")[:-1])
    return Message(env, _text(m["data"]), ext, _timestamp(m["ts"], env, kind))


def _timestamp(raw: bytes | None, env: Envelope, kind: ErrorKind) -> datetime | None:
    if raw is None:
        return None
    s = _STAMP.match(raw)
    if s is None:
        if kind == "decrypt":
            raise FrameError("decrypt", f"account {env.account}: no timestamp after decrypting")
        raise FrameError("timestamp", f"'_{_text(raw)}' is not a timestamp _HH:MM:SS,MM-DD-YYYY")
    hh, mi, ss, mo, dd, yyyy = (int(g) for g in s.groups())
    try:
        return datetime(yyyy, mo, dd, hh, mi, ss, tzinfo=UTC)
    except ValueError as e:
        raise FrameError("timestamp", f"timestamp _{raw.decode()}: {e}") from None


def _text(b: bytes) -> str:
    """Panels send ASCII; free text may come in UTF-8 or, from Chinese panels, GB18030."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return b.decode(encoding)
        except UnicodeDecodeError:
            pass
    return b.decode("latin-1")


def timestamp_ok(msg: Message, now: datetime, *, behind_s: int = 40, ahead_s: int = 20) -> bool:
    """Whether the message's time is within DC-09's window around `now`: at most `behind_s`
    seconds in the past and `ahead_s` in the future (the spec's "+20/-40"). Edges are in.

    A message without a timestamp passes: only a clear message can lack one, and DC-09
    leaves the check of clear messages to the receiver.
    """
    if msg.timestamp is None:
        return True
    delta = (msg.timestamp - _utc(now)).total_seconds()
    return -behind_s <= delta <= ahead_s


# -- answers ----------------------------------------------------------------------------------


def ack(env: Envelope, key: bytes | None, now: datetime) -> bytes:
    """ACK with the message's sequence, receiver, line and account, empty data and our
    time; encrypted ("*ACK") with `key` when one is given. The answer to an encrypted
    message must be encrypted, so a key is required then."""
    if env.encrypted and key is None:
        raise ValueError("the ACK of an encrypted message is encrypted: a key is needed")
    head = _address_of(env)
    stamp = _stamp(now).encode()
    if key is None:
        return wrap(b'"ACK"' + head + b"[]" + stamp)
    return wrap(b'"*ACK"' + head + b"[" + _encrypt(key, b"]" + stamp, None))


def nak(now: datetime) -> bytes:
    """NAK with our time, in clear, as DC-09 gives it: "NAK"0000R0L0A0[]_time."""
    return wrap(b'"NAK"0000R0L0A0[]' + _stamp(now).encode())


def duh(env: Envelope | None, now: datetime) -> bytes:
    """DUH ("I do not understand"), in clear: with the message's address when it could be
    read, else with NAK's zero address."""
    head = _address_of(env) if env is not None else b"0000R0L0A0"
    return wrap(b'"DUH"' + head + b"[]" + _stamp(now).encode())


def _address_of(env: Envelope) -> bytes:
    """seq, R, L and #acct exactly as the panel sent them (an account's letters keep their
    case: the panel compares the ACK with what it sent)."""
    t = _TOKEN.match(env.raw, 9)
    a = _ADDRESS.match(env.raw, t.end()) if t is not None else None
    if a is None:  # an Envelope not made by read_envelope
        rcv = f"R{env.receiver}" if env.receiver is not None else ""
        return f"{env.sequence}{rcv}L{env.line}#{env.account}".encode()
    return env.raw[a.start() : a.end()]


def _stamp(t: datetime) -> str:
    return _utc(t).strftime("_%H:%M:%S,%m-%d-%Y")


def _utc(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise ValueError("DC-09 times are UTC: pass an aware datetime")
    return t.astimezone(UTC)


# -- encryption -------------------------------------------------------------------------------

# Pad characters: printable, not '|', '[' or ']' (and no space, to keep logs readable).
_PAD_ALPHABET = bytes(c for c in range(0x21, 0x7F) if c not in b"|[]")


def _aes(key: bytes) -> Cipher[modes.CBC]:
    if len(key) not in KEY_SIZES:
        raise ValueError(f"an AES key has 16, 24 or 32 bytes, not {len(key)}")
    return Cipher(algorithms.AES(key), modes.CBC(bytes(16)))


def _encrypt(key: bytes, rest: bytes, pad: str | None) -> bytes:
    """Hex of AES-CBC over pad + '|' + rest; 1 to 16 pad characters (16 when rest already
    fills whole blocks), random printable ones unless `pad` gives them."""
    n = 16 - (len(rest) + 1) % 16
    if pad is None:
        chars = bytes(_PAD_ALPHABET[b % len(_PAD_ALPHABET)] for b in os.urandom(n))
    else:
        if not pad or any(c in "|[]" for c in pad):
            raise ValueError("pad characters: at least one, and not '|', '[' or ']'")
        chars = (pad * n)[:n].encode()
    encryptor = _aes(key).encryptor()
    return (encryptor.update(chars + b"|" + rest) + encryptor.finalize()).hex().upper().encode()


def build(
    token: str,
    sequence: str,
    account: str,
    data: str,
    *,
    line: str = "0",
    receiver: str | None = None,
    key: bytes | None = None,
    timestamp: datetime | None = None,
    extended: Sequence[str] = (),
    pad: str | None = None,
) -> bytes:
    """A panel's frame: ``build("SIA-DCS", "0001", "1234", "#1234|Nri1/BA01")``.

    With `key` it is encrypted (give it a `timestamp`: a receiver refuses an encrypted
    message without one); `pad` makes the pad characters deterministic (cycled).
    """
    if not re.fullmatch(r"[A-Za-z0-9-]{1,16}", token):
        raise ValueError(f"token {token!r}")
    if not re.fullmatch(r"\d{4}", sequence, re.ASCII):
        raise ValueError(f"sequence {sequence!r}: 4 digits")
    if not re.fullmatch(r"[0-9A-Fa-f]{3,16}", account):
        raise ValueError(f"account {account!r}: 3 to 16 hex digits")
    for name, value in (("line", line), ("receiver", receiver)):
        if value is not None and not re.fullmatch(r"[0-9A-Fa-f]{1,6}", value):
            raise ValueError(f"{name} {value!r}: 1 to 6 hex digits")
    if any(c in data for c in "[]") or any(c in x for x in extended for c in "[]"):
        raise ValueError("data and extended blocks cannot hold '[' or ']'")
    rcv = f"R{receiver}" if receiver is not None else ""
    head = f'"{"*" if key is not None else ""}{token}"{sequence}{rcv}L{line}#{account}['
    rest = (
        f"{data}]"
        + "".join(f"[{x}]" for x in extended)
        + (_stamp(timestamp) if timestamp is not None else "")
    ).encode()
    if key is None:
        return wrap(head.encode() + rest)
    return wrap(head.encode() + _encrypt(key, rest, pad))


# -- the data: SIA and Contact ID -------------------------------------------------------------

_SIA_ACCOUNT = re.compile(r"[0-9A-Fa-f]{1,16}\Z", re.ASCII)
_CID = re.compile(
    r" *(?P<q>\d) *(?P<code>\d{3}) *(?P<group>[0-9A-Fa-f]{2}) *(?P<number>[0-9A-Fa-f]{3}) *\Z",
    re.ASCII,
)
_CID_QUALIFIERS = {"1": "E", "3": "R", "6": "P"}
_DIGITS = re.compile(r"\d*", re.ASCII)
# Modifier values: ti a time, da a date (MM-DD-YY), the others (ri, id, pi …) a number.
_MODIFIER_VALUES = {
    "ti": re.compile(r"\d{1,2}:\d{2}(?::\d{2})?", re.ASCII),
    "da": re.compile(r"\d{2}-\d{2}-\d{2}(?:\d{2})?", re.ASCII),
}
_MODIFIER = re.compile(r"[a-z]{2}")


def parse_data(token: str, data: str, default_account: str = "") -> tuple[str, list[Event]]:
    """The account and events of a message's data.

    ``SIA-DCS``: ``#acct|Nri1/BA01/BA02^text^|Afree text`` — modifiers (ri area, id user,
    ti time, pi …) hold for the events after them. ``ADM-CID``: ``#acct|Q EEE GG ZZZ``
    (spaces optional). ``NULL`` (link test): no events, whatever the data. The account is
    the data's ``#acct``, else `default_account`.
    """
    blocks = _split(data, "|")
    account = default_account
    if token == "NULL":  # a link test: its data, if any, is not read (only its account)
        head = blocks[0][1:] if blocks[0].startswith("#") else ""
        return (head.upper() if _SIA_ACCOUNT.match(head) else account), []
    if blocks[0].startswith("#"):
        if not _SIA_ACCOUNT.match(blocks[0][1:]):
            raise FrameError("format", f"account block {blocks[0]!r}: 1 to 16 hex digits")
        account = blocks[0][1:].upper()
        blocks = blocks[1:]
    elif blocks[0] == "" and len(blocks) > 1:
        blocks = blocks[1:]  # "|Nri1/CL501": an empty account block
    if token == "ADM-CID":
        return account, [_contact_id("|".join(blocks), data)]
    if token == "SIA-DCS":
        return account, _sia(blocks, data)
    raise FrameError("token", f"no reader for {token!r} data (only {', '.join(sorted(TOKENS))})")


def _split(s: str, sep: str) -> list[str]:
    """`s` split at `sep`, except inside ^…^ text."""
    parts, start, inside = [], 0, False
    for i, c in enumerate(s):
        if c == "^":
            inside = not inside
        elif c == sep and not inside:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return parts


def _number(s: str) -> str | None:
    return (s.lstrip("0") or "0") if s else None


def _contact_id(block: str, data: str) -> Event:
    """DC-05: Q (1 new event or opening, 3 restore or closing, 6 still present), the event
    code, the group (00: none) and the zone or, for open/close codes, the user (000: none)."""
    m = _CID.match(block)
    if m is None:
        raise FrameError("format", f"Contact ID data {data!r} is not 'Q EEE GG ZZZ'")
    qualifier = _CID_QUALIFIERS.get(m["q"])
    if qualifier is None:
        raise FrameError(
            "format",
            f"Contact ID {data!r}: qualifier {m['q']} is not 1 (new event/opening), "
            "3 (restore/closing) or 6 (still present)",
        )
    number = None if set(m["number"]) == {"0"} else _number(m["number"])
    user = m["code"] in CID_USER_CODES
    return Event(
        protocol="CID",
        code=m["code"],
        qualifier=qualifier,
        zone=None if user else number,
        partition=None if m["group"] == "00" else _number(m["group"]),
        user=number if user else None,
    )


def _sia(blocks: list[str], data: str) -> list[Event]:
    """DC-03/DC-07 data blocks: N (events; the N may be left out) and A (text)."""
    events: list[Event] = []
    modifiers: dict[str, str] = {}
    for block in blocks:
        if block.startswith("A") and events:
            text = block[1:].strip()
            last = events[-1]
            events[-1] = _with_text(last, f"{last.text} {text}".strip() if last.text else text)
            continue
        events.extend(_sia_events(block, modifiers, data))
    if not events:
        raise FrameError("format", f"SIA data {data!r} has no event code")
    return events


def _sia_events(block: str, modifiers: dict[str, str], data: str) -> list[Event]:
    """One N block: modifiers and events, '/' between them; a modifier holds for the events
    after it (``Nri1/BA01/BA02``: both in area 1)."""
    s = block
    if (
        s.startswith("N")
        and len(s) > 1
        and (s[1] in "/^ " or _MODIFIER.match(s, 1) or _is_code(s, 1))
    ):
        s = s[1:]  # "NFA129", "NNL2" — but "NL2" is the code NL
    events: list[Event] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c in "/ ":
            i += 1
        elif _MODIFIER.match(s, i):
            name = s[i : i + 2]
            m = _MODIFIER_VALUES.get(name, _DIGITS).match(s, i + 2)
            value = m.group() if m is not None else ""
            modifiers[name] = value
            i = i + 2 + len(value)
        elif _is_code(s, i):
            code = s[i : i + 2]
            m = _DIGITS.match(s, i + 2)
            address = m.group() if m is not None else ""
            j = i + 2 + len(address)
            k = _element_end(s, j)
            events.append(_sia_event(code, address, _free_text(s[j:k]), modifiers))
            i = k
        elif c == "^" and events:
            k = _element_end(s, i)
            events[-1] = _with_text(events[-1], _free_text(s[i:k]))
            i = k
        else:
            raise FrameError("format", f"SIA data {data!r}: unexpected {c!r} in {block!r}")
    return events


def _is_code(s: str, i: int) -> bool:
    pair = s[i : i + 2]
    return len(pair) == 2 and pair.isascii() and pair.isalpha() and pair.isupper()


def _element_end(s: str, i: int) -> int:
    """Where the element at `i` ends: the next '/' outside ^…^, or the end."""
    inside = False
    for k in range(i, len(s)):
        if s[k] == "^":
            inside = not inside
        elif s[k] == "/" and not inside:
            return k
    return len(s)


def _free_text(s: str) -> str:
    return " ".join(part.strip() for part in re.split(r"[\^*]", s) if part.strip())


def _sia_event(code: str, address: str, text: str, modifiers: dict[str, str]) -> Event:
    number = _number(address)
    partition = _number(modifiers.get("ri", ""))
    user = _number(modifiers.get("id", ""))
    zone = number
    if code in SIA_USER_CODES:
        user, zone = user or number, None
    elif code in SIA_AREA_CODES:
        partition, zone = partition or number, None
    return Event(
        protocol="SIA",
        code=code,
        zone=zone,
        partition=partition,
        user=user,
        text=text,
        time=modifiers.get("ti") or None,
    )


def _with_text(e: Event, text: str) -> Event:
    return Event(e.protocol, e.code, e.qualifier, e.zone, e.partition, e.user, text, e.time)
