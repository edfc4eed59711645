"""Plays a drill scenario's panel inject (`gateway.drills.inject`): the channel's own DC-09
receiver gets one frame over TCP, as an alarm panel of a drill account sends it.

- **The frame** is the account's as the premises registry (`gateway.targets`) knows it: its
  receiver and line prefix, encrypted with its AES key when it has one, stamped with the
  gateway's clock, ``SIA-DCS`` for a SIA code (``BA``) or ``ADM-CID`` for a Contact ID one
  (``E130``), built by `frame.build`. The account must be one of ``[channels.dc09]
  drill_accounts``: the receiver files its alarms as drills from the first byte, and a
  real-looking alarm is never sent from any other account.
- **The answer** is awaited as a panel awaits it: ``ACK`` (after the receiver has stored
  the event) ends the inject; ``NAK``, ``DUH``, no answer or a closed link are an
  `InjectError` that names it.
- **The report is known exactly**: its external id is the receiver's identity of the frame
  (`receiver._external_id`), so a surge from one account in one second is many reports,
  each tied to its inject (each frame has its own sequence number).

The drill runner awaits `inject` as a Twisted coroutine: the link is a Twisted client on the
reactor, its waits bounded.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, endpoints, protocol

from gateway.channels.dc09 import frame
from gateway.channels.dc09.receiver import REPORT_CHANNEL, _external_id
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import PanelAlarm
from gateway.targets import registry

if TYPE_CHECKING:
    from gateway.channels.dc09.service import Dc09Channel

VIA = "经DC-09接收机"
CONNECT_S = 10.0  # seconds to connect to the receiver's own port
ANSWER_S = 30.0  # seconds for its answer (it comes after the store's commit)
CID_QUALIFIERS = {"E": "1", "R": "3", "P": "6"}  # DC-05: new event, restore, still present
_ANSWER = re.compile(rb'\n([0-9A-F]{4})([0-9A-F]{4})"(\*?)([A-Za-z-]{1,16})"')
_STAMP = re.compile(rb"_(\d\d:\d\d:\d\d,\d\d-\d\d-\d{4})\r\Z")


async def inject(dc09: Dc09Channel, drill: DrillInject) -> Sent:
    """The channel's injector (its declaration's ``drill``)."""
    content = drill.inject.content
    if not isinstance(content, PanelAlarm):
        raise InjectError(f"the DC-09 channel plays panel alarms, not {type(content).__name__}")
    account = content.account.upper()
    if account not in dc09.settings.drill_accounts:
        raise InjectError(
            f"account {content.account} is not one of [channels.dc09] drill_accounts: "
            "its alarm would be filed as a real one"
        )
    port = dc09.port
    if port is None or dc09.stopping or not dc09.running:
        raise InjectError("the DC-09 receiver is not listening")
    token, data = event_data(account, content.event, content.zone)
    receiver, line = _address(dc09, account)
    premises = dc09.premises(account, receiver, line)  # what the receiver will find
    key = premises.aes_key if premises is not None else None
    try:
        raw = frame.build(
            token,
            f"{1 + drill.send % 9999:04d}",  # each inject its own: a panel counts its messages
            account,
            data,
            line=line,
            receiver=receiver,
            key=key,
            timestamp=dc09.now().replace(microsecond=0),
        )
    except ValueError as e:
        raise InjectError(f"no DC-09 frame can carry this alarm: {e}") from None
    env = frame.read_envelope(raw)
    external_id = _external_id(env, frame.open_message(env, key), 0)
    answer = await _send(dc09, port, raw)
    check_answer(answer, env, key)
    return Sent(
        REPORT_CHANNEL,
        sender_key=f"account:{account}",
        external_id=external_id,
        via=_via(account, token, premises, key),
    )


def event_data(account: str, event: str, zone: str | None) -> tuple[str, str]:
    """The token and data of one event: ``("SIA-DCS", "#0101|NBA2")`` for ``BA`` in zone 2,
    ``("ADM-CID", "#0101|1130 00 002")`` for ``E130`` (DC-05: Q EEE GG ZZZ, no group)."""
    code = event.strip().upper()
    if re.fullmatch(r"[A-Z]{2}", code):
        return "SIA-DCS", f"#{account}|N{code}{zone or ''}"
    m = re.fullmatch(r"([ERP])(\d{3})", code)
    if m is None:
        raise InjectError(f'{event!r} is neither a SIA code ("BA") nor a Contact ID one ("E130")')
    number = int(zone or 0)
    if number > 0xFFF:
        raise InjectError(f"zone {zone}: a Contact ID zone has three digits")
    return "ADM-CID", f"#{account}|{CID_QUALIFIERS[m[1]]}{m[2]} 00 {number:03d}"


def _address(dc09: Dc09Channel, account: str) -> tuple[str | None, str]:
    """The receiver and line prefix the account is registered with (its most general
    registration when it has several; line 0 and no receiver when it has none)."""
    found = sorted(
        (p for p in dc09.cache.items.values() if p.account == account),
        key=lambda p: (p.receiver, p.line),
    )
    if not found:
        return None, "0"
    return found[0].receiver or None, found[0].line or "0"


def _via(account: str, token: str, premises: registry.Premises | None, key: bytes | None) -> str:
    """经DC-09接收机（演练账号 0101，SIA-DCS，AES加密）."""
    how = [f"演练账号 {account}", token]
    if key is not None:
        how.append("AES加密")
    if premises is None:
        how.append("账号未登记")
    return f"{VIA}（{'，'.join(how)}）"


# -- the link ---------------------------------------------------------------------------------


class _PanelLink(protocol.Protocol):
    """Our side of the TCP link: the receiver's answers, frame by frame (b"" when the link
    closes)."""

    transport: Any

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.answers: defer.DeferredQueue[bytes | frame.FrameError] = defer.DeferredQueue()

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        for item in frame.split_stream(self.buffer):
            self.answers.put(item)

    def connectionLost(self, reason: Any = None) -> None:
        self.answers.put(b"")


async def _send(dc09: Dc09Channel, port: int, raw: bytes) -> bytes:
    """Send `raw` to the channel's own TCP `port`; the receiver's answer."""
    reactor = dc09.ctx.reactor
    host = _loopback(dc09.settings.host)
    endpoint_type = endpoints.TCP6ClientEndpoint if ":" in host else endpoints.TCP4ClientEndpoint
    endpoint = endpoint_type(reactor, host, port, timeout=CONNECT_S)
    try:
        link = await endpoints.connectProtocol(endpoint, _PanelLink())
    except Exception as e:  # noqa: BLE001 - refused, unreachable, timed out: all said
        raise InjectError(f"cannot connect to the DC-09 receiver {host}:{port}: {e}") from None
    try:
        link.transport.write(raw)
        waiting = link.answers.get()
        waiting.addTimeout(ANSWER_S, reactor)
        try:
            answer = await waiting
        except defer.TimeoutError:
            raise InjectError(
                f"the DC-09 receiver did not answer in {ANSWER_S:g} s (its store failing?)"
            ) from None
    finally:
        link.transport.loseConnection()
    if isinstance(answer, frame.FrameError):
        raise InjectError(f"the DC-09 receiver's answer is not a frame: {answer}")
    if not answer:
        raise InjectError("the DC-09 receiver closed the link without answering")
    return answer


def _loopback(host: str) -> str:
    """Where to reach a listener bound to `host` from this machine."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


