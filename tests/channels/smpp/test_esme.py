"""The ESME bind (gateway/channels/smpp/esme.py) under faults the SMSC peer cannot make.

The npm `smpp` server (tests/peers/smsc) only speaks well-formed SMPP, and the gateway's
scenarios run against it (tests/channels/smpp/test_smpp_gateway.py). What a broken or hostile SMSC
does to the byte stream — a command_length that cannot be right, a body that lies about its
lengths, a command nobody knows, silence, a PDU that stops half-way — is played here by a
raw TCP socket of our own (`RawSmsc`), the one thing allowed a mock: a fault the real peer
cannot produce. Each test checks the answer on the wire and that the bind recovers.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import smpplib.smpp
from twisted.python.failure import Failure

from gateway.channels.smpp import pdu
from gateway.channels.smpp.esme import Bind, BindSettings, SmppUnavailable, Token

BIND_TRANSCEIVER_RESP = 0x80000009
DELIVER_SM_RESP = 0x80000005
ENQUIRE_LINK = 0x00000015
SUBMIT_SM = 0x00000004


class ThreadReactor:
    """Just enough reactor for a Bind outside Twisted's loop: calls from the bind's threads
    run at once (under a lock, as the reactor thread would run them one at a time), timers
    are threading.Timers."""

    def __init__(self) -> None:
        self.lock = threading.RLock()

    def callFromThread(self, fn: Callable[..., Any], *args: Any) -> None:  # noqa: N802
        with self.lock:
            fn(*args)

    def callLater(self, delay: float, fn: Callable[..., Any], *args: Any) -> Any:  # noqa: N802
        timer = _Timer(delay, self.callFromThread, fn, *args)
        timer.start()
        return timer


class _Timer(threading.Timer):
    def __init__(self, delay: float, call: Callable[..., Any], *args: Any) -> None:
        super().__init__(delay, call, args)
        self.daemon = True

    def active(self) -> bool:
        return not self.finished.is_set()


class Recorder:
    """The bind's Handler: keeps what it is told, answers nothing by itself."""

    def __init__(self) -> None:
        self.delivered: list[tuple[Token, pdu.Deliver]] = []
        self.ups: list[bool] = []
        self.cond = threading.Condition()

    def deliver(self, bind: Bind, token: Token, d: pdu.Deliver, received_at: datetime) -> None:
        with self.cond:
            self.delivered.append((token, d))
            self.cond.notify_all()

    def bind_changed(self, bind: Bind, up: bool) -> None:
        with self.cond:
            self.ups.append(up)
            self.cond.notify_all()

    def wait(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        with self.cond:
            assert self.cond.wait_for(pred, timeout), (self.delivered, self.ups)


class RawSmsc:
    """A listening socket; each `accept()` takes one connection and answers its bind."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(10)
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn, _ = self.server.accept()
        self.conn.settimeout(10)
        h, _body = self.read()
        assert h.command_id == 0x00000009, hex(h.command_id)  # bind_transceiver
        self.send(BIND_TRANSCEIVER_RESP, 0, h.sequence, b"raw\0")

    def read(self) -> tuple[pdu.Header, bytes]:
        assert self.conn is not None
        raw = _exact(self.conn, 16)
        h = pdu.header(raw)
        return h, _exact(self.conn, h.length - 16)

    def read_until(self, command_id: int) -> tuple[pdu.Header, bytes]:
        """The next PDU with `command_id`, skipping enquire_links (answering them)."""
        while True:
            h, body = self.read()
            if h.command_id == command_id:
                return h, body
            if h.command_id == ENQUIRE_LINK:
                self.send(0x80000015, 0, h.sequence)

    def send(self, command_id: int, status: int, sequence: int, body: bytes = b"") -> None:
        self.send_raw(struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body)

    def send_raw(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


def _exact(conn: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            raise EOFError("the ESME closed the connection")
        out += chunk
    return out


def deliver_body(text: str = "救命", sm_length: int | None = None, tail: bytes = b"") -> bytes:
    """A deliver_sm body built by smpplib (an independent encoder), optionally lying about
    sm_length, with `tail` (TLVs) appended."""
    p = smpplib.smpp.make_pdu(
        "deliver_sm",
        client=None,
        sequence=1,  # the header is not used: the test sends the body with its own
        source_addr="13800138000",
        destination_addr="12110",
        data_coding=8,
        short_message=text.encode("utf-16-be"),
    )
    body = p.generate()[16:]
    if sm_length is not None:
        at = len(body) - len(text.encode("utf-16-be")) - 1
        body = body[:at] + bytes([sm_length]) + body[at + 1 :]
    return body + tail


@pytest.fixture
def smsc() -> Iterator[RawSmsc]:
    s = RawSmsc()
    yield s
    s.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def bind(smsc: RawSmsc, recorder: Recorder) -> Iterator[Bind]:
    settings = BindSettings(
        name="t",
        host="127.0.0.1",
        port=smsc.port,
        system_id="alarmgw",
        password="pw",
        enquire_link=0.5,
        response_timeout=0.5,
        reconnect_max=0.2,
    )
    b = Bind(settings, recorder, ThreadReactor())
    b.start()
    smsc.accept()
    recorder.wait(lambda: recorder.ups == [True])
    yield b
    b._stopping.set()  # no unbind handshake with a raw socket: just close
    b._unbound.set()
    b._close()


def test_good_deliver_sm_is_handed_over_and_answered_with_its_sequence(
    smsc: RawSmsc, bind: Bind, recorder: Recorder
) -> None:
    smsc.send(pdu.DELIVER_SM, 0, 77, deliver_body("有人打架"))
    recorder.wait(lambda: len(recorder.delivered) == 1)
    token, d = recorder.delivered[0]
    assert d.inbound.short_message.decode("utf-16-be") == "有人打架"
    bind.respond(token, 0x64)  # ESME_RX_T_APPN must go out as such, not as ESME_ROK
    h, _ = smsc.read_until(DELIVER_SM_RESP)
    assert (h.sequence, h.status) == (77, 0x64)


def test_lying_sm_length_is_refused_and_the_link_stays(
    smsc: RawSmsc, bind: Bind, recorder: Recorder
) -> None:
    smsc.send(pdu.DELIVER_SM, 0, 5, deliver_body("救命", sm_length=200))
    h, _ = smsc.read_until(DELIVER_SM_RESP)
    assert (h.sequence, h.status) == (5, 0x01)  # ESME_RINVMSGLEN
    assert recorder.delivered == []
    smsc.send(pdu.DELIVER_SM, 0, 6, deliver_body("救命"))
    recorder.wait(lambda: len(recorder.delivered) == 1)
    assert recorder.ups == [True]


def test_broken_tlv_stream_is_refused(smsc: RawSmsc, bind: Bind, recorder: Recorder) -> None:
    smsc.send(pdu.DELIVER_SM, 0, 8, deliver_body(tail=struct.pack(">HH", 0x0424, 500) + b"x"))
    h, _ = smsc.read_until(DELIVER_SM_RESP)
    assert (h.sequence, h.status) == (8, 0xC0)  # ESME_RINVOPTPARSTREAM
    assert recorder.delivered == []


def test_unknown_command_gets_generic_nack(smsc: RawSmsc, bind: Bind, recorder: Recorder) -> None:
    smsc.send(0x00000099, 0, 9, b"whatever")
    h, _ = smsc.read_until(pdu.GENERIC_NACK)
    assert (h.sequence, h.status) == (9, 0x03)  # ESME_RINVCMDID
    assert recorder.ups == [True]


@pytest.mark.parametrize("length", [5, pdu.MAX_PDU + 1, 0xFFFFFFFF])
def test_impossible_command_length_nacks_and_reconnects(
    smsc: RawSmsc, bind: Bind, recorder: Recorder, length: int
) -> None:
    """The stream cannot be followed past a command_length that cannot be right: say so
    (generic_nack, ESME_RINVCMDLEN), drop the connection, bind again."""
    smsc.send_raw(struct.pack(">IIII", length, pdu.DELIVER_SM, 0, 11))
    h, _ = smsc.read_until(pdu.GENERIC_NACK)
    assert (h.sequence, h.status) == (11, 0x02)
    smsc.accept()
    recorder.wait(lambda: recorder.ups == [True, False, True])


def test_pdu_stopping_half_way_drops_the_link(
    smsc: RawSmsc, bind: Bind, recorder: Recorder
) -> None:
    """Half a header, then nothing: after response_timeout the bind gives the link up
    rather than read the next PDU's octets as the rest of this one."""
    smsc.send_raw(struct.pack(">II", 60, pdu.DELIVER_SM))
    recorder.wait(lambda: recorder.ups == [True, False], timeout=5)
    smsc.accept()
    recorder.wait(lambda: recorder.ups == [True, False, True])
    smsc.send(pdu.DELIVER_SM, 0, 12, deliver_body())
    recorder.wait(lambda: len(recorder.delivered) == 1)


def test_silent_smsc_is_noticed(smsc: RawSmsc, bind: Bind, recorder: Recorder) -> None:
    """Nothing comes for enquire_link seconds: the bind asks; no answer within
    response_timeout and it reconnects."""
    h, _ = smsc.read()
    assert h.command_id == ENQUIRE_LINK
    started = time.monotonic()
    recorder.wait(lambda: recorder.ups == [True, False], timeout=5)
    assert time.monotonic() - started < 3
    smsc.accept()
    recorder.wait(lambda: recorder.ups == [True, False, True])


def test_an_answer_for_a_link_that_is_gone_is_not_sent_on_the_next(
    smsc: RawSmsc, bind: Bind, recorder: Recorder
) -> None:
    """A deliver_sm of the old link answered after the new link is up: its token names the
    old session, so nothing goes out (the SMSC redelivers it on the new link), whereas the
    new link's own message with the same sequence number is answered."""
    smsc.send(pdu.DELIVER_SM, 0, 21, deliver_body("旧"))
    recorder.wait(lambda: len(recorder.delivered) == 1)
    old, _ = recorder.delivered[0]
    smsc.conn.close()  # type: ignore[union-attr]
    smsc.conn = None
    smsc.accept()
    recorder.wait(lambda: recorder.ups == [True, False, True])
    smsc.send(pdu.DELIVER_SM, 0, 21, deliver_body("新"))
    recorder.wait(lambda: len(recorder.delivered) == 2)
    new, _ = recorder.delivered[1]
    assert old != new and old[1] == new[1] == 21
    bind.respond(old, 0)
    bind.respond(new, 0x64)
    h, _ = smsc.read_until(DELIVER_SM_RESP)
    assert (h.sequence, h.status) == (21, 0x64)  # the new one's answer, not the old one's


def test_submit_fails_when_the_link_drops_before_its_answer(
    smsc: RawSmsc, bind: Bind, recorder: Recorder
) -> None:
    results: list[Any] = []
    with bind.reactor.lock:
        d = bind.submit(
            source_addr="12110", destination_addr="13800138000", short_message=b"\x4f\x60"
        )
        d.addBoth(results.append)
    h, _ = smsc.read_until(SUBMIT_SM)
    smsc.conn.close()  # type: ignore[union-attr]
    smsc.conn = None
    recorder.wait(lambda: recorder.ups == [True, False])
    deadline = time.monotonic() + 2
    while not results and time.monotonic() < deadline:
        time.sleep(0.01)
    assert results and isinstance(results[0], Failure) and results[0].check(SmppUnavailable)
