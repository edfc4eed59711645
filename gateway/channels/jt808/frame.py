"""JT/T 808 on the wire: frames, headers, and the few bodies an alarm gateway reads.

Vehicle terminals (taxis, cash vans, buses) speak JT/T 808-2013 or JT/T 808-2019 over TCP.
A frame is `7e header body checksum 7e`; between the flags 0x7e is written `7d 02` and
0x7d is written `7d 01` (§4.4.2); the checksum is the XOR of header and body (§4.4.3). The
header's body attribute carries the body length (bits 0–9), the encryption (10–12), the
sub-package flag (13) and, since 2019, a version flag (14) after which come a protocol
version byte and a 10-byte BCD phone instead of 6 (§4.4.3, 2019 edition).

Everything here is pure: bytes in, values out. Reading raises nothing but `FrameError`,
whose `kind` says what is wrong and whose header, when it could be read, lets the service
answer 0x8001 "message error" to the right terminal and serial. Writing (`encode`, the
answers and the body builders used by tests and benchmarks) raises `ValueError` for values
that cannot go on the wire.

Strict where a wrong value would mislead (escapes, checksum, lengths, the 28-byte base of a
position, its BCD time), lenient where terminals are known to stray and nothing is lost:
vendors put non-TLV tails after a position's additional items (Traccar's test frames show
several), so items are read while whole ones fit and the rest is kept in
`Position.unparsed` rather than refusing an alarm over it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Final

FLAG: Final = 0x7E
ESCAPE: Final = 0x7D

# Message ids (JT/T 808-2019 table 3).
TERMINAL_RESPONSE: Final = 0x0001
HEARTBEAT: Final = 0x0002
LOGOUT: Final = 0x0003
REGISTER: Final = 0x0100
AUTH: Final = 0x0102
POSITION: Final = 0x0200
BATCH: Final = 0x0704
PLATFORM_RESPONSE: Final = 0x8001
REGISTER_RESPONSE: Final = 0x8100
ALARM_CONFIRM: Final = 0x8203

# 0x8001 results (§8.2).
RESULT_OK: Final = 0
RESULT_FAILURE: Final = 1
RESULT_MESSAGE_ERROR: Final = 2
RESULT_UNSUPPORTED: Final = 3
RESULT_ALARM_CONFIRMED: Final = 4

# 0x8203 alarm types to confirm (§8.23): bits of the alarm word that need a person.
CONFIRM_SOS: Final = 1 << 0
CONFIRM_DANGER: Final = 1 << 3
CONFIRM_AREA: Final = 1 << 20
CONFIRM_ROUTE: Final = 1 << 21
CONFIRM_ROAD_TIME: Final = 1 << 22
CONFIRM_ILLEGAL_IGNITION: Final = 1 << 27
CONFIRM_ILLEGAL_MOVE: Final = 1 << 28

MAX_BODY: Final = 0x3FF  # ten bits of body length
PHONE_2013: Final = 6  # BCD bytes of the terminal phone
PHONE_2019: Final = 10

# Position status word bits (§8.18 table 24).
STATUS_ACC: Final = 1 << 0
STATUS_LOCATED: Final = 1 << 1
STATUS_SOUTH: Final = 1 << 2
STATUS_WEST: Final = 1 << 3

# Terminals keep Beijing time (§8.18: "GMT+8 时间").
CHINA_TIME: Final = timezone(timedelta(hours=8))

KINDS: Final = frozenset({"checksum", "escape", "length", "format", "too_long", "unsupported"})

# The alarm word (§8.18 table 25). Where 2013 and 2019 differ both names are given, 2013 first.
ALARM_BITS: Final[Mapping[int, str]] = MappingProxyType(
    {
        0: "紧急报警",
        1: "超速报警",
        2: "疲劳驾驶",
        3: "危险预警/危险驾驶行为报警",
        4: "GNSS模块发生故障",
        5: "GNSS天线未接或被剪断",
        6: "GNSS天线短路",
        7: "终端主电源欠压",
        8: "终端主电源掉电",
        9: "终端LCD或显示器故障",
        10: "TTS模块故障",
        11: "摄像头故障",
        12: "道路运输证IC卡模块故障",
        13: "超速预警",
        14: "疲劳驾驶预警",
        15: "违规行驶报警",  # 2019; reserved in 2013
        16: "胎压预警",  # 2019
        17: "右转盲区异常报警",  # 2019
        18: "当天累计驾驶超时",
        19: "超时停车",
        20: "进出区域",
        21: "进出路线",
        22: "路段行驶时间不足/过长",
        23: "路线偏离报警",
        24: "车辆VSS故障",
        25: "车辆油量异常",
        26: "车辆被盗",
        27: "车辆非法点火",
        28: "车辆非法位移",
        29: "碰撞预警/碰撞侧翻报警",
        30: "侧翻预警",  # reserved in 2019
        31: "非法开门报警",  # 2013 only ("终端未设置区域时，不判断非法开门")
    }
)


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    version: int | None  # None for 2013, the protocol version byte for 2019
    phone: str  # decimal digits, leading zeros stripped
    phone_raw: bytes  # as received, so that answers echo it
    serial: int
    encrypted: int  # body attribute bits 10–12 (bit 10: RSA)
    packet: tuple[int, int] | None  # (total, index) of a sub-packaged message

    def describe(self) -> str:
        return f"message 0x{self.msg_id:04x} from {self.phone}, serial {self.serial}"


@dataclass(frozen=True, slots=True)
class Message:
    header: Header
    body: bytes


class FrameError(ValueError):
    """What is wrong with a frame or a body: `kind` (one of `KINDS`) for the code, the
    message for people, and the header when it could be read, so that the service can answer
    0x8001 result 2 to the right terminal and serial."""

    def __init__(self, kind: str, problem: str, header: Header | None = None) -> None:
        assert kind in KINDS, kind
        super().__init__(f"{problem} ({header.describe()})" if header else problem)
        self.kind = kind
        self.problem = problem
        self.header = header

    @property
    def msg_id(self) -> int | None:
        return self.header.msg_id if self.header else None

    @property
    def phone(self) -> str | None:
        return self.header.phone if self.header else None

    @property
    def serial(self) -> int | None:
        return self.header.serial if self.header else None

    @property
    def phone_raw(self) -> bytes | None:
        return self.header.phone_raw if self.header else None

    @property
    def version(self) -> int | None:
        """None for 2013 and when there is no header: look at `header` to tell them apart."""
        return self.header.version if self.header else None


class _Reader:
    """A cursor over a body whose short reads become `FrameError("length")`."""

    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, field: str) -> bytes:
        if n > self.left():
            raise FrameError(
                "length", f"{self.what}: {field} needs {n} bytes, only {self.left()} left"
            )
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field))

    def rest(self) -> bytes:
        self.pos, start = len(self.data), self.pos
        return self.data[start:]


def _pack(fmt: str, *values: int | bytes) -> bytes:
    """struct.pack for what we write: a value that does not fit is a ValueError."""
    try:
        return struct.pack(fmt, *values)
    except struct.error as e:
        raise ValueError(f"{values} do not fit {fmt}: {e}") from None


# --- framing -------------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    """XOR of all bytes (§4.4.3), folded as one big integer: a C loop, not a Python one."""
    n = int.from_bytes(data, "little")
    size = len(data)
    while size > 1:
        half = (size + 1) // 2
        n = (n >> (8 * half)) ^ (n & ((1 << (8 * half)) - 1))
        size = half
    return n


def escape(data: bytes) -> bytes:
    # 7d first, so that the 7d of "7d 02" is not escaped again (§4.4.2).
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def _unescape(raw: bytes) -> tuple[bytes, str | None]:
    """The content and, if an escape is wrong, what is wrong (that byte pair is dropped)."""
    if ESCAPE not in raw:
        return raw, None
    parts = raw.split(b"\x7d")
    out = bytearray(parts[0])
    problem = None
    offset = len(parts[0])
    last = len(parts) - 1
    for i, part in enumerate(parts[1:], 1):
        code = part[:1]
        if code == b"\x01":
            out.append(ESCAPE)
        elif code == b"\x02":
            out.append(FLAG)
        elif problem is None:
            follower = f"0x{part[0]:02x}" if part else "0x7d" if i < last else "the frame's end"
            problem = (
                f"0x7d at offset {offset} is followed by {follower}: only 7d 01 and 7d 02 "
                "are escapes"
            )
        out += part[1:]
        offset += 1 + len(part)
    return bytes(out), problem


def _phone(raw: bytes) -> str:
    digits = raw.hex()
    if digits.isdigit():
        return digits.lstrip("0") or "0"
    if len(raw) == PHONE_2013:
        # Not BCD: some makers (Jimi, Concox…) put the IMEI's first 14 digits in the 6 bytes
        # as a binary number; give the IMEI back with its Luhn digit, as Traccar does.
        body = str(int.from_bytes(raw))
        return body + _luhn(body)
    return digits.upper()


def _luhn(digits: str) -> str:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def _read_header(data: bytes) -> tuple[Header, int, int, bool]:
    """The header, the body length it announces, its own size, and whether the reserved bit
    15 is set; raises `FrameError("length")` without a header when the bytes are too few."""
    if len(data) < 4:
        raise FrameError("length", f"{len(data)} bytes cannot hold a message header")
    msg_id, attribute = struct.unpack_from(">HH", data)
    version: int | None = None
    pos = 4
    if attribute & 0x4000:
        if len(data) < 5:
            raise FrameError("length", "the header ends before its protocol version")
        version = data[4]
        pos = 5
    phone_len = PHONE_2013 if version is None else PHONE_2019
    size = pos + phone_len + 2 + (4 if attribute & 0x2000 else 0)
    if len(data) < size:
        raise FrameError("length", f"{len(data)} bytes cannot hold a {size}-byte message header")
    phone_raw = data[pos : pos + phone_len]
    (serial,) = struct.unpack_from(">H", data, pos + phone_len)
    packet = struct.unpack_from(">HH", data, pos + phone_len + 2) if attribute & 0x2000 else None
    header = Header(
        msg_id=msg_id,
        version=version,
        phone=_phone(phone_raw),
        phone_raw=phone_raw,
        serial=serial,
        encrypted=(attribute >> 10) & 0x7,
        packet=packet,
    )
    return header, attribute & MAX_BODY, size, bool(attribute & 0x8000)


def _header_or_none(raw: bytes) -> Header | None:
    try:
        return _read_header(_unescape(raw[:64])[0])[0]
    except FrameError:
        return None


def _parse(raw: bytes) -> Message:
    """One frame between its flags, still escaped."""
    data, bad_escape = _unescape(raw)
    header, body_len, size, reserved = _read_header(data)
    if bad_escape:
        raise FrameError("escape", bad_escape, header)
    if len(data) < size + 1:
        raise FrameError("length", "the frame ends before its checksum", header)
    expected = checksum(data[:-1])
    if data[-1] != expected:
        raise FrameError(
            "checksum", f"checksum 0x{data[-1]:02x}, the bytes XOR to 0x{expected:02x}", header
        )
    if reserved:
        # Bit 15 is reserved in both editions; vendors set it in their own message sets, whose
        # headers differ (Traccar's 0x5501 frames have a one-byte serial): don't read on.
        raise FrameError("unsupported", "the reserved bit 15 of the body attribute is set", header)
    if len(data) - size - 1 != body_len:
        raise FrameError(
            "length",
            f"the header announces a {body_len}-byte body, the frame holds {len(data) - size - 1}",
            header,
        )
    if header.packet is not None:
        total, index = header.packet
        if not 1 <= index <= total:
            raise FrameError("format", f"packet {index} of {total}", header)
    return Message(header, data[size:-1])


def decode(frame: bytes) -> Message:
    """One frame, with or without its 0x7e flags."""
    raw = bytes(frame)
    if raw[:1] == b"\x7e":
        raw = raw[1:]
    if raw[-1:] == b"\x7e":
        raw = raw[:-1]
    if FLAG in raw:
        raise FrameError("format", "0x7e inside a frame: more than one frame given", None)
    return _parse(raw)


def encode(
    msg_id: int,
    phone_raw: bytes,
    serial: int,
    body: bytes,
    version: int | None = None,
    *,
    packet: tuple[int, int] | None = None,
    encrypted: int = 0,
) -> bytes:
    """A whole frame: header, body, checksum, escaped, between flags."""
    if not 0 <= msg_id <= 0xFFFF or not 0 <= serial <= 0xFFFF:
        raise ValueError(f"message id 0x{msg_id:x} or serial {serial} is not 16 bits")
    if len(body) > MAX_BODY:
        raise ValueError(f"a {len(body)}-byte body is longer than {MAX_BODY}: sub-package it")
    if not 0 <= encrypted <= 7:
        raise ValueError(f"encryption {encrypted} is not 3 bits")
    attribute = len(body) | encrypted << 10
    head = bytearray()
    if version is None:
        if len(phone_raw) != PHONE_2013:
            raise ValueError(f"a 2013 header holds a {PHONE_2013}-byte phone, not {phone_raw!r}")
    else:
        if len(phone_raw) != PHONE_2019 or not 0 <= version <= 0xFF:
            raise ValueError(f"a 2019 header holds a {PHONE_2019}-byte phone and a version byte")
        attribute |= 0x4000
    if packet is not None:
        total, index = packet
        if not 1 <= index <= total <= 0xFFFF:
            raise ValueError(f"packet {index} of {total}")
        attribute |= 0x2000
    head += _pack(">HH", msg_id, attribute)
    if version is not None:
        head.append(version)
    head += phone_raw
    head += _pack(">H", serial)
    if packet is not None:
        head += _pack(">HH", *packet)
    content = bytes(head) + bytes(body)
    return b"\x7e" + escape(content + bytes([checksum(content)])) + b"\x7e"


class Decoder:
    """Reads frames from a TCP stream: every 0x7e ends what came before it, so after garbage
    or a lost byte the next frame parses. At most `max_frame` unescaped bytes (header, body
    and checksum; the longest legal frame is 1045) are held; a longer run is reported once as
    `too_long` and skipped up to the next 0x7e."""

    def __init__(self, max_frame: int = 2048) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be positive")
        self.max_frame = max_frame
        self._buf = bytearray()
        self._size = 0  # unescaped length of _buf
        self._skipping = False

    def feed(self, data: bytes) -> list[Message | FrameError]:
        out: list[Message | FrameError] = []
        start = 0
        while True:
            end = data.find(FLAG, start)
            if end < 0:
                self._hold(data[start:], out)
                return out
            self._hold(data[start:end], out)
            self._close(out)
            start = end + 1

    def _hold(self, piece: bytes, out: list[Message | FrameError]) -> None:
        if self._skipping or not piece:
            return
        self._buf += piece
        self._size += len(piece) - piece.count(ESCAPE)
        if self._size > self.max_frame:
            out.append(
                FrameError(
                    "too_long",
                    f"more than {self.max_frame} bytes without a closing 0x7e: dropped",
                    _header_or_none(bytes(self._buf)),
                )
            )
            self._buf.clear()
            self._size = 0
            self._skipping = True

    def _close(self, out: list[Message | FrameError]) -> None:
        self._skipping = False
        if not self._buf:
            return  # 7e 7e: the end of one frame and the start of the next
        raw = bytes(self._buf)
        self._buf.clear()
        self._size = 0
        try:
            out.append(_parse(raw))
        except FrameError as e:
            out.append(e)


# --- bodies the terminal sends -------------------------------------------------------------


def _text(raw: bytes, what: str) -> str:
    """A STRING field: GBK (read as GB18030, its superset), NUL-padded (§4.2)."""
    try:
        return raw.strip(b"\x00 ").decode("gb18030")
    except UnicodeDecodeError:
        raise FrameError("format", f"{what} is not GBK text: {raw.hex()}") from None


@dataclass(frozen=True, slots=True)
class Register:
    province: int
    city: int
    maker: str
    model: str
    terminal_id: str
    plate_color: int  # JT/T 415: 0 no plate (then `plate` is the VIN), 1 blue, 2 yellow …
    plate: str


# (maker, model, terminal id) widths: 2011, 2013 and 2019 (§8.5).
_REGISTER_2011 = (5, 8, 7)
_REGISTER_2013 = (5, 20, 7)
_REGISTER_2019 = (11, 30, 30)


def decode_register(body: bytes, version: int | None) -> Register:
    """0x0100. A 2013 header with a body shorter than the 37 bytes 2013 needs before the plate
    is the 2011 layout (an 8-byte model), which terminals still in service send."""
    if version is not None:
        widths = _REGISTER_2019
    elif len(body) < 37:
        widths = _REGISTER_2011
    else:
        widths = _REGISTER_2013
    r = _Reader(body, "registration")
    province = r.u16("province")
    city = r.u16("city")
    maker = _text(r.take(widths[0], "maker"), "maker")
    model = _text(r.take(widths[1], "model"), "model")
    terminal_id = _text(r.take(widths[2], "terminal id"), "terminal id")
    plate_color = r.u8("plate colour")
    plate = _text(r.rest(), "plate")
    return Register(province, city, maker, model, terminal_id, plate_color, plate)


def decode_auth(body: bytes, version: int | None) -> str:
    """0x0102: the auth code. 2013: the whole body; 2019: a length byte and the code, then
    the IMEI (15) and software version (20), which are not needed to authenticate."""
    if version is None:
        code = body
    else:
        r = _Reader(body, "authentication")
        code = r.take(r.u8("auth code length"), "auth code")
    if not code.strip(b"\x00 "):
        raise FrameError("format", "authentication without an auth code")
    return _text(code, "auth code")


@dataclass(frozen=True, slots=True)
class Position:
    alarm: int
    status: int
    lat: float  # WGS84 degrees, south negative
    lon: float  # west negative
    altitude_m: int
    speed_kmh: float
    heading: int
    # Aware UTC; None when the terminal's clock gave no valid BCD time (a terminal whose
    # clock was never set still has an emergency button: its alarm is not refused for it).
    time: datetime | None
    extras: dict[int, bytes]  # additional items as sent: id → value
    mileage_km: float | None = None  # 0x01
    fuel_l: float | None = None  # 0x02
    recorder_speed_kmh: float | None = None  # 0x03, from the tachograph
    alarm_event_id: int | None = None  # 0x04 (2019), for a manual confirmation
    ext_status: int | None = None  # 0x25 extended vehicle signal status
    io_status: int | None = None  # 0x2A
    signal: int | None = None  # 0x30 network signal strength
    satellites: int | None = None  # 0x31
    unparsed: bytes = b""  # a tail that is not whole additional items

    @property
    def sos(self) -> bool:
        return bool(self.alarm & 1)

    @property
    def located(self) -> bool:
        return bool(self.status & STATUS_LOCATED)

    @property
    def has_fix(self) -> bool:
        """Located, with coordinates on the globe (terminals send garbage when they are not)."""
        return self.located and abs(self.lat) <= 90 and abs(self.lon) <= 180

    @property
    def alarms(self) -> tuple[str, ...]:
        return tuple(name for bit, name in ALARM_BITS.items() if self.alarm >> bit & 1)


_BASE = struct.Struct(">IIIIhHH6s")  # alarm status lat lon altitude speed heading time


def _time(bcd: bytes) -> datetime | None:
    digits = bcd.hex()
    try:
        if not digits.isdigit():
            raise ValueError
        local = datetime(
            2000 + int(digits[0:2]),
            int(digits[2:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            tzinfo=CHINA_TIME,
        )
    except ValueError:
        return None  # not a BCD YYMMDDhhmmss
    return local.astimezone(UTC)


def _scaled(value: bytes | None, size: int, scale: float) -> float | None:
    if value is None or len(value) != size:
        return None
    return int.from_bytes(value) / scale


def _number(value: bytes | None, size: int) -> int | None:
    if value is None or len(value) != size:
        return None
    return int.from_bytes(value)


def decode_position(body: bytes) -> Position:
    """0x0200 (§8.18): the 28-byte base, then additional items (id, length, value)."""
    if len(body) < _BASE.size:
        raise FrameError("length", f"position: {len(body)} bytes, the base alone needs 28")
    alarm, status, lat, lon, altitude, speed, heading, when = _BASE.unpack_from(body)
    extras: dict[int, bytes] = {}
    pos = _BASE.size
    while len(body) - pos >= 2 and len(body) - pos - 2 >= body[pos + 1]:
        item, size = body[pos], body[pos + 1]
        extras[item] = body[pos + 2 : pos + 2 + size]
        pos += 2 + size
    get = extras.get
    return Position(
        alarm=alarm,
        status=status,
        lat=-(lat / 1e6) if status & STATUS_SOUTH else lat / 1e6,  # -0.0 keeps the bit
        lon=-(lon / 1e6) if status & STATUS_WEST else lon / 1e6,
        # A WORD in the standard; read signed as terminals below sea level (Turpan) send.
        altitude_m=altitude,
        speed_kmh=speed / 10,
        heading=heading,
        time=_time(when),
        extras=extras,
        mileage_km=_scaled(get(0x01), 4, 10),
        fuel_l=_scaled(get(0x02), 2, 10),
        recorder_speed_kmh=_scaled(get(0x03), 2, 10),
        alarm_event_id=_number(get(0x04), 2),
        ext_status=_number(get(0x25), 4),
        io_status=_number(get(0x2A), 2),
        signal=_number(get(0x30), 1),
        satellites=_number(get(0x31), 1),
        unparsed=body[pos:],
    )


def decode_batch(body: bytes) -> tuple[int, list[Position]]:
    """0x0704 (§8.51): count, type (0 normal, 1 blind-area backlog), then length-prefixed
    position bodies; the count must match."""
    r = _Reader(body, "batch")
    count = r.u16("item count")
    kind = r.u8("type")
    positions: list[Position] = []
    while r.left():
        size = r.u16(f"length of item {len(positions) + 1}")
        positions.append(decode_position(r.take(size, f"item {len(positions) + 1}")))
    if len(positions) != count:
        raise FrameError("format", f"batch announces {count} items and holds {len(positions)}")
    return kind, positions


# --- answers the platform sends ------------------------------------------------------------


def general_response(
    phone_raw: bytes,
    serial: int,
    reply_serial: int,
    reply_id: int,
    result: int,
    version: int | None = None,
) -> bytes:
    """0x8001 (§8.2): result 0 ok, 1 failure, 2 message error, 3 unsupported, 4 alarm
    confirmed."""
    body = _pack(">HHB", reply_serial, reply_id, result)
    return encode(PLATFORM_RESPONSE, phone_raw, serial, body, version)


def register_response(
    phone_raw: bytes,
    serial: int,
    reply_serial: int,
    result: int,
    auth_code: str | None,
    version: int | None = None,
) -> bytes:
    """0x8100 (§8.6): result 0 ok (with the auth code), 1 vehicle already registered, 2 no
    such vehicle, 3 terminal already registered, 4 no such terminal. The code goes only with
    result 0."""
    body = _pack(">HB", reply_serial, result)
    if result == 0:
        if not auth_code:
            raise ValueError("a successful registration answer needs an auth code")
        body += auth_code.encode("gb18030")
    return encode(REGISTER_RESPONSE, phone_raw, serial, body, version)


def alarm_confirm(
    phone_raw: bytes, serial: int, alarm_serial: int, kinds: int, version: int | None = None
) -> bytes:
    """0x8203 人工确认报警消息 (§8.23): the serial of the alarm message (0: all of them) and the
    alarm types confirmed (`CONFIRM_SOS` …)."""
    return encode(ALARM_CONFIRM, phone_raw, serial, _pack(">HI", alarm_serial, kinds), version)


# --- a terminal's side, for tests and benchmarks -------------------------------------------


def bcd_phone(phone: str, version: int | None = None) -> bytes:
    """The header's BCD phone: 12 digits (2013) or 20 (2019), zero-padded on the left."""
    width = 2 * (PHONE_2013 if version is None else PHONE_2019)
    if not phone.isdigit() or not phone.isascii() or len(phone) > width:
        raise ValueError(f"{phone!r} is not a phone of at most {width} digits")
    return bytes.fromhex(phone.zfill(width))


