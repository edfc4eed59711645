"""Plays a drill scenario's terminal inject (`gateway.drills.inject`): the channel's own
JT/T 808 listener gets the alarm over TCP from a drill terminal, as a vehicle sends it.

- **The terminal** must be one of ``[channels.jt808] drill_terminals``: the channel files
  its alarms as drills from the first byte, and a real-looking alarm is never sent from any
  other number. It speaks 2013 (a number of up to 12 digits) or 2019 (longer ones).
- **The session** is a terminal's: register (0x0100; the plate and colour the vehicle
  registry holds), authenticate with the code the platform hands out (0x0102), then one
  location report (0x0200) at the inject's point (WGS84, 1e-6 degrees; its time the
  gateway's clock, BCD in Beijing time) with the alarm bit set — bit 0, the emergency
  button, or a bit the city's ``alarm_bits`` make an incident —, and the platform's general
  response (0x8001) to it, which comes after the commit. A refused registration or
  authentication, a result other than success, no answer or a closed link are an
  `InjectError` that names it.
- **The report is known exactly**: its external id is the channel's (terminal, serial,
  terminal time).

A terminal in an open emergency is not sent another alarm: the channel would take it as a
point of that incident's track, not as a report (`Jt808Channel.emergency`).

The drill runner awaits `inject` as a Twisted coroutine: the link is a Twisted client on the
reactor, its waits bounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet import defer, endpoints, protocol

from gateway.channels.jt808 import frame
from gateway.channels.jt808.service import _stamp
from gateway.channels.jt808.store import REPORT_CHANNEL
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import TerminalAlarm

if TYPE_CHECKING:
    from gateway.channels.jt808.service import Jt808Channel

VIA = "经JT/T 808接入"
CONNECT_S = 10.0  # seconds to connect to the listener
ANSWER_S = 30.0  # seconds for each answer (the alarm's comes after the store's commit)
VERSION_2019 = 1  # the protocol version byte of a 2019 header
REGISTER_RESULTS = {
    1: "vehicle already registered",
    2: "no such vehicle",
    3: "terminal already registered",
    4: "no such terminal",
}
RESULTS = {1: "failure", 2: "message error", 3: "unsupported"}


async def inject(jt808: Jt808Channel, drill: DrillInject) -> Sent:
    """The channel's injector (its declaration's ``drill``)."""
    content = drill.inject.content
    if not isinstance(content, TerminalAlarm):
        raise InjectError(
            f"the JT/T 808 channel plays terminal alarms, not {type(content).__name__}"
        )
    terminal = content.terminal.lstrip("0") or "0"  # as the channel knows it
    if terminal not in jt808.settings.drill_terminals:
        raise InjectError(
            f"terminal {content.terminal} is not one of [channels.jt808] drill_terminals: "
            "its alarm would be filed as a real one"
        )
    bit = content.alarm_bit
    if bit != 0 and bit not in jt808.settings.alarm_bits:
        raise InjectError(f"alarm bit {bit} opens no incident ([channels.jt808.alarm_bits])")
    _not_a_new_alarm(jt808, terminal, bit)
    loc = drill.inject.location
    if loc is None or loc.lat is None or loc.lon is None:
        raise InjectError("a terminal's alarm is sent at a point: the inject has no lat and lon")
    port = jt808.port
    if port is None or jt808.stopping or not jt808.running:
        raise InjectError("the JT/T 808 listener is not listening")
    at = jt808.now().replace(microsecond=0)
    body = frame.position_body(
        1 << bit, frame.STATUS_ACC | frame.STATUS_LOCATED, loc.lat, loc.lon, 0, 0, 0, at
    )
    session = Session(content.terminal, jt808)
    await session.open(port)
    try:
        await session.register()
        await session.authenticate()
        serial = await session.request(frame.POSITION, body, "the alarm")
    finally:
        session.close()
    external_id = f"{terminal}/{serial}/{_stamp(frame.decode_position(body))}"
    return Sent(
        REPORT_CHANNEL,
        sender_key=f"terminal:{terminal}",
        external_id=external_id if bit == 0 else f"{external_id}/bit{bit}",
        via=f"{VIA}（演练终端 {content.terminal}，注册鉴权后上报{_alarm_name(bit)}）",
    )


def _not_a_new_alarm(jt808: Jt808Channel, terminal: str, bit: int) -> None:
    """Refuse an alarm the channel would not file as a report: any alarm of a terminal in
    an open emergency is a point of that incident's track, and a configured bit counts on
    its rising edge only (against the position still waiting to be written)."""
    open_ = jt808.emergencies.get(terminal)
    if open_ is not None or terminal in jt808.filing:
        number = open_[1] if open_ is not None else "being filed"
        raise InjectError(
            f"terminal {terminal} is in an open emergency (incident {number}): another "
            "alarm would be a point of its track, not a report"
        )
    last = jt808.positions.get(terminal)
    if bit != 0 and last is not None and last.alarm_flags & (1 << bit):
        raise InjectError(
            f"terminal {terminal}'s last position already has alarm bit {bit} set: the "
            "channel files an alarm bit when it rises"
        )


def _alarm_name(bit: int) -> str:
    return frame.ALARM_BITS.get(bit, f"报警位 {bit}")


# -- the session ------------------------------------------------------------------------------


class _TerminalLink(protocol.Protocol):
    """Our side of the TCP link: the platform's messages, frame by frame (None when the
    link closes)."""

    transport: Any

    def __init__(self) -> None:
        self.decoder = frame.Decoder()
        self.inbox: defer.DeferredQueue[frame.Message | frame.FrameError | None] = (
            defer.DeferredQueue()
        )

    def dataReceived(self, data: bytes) -> None:
        for item in self.decoder.feed(data):
            self.inbox.put(item)

    def connectionLost(self, reason: Any = None) -> None:
        self.inbox.put(None)


class Session:
    """A drill terminal's session with the channel's listener."""

    def __init__(self, terminal: str, jt808: Jt808Channel) -> None:
        self.terminal = terminal
        self.jt808 = jt808
        self.reactor = jt808.ctx.reactor
        self.version = None if len(terminal) <= 2 * frame.PHONE_2013 else VERSION_2019
        self.phone_raw = frame.bcd_phone(terminal, self.version)
        self.vehicle = jt808.vehicles.get(terminal.lstrip("0") or "0")
        self.serial = 0
        self.code = ""  # the auth code the registration hands out
        self.link: _TerminalLink | None = None

    async def open(self, port: int) -> None:
        host = _loopback(self.jt808.settings.host)
        kind = endpoints.TCP6ClientEndpoint if ":" in host else endpoints.TCP4ClientEndpoint
        endpoint = kind(self.reactor, host, port, timeout=CONNECT_S)
        try:
            self.link = await endpoints.connectProtocol(endpoint, _TerminalLink())
        except Exception as e:  # noqa: BLE001 - refused, unreachable, timed out: all said
            raise InjectError(
                f"cannot connect to the JT/T 808 listener {host}:{port}: {e}"
            ) from None

    def close(self) -> None:
        if self.link is not None:
            self.link.transport.loseConnection()

    def send(self, msg_id: int, body: bytes) -> int:
        assert self.link is not None
        self.serial = (self.serial + 1) & 0xFFFF
        self.link.transport.write(
            frame.encode(msg_id, self.phone_raw, self.serial, body, self.version)
        )
        return self.serial

    async def answer(self, msg_id: int, serial: int, what: str) -> bytes:
        """The body of the platform's `msg_id` answering our message `serial` (other
        messages, such as a 0x8203 for an earlier alarm, are passed over)."""
        assert self.link is not None
        deadline = self.reactor.seconds() + ANSWER_S
        while True:
            waiting = self.link.inbox.get()
            waiting.addTimeout(max(0.0, deadline - self.reactor.seconds()), self.reactor)
            try:
                item = await waiting
            except defer.TimeoutError:
                raise InjectError(
                    f"the JT/T 808 listener did not answer {what} in {ANSWER_S:g} s"
                ) from None
            if item is None:
                raise InjectError(f"the JT/T 808 listener closed the link before answering {what}")
            if isinstance(item, frame.FrameError):
                raise InjectError(f"the JT/T 808 listener sent a frame we cannot read: {item}")
            if item.header.msg_id == msg_id and int.from_bytes(item.body[:2]) == serial:
                return item.body

    async def register(self) -> None:
        v = self.vehicle
        plate = v.plate if v is not None and v.plate else ""
        color = (v.plate_color or 0) if v is not None and plate else 0  # 0: no plate
        province, city = _region(self.jt808.ctx.config.city.code)
        body = frame.register_body(
            province,
            city,
            "ALMGW",
            "DRILL",
            self.terminal[-7:],
            color,
            plate,
            self.version,
        )
        answer = await self.answer(
            frame.REGISTER_RESPONSE, self.send(frame.REGISTER, body), "the registration"
        )
        result = answer[2] if len(answer) > 2 else None
        if result != 0:
            why = REGISTER_RESULTS.get(result or 0, f"result {result}")
            raise InjectError(
                f"the JT/T 808 listener refused the registration of terminal {self.terminal}: "
                f"{result} ({why})"
            )
        self.code = answer[3:].decode("gb18030")

    async def authenticate(self) -> None:
        body = frame.auth_body(self.code, self.version, imei="", software="alarmgw-drill")
        await self.request(frame.AUTH, body, "the authentication")

    async def request(self, msg_id: int, body: bytes, what: str) -> int:
        """Send a message the platform answers with 0x8001; its serial once it succeeded."""
        serial = self.send(msg_id, body)
        answer = await self.answer(frame.PLATFORM_RESPONSE, serial, what)
        result = answer[4] if len(answer) > 4 else None
        if result not in (frame.RESULT_OK, frame.RESULT_ALARM_CONFIRMED):
            why = RESULTS.get(result or 0, f"result {result}")
            raise InjectError(
                f"the JT/T 808 listener answered {what} of terminal {self.terminal} with "
                f"{result} ({why})"
            )
        return serial


def _region(code: str) -> tuple[int, int]:
    """The registration's province and city (GB/T 2260) from the city's unit code."""
    if len(code) >= 6 and code[:6].isdigit():
        return int(code[:2]), int(code[2:6])
    return 0, 0


def _loopback(host: str) -> str:
    """Where to reach a listener bound to `host` from this machine."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