# -- the answer ---------------------------------------------------------------------------------


def check_answer(answer: bytes, sent: frame.Envelope, key: bytes | None) -> None:
    """Nothing when `answer` is the ACK of the frame `sent`; else an `InjectError` naming
    what the receiver said: NAK (our time outside its window; its time given), DUH (it
    could not read the frame), or something else."""
    m = _ANSWER.match(answer)
    if m is None or frame.crc16(answer[9:-1]) != int(m[1], 16):
        raise InjectError(f"the DC-09 receiver's answer cannot be read: {answer[:60]!r}")
    token = m[4].decode()
    theirs = _STAMP.search(answer)
    at = f" (the receiver's time: {theirs[1].decode()} UTC)" if theirs else ""
    if token == "NAK":
        raise InjectError(
            f"the DC-09 receiver answered NAK: the frame's time is outside its window{at}"
        )
    if token == "DUH":
        raise InjectError(
            "the DC-09 receiver answered DUH: it could not read the frame (the account's key "
            "or line prefix in the premises registry?)"
        )
    if token != "ACK":
        raise InjectError(f"the DC-09 receiver answered {token}, not ACK")
    try:
        env = frame.read_envelope(answer)
        if env.encrypted:
            frame.open_message(env, key)
    except frame.FrameError as e:
        raise InjectError(f"the DC-09 receiver's ACK cannot be read: {e}") from None
    if (env.sequence, env.account) != (sent.sequence, sent.account):
        raise InjectError(
            f"the DC-09 receiver acknowledged message {env.sequence} of account {env.account}, "
            f"not {sent.sequence} of {sent.account}"
        )