def _field(text: str, width: int, what: str) -> bytes:
    raw = text.encode("gb18030")
    if len(raw) > width:
        raise ValueError(f"{what} {text!r} is longer than {width} bytes")
    return raw.ljust(width, b"\x00")


def register_body(
    province: int,
    city: int,
    maker: str,
    model: str,
    terminal_id: str,
    plate_color: int,
    plate: str,
    version: int | None = None,
) -> bytes:
    widths = _REGISTER_2013 if version is None else _REGISTER_2019
    return (
        _pack(">HH", province, city)
        + _field(maker, widths[0], "maker")
        + _field(model, widths[1], "model")
        + _field(terminal_id, widths[2], "terminal id")
        + _pack(">B", plate_color)
        + plate.encode("gb18030")
    )


def auth_body(
    code: str, version: int | None = None, *, imei: str = "", software: str = ""
) -> bytes:
    raw = code.encode("gb18030")
    if version is None:
        return raw
    if len(raw) > 0xFF:
        raise ValueError("an auth code of more than 255 bytes")
    return bytes([len(raw)]) + raw + _field(imei, 15, "IMEI") + _field(software, 20, "software")


def _bcd_time(time: datetime) -> bytes:
    if time.tzinfo is None:
        raise ValueError("a position time must be aware")
    local = time.astimezone(CHINA_TIME)
    if not 2000 <= local.year <= 2099:
        raise ValueError(f"{time} is outside 2000–2099 in Beijing time")
    return bytes.fromhex(local.strftime("%y%m%d%H%M%S"))


def position_body(
    alarm: int,
    status: int,
    lat: float,
    lon: float,
    altitude_m: int,
    speed_kmh: float,
    heading: int,
    time: datetime,
    extras: Mapping[int, bytes] | None = None,
) -> bytes:
    """A 0x0200 body; the status word's south and west bits follow the signs of lat and lon."""
    status = status & ~(STATUS_SOUTH | STATUS_WEST)
    status |= STATUS_SOUTH if math.copysign(1, lat) < 0 else 0
    status |= STATUS_WEST if math.copysign(1, lon) < 0 else 0
    body = bytearray(
        _pack(
            _BASE.format,
            alarm,
            status,
            round(abs(lat) * 1e6),
            round(abs(lon) * 1e6),
            altitude_m,
            round(speed_kmh * 10),
            heading,
            _bcd_time(time),
        )
    )
    for item, value in (extras or {}).items():
        if len(value) > 0xFF:
            raise ValueError(f"additional item 0x{item:02x} is longer than 255 bytes")
        body += bytes([item, len(value)]) + value
    return bytes(body)


def batch_body(kind: int, positions_bodies: Sequence[bytes]) -> bytes:
    body = bytearray(_pack(">HB", len(positions_bodies), kind))
    for item in positions_bodies:
        body += _pack(">H", len(item)) + item
    return bytes(body)
