"""One SMPP bind to the SMSC: connect, bind, read in a thread, write through another.

smpplib is a blocking library, so each `Bind` owns two threads and never lets them block
the reactor:

- the **session thread** connects and binds (smpplib's `Client.connect` and `bind_*`),
  then reads PDUs until the link ends, and reconnects with backoff and jitter on any error,
  an SMSC `unbind` or silence (an `enquire_link` unanswered within `response_timeout`);
- the **writer thread** is the only one that writes to the socket: every PDU, whoever
  makes it (the reactor's deliver_sm_resp and submit_sm, the session thread's
  enquire_link and unbind_resp), goes through its queue, so writes never interleave.

A deliver_sm is read strictly (`pdu.parse_deliver_sm`) and handed to the reactor with
`callFromThread`; its deliver_sm_resp is sent when the reactor calls `respond`, after the
message is stored. The session thread does not wait for that (with `blockingCallFromThread`
a bind would carry one message per commit, a few hundred a second): up to `window`
deliver_sm may wait for their answer at once, and past that the session thread stops
reading, so TCP slows the SMSC down.

We do not use smpplib's `read_pdu`/`listen`: a socket timeout in the middle of a PDU leaves
its stream misaligned (`_recv_exact` re-raises and `read_once` carries on), and it neither
answers an SMSC's `unbind` nor notices a silent link. smpplib still makes our PDUs and
performs the bind.
"""

from __future__ import annotations

import queue
import random
import select
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from smpplib import client as smpp_client
from smpplib import consts, smpp
from twisted.internet import defer, threads
from twisted.logger import Logger

from gateway.channels.smpp import pdu
from gateway.errors import ChannelUnavailable

log = Logger()

Mode = Literal["transceiver", "receiver", "transmitter"]
# A deliver_sm waiting for its answer: (session number, sequence_number). The session
# number keeps an answer meant for a link that is gone off the next one, whose SMSC may
# reuse the sequence number for another message.
Token = tuple[int, int]

ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
SUBMIT_SM_RESP = 0x80000004
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
ALERT_NOTIFICATION = 0x00000102


@dataclass(frozen=True)
class BindSettings:
    name: str
    host: str
    port: int
    system_id: str
    password: str
    mode: Mode = "transceiver"
    system_type: str = ""
    address_range: str = ""
    addr_ton: int = 0
    addr_npi: int = 0
    enquire_link: float = 30.0  # idle seconds before we ask whether the link is alive
    response_timeout: float = 10.0  # for bind, enquire_link, submit_sm and a PDU's rest
    reconnect_max: float = 60.0
    window: int = 100  # deliver_sm waiting for our answer at once

    @property
    def receives(self) -> bool:
        return self.mode in ("transceiver", "receiver")

    @property
    def transmits(self) -> bool:
        return self.mode in ("transceiver", "transmitter")


class Handler(Protocol):
    """What a bind tells its channel, on the reactor thread."""

    def deliver(self, bind: Bind, token: Token, d: pdu.Deliver, received_at: datetime) -> None: ...

    def bind_changed(self, bind: Bind, up: bool) -> None: ...


class SmppUnavailable(ChannelUnavailable):
    """No bound transmitter, or the link went down while a submit_sm was out."""


class SubmitRefused(Exception):
    """The SMSC answered submit_sm with an error status."""

    def __init__(self, status: int) -> None:
        desc = consts.DESCRIPTIONS.get(status, "unknown status")
        super().__init__(f"0x{status:08x} {desc}")
        self.status = status

    @property
    def throttled(self) -> bool:
        return self.status in (consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL)


class _Sequence:
    """Sequence numbers for PDUs made on any thread (smpplib's generator has no lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._n = 0

    @property
    def sequence(self) -> int:
        return self._n

    def next_sequence(self) -> int:
        with self._lock:
            self._n = self._n % 0x7FFFFFFF + 1
            return self._n


class _LinkEnded(Exception):
    pass


class Bind:
    def __init__(self, settings: BindSettings, handler: Handler, reactor: Any) -> None:
        self.settings = settings
        self.handler = handler
        self.reactor = reactor
        self.up = False
        self._seq = _Sequence()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._outbox: queue.Queue[bytes | None] | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()  # guards _waiting, _outbox and _sock
        self._waiting: dict[int, defer.Deferred[str]] = {}  # submit_sm out, by sequence
        self._window = threading.Semaphore(settings.window)
        self._unanswered: set[Token] = set()  # deliver_sm handed over, not yet answered
        self._session = 0
        self._unbound = threading.Event()

    def __repr__(self) -> str:
        return f"<Bind {self.settings.name} {self.settings.mode} up={self.up}>"

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"smpp-{self.settings.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> defer.Deferred[None]:
        """Unbind (waiting up to `timeout` for unbind_resp), then close."""
        self._stopping.set()
        if self.up:
            self._send(smpp.make_pdu("unbind", client=self._seq).generate())
        thread = self._thread

        def wait() -> None:
            self._unbound.wait(timeout)
            self._close()
            if thread is not None:
                thread.join(timeout)

        return threads.deferToThread(wait)

    # -- what the channel does (reactor thread) ------------------------------------------

    def respond(self, token: Token, status: int) -> None:
        """deliver_sm_resp for a deliver_sm handed over by `Handler.deliver`. Checked and
        queued under one lock: an answer meant for a link that is gone never reaches the
        next one (whose SMSC may reuse the sequence number)."""
        with self._lock:
            if token not in self._unanswered:
                return  # that link is gone: the SMSC redelivers on the next one
            self._unanswered.discard(token)
            if self._outbox is not None and token[0] == self._session:
                self._outbox.put(_response("deliver_sm_resp", token[1], status))
        self._window.release()

    def submit(self, **fields: Any) -> defer.Deferred[str]:
        """Send a submit_sm; fires with the SMSC's message_id, or fails with SubmitRefused
        or SmppUnavailable (the link went down, or no answer within response_timeout: the
        SMSC may then have taken it)."""
        if not (self.up and self.settings.transmits):
            return defer.fail(SmppUnavailable(f"bind {self.settings.name} is not up to send"))
        seq = self._seq.next_sequence()
        p = smpp.make_pdu("submit_sm", client=self._seq, sequence=seq, **fields)
        p.sequence = seq  # see _response
        d: defer.Deferred[str] = defer.Deferred()
        with self._lock:
            self._waiting[seq] = d
        timer = self.reactor.callLater(self.settings.response_timeout, self._expire, seq)
        d.addBoth(lambda r: (timer.cancel() if timer.active() else None, r)[1])
        if not self._send(p.generate()):
            self._fail(seq, SmppUnavailable(f"bind {self.settings.name} went down"))
        return d

    def _expire(self, seq: int) -> None:
        self._fail(
            seq, SmppUnavailable(f"no submit_sm_resp within {self.settings.response_timeout} s")
        )

    def _fail(self, seq: int, error: Exception) -> None:
        with self._lock:
            d = self._waiting.pop(seq, None)
        if d is not None and not d.called:
            d.errback(error)

    # -- the session thread ----------------------------------------------------------------

    def _run(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            try:
                client = self._bind()
            except Exception as e:  # noqa: BLE001 - whatever the SMSC answered, try again later
                log.warn(
                    "SMPP {bind}: bind to {host}:{port} failed: {error}",
                    bind=self.settings.name,
                    host=self.settings.host,
                    port=self.settings.port,
                    error=str(e) or type(e).__name__,
                )
            else:
                delay = 1.0
                try:
                    self._serve(client)
                except (OSError, _LinkEnded, pdu.PduError) as e:
                    if not self._stopping.is_set():
                        log.warn(
                            "SMPP {bind}: link ended: {error}",
                            bind=self.settings.name,
                            error=str(e) or type(e).__name__,
                        )
                except Exception:  # noqa: BLE001 - the session must come back whatever it was
                    log.failure("SMPP {bind}: session failed", bind=self.settings.name)
                finally:
                    self._teardown()
            if self._stopping.wait(delay * random.uniform(0.8, 1.2)):  # noqa: S311 - jitter
                break
            delay = min(self.settings.reconnect_max, delay * 2)
        self._unbound.set()

    def _bind(self) -> smpp_client.Client:
        s = self.settings
        c = smpp_client.Client(
            s.host,
            s.port,
            timeout=s.response_timeout,
            sequence_generator=self._seq,
            logger_name=f"smpp.{s.name}",
            allow_unknown_opt_params=True,
        )
        try:
            c.connect()
            getattr(c, f"bind_{s.mode}")(
                system_id=s.system_id,
                password=s.password,
                system_type=s.system_type,
                address_range=s.address_range,
                addr_ton=s.addr_ton,
                addr_npi=s.addr_npi,
                interface_version=0x34,
            )
        except BaseException:
            c.disconnect()
            raise
        return c

    def _serve(self, client: smpp_client.Client) -> None:
        sock = client._socket
        client._socket = None  # ours from here on (and smpplib's __del__ stays quiet)
        assert sock is not None
        sock.settimeout(self.settings.response_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        outbox: queue.Queue[bytes | None] = queue.Queue()
        with self._lock:
            self._sock, self._outbox = sock, outbox
            self._session += 1
        writer = threading.Thread(
            target=self._write,
            args=(sock, outbox),
            name=f"smpp-{self.settings.name}-w",
            daemon=True,
        )
        writer.start()
        self.up = True
        log.info(
            "SMPP {bind}: bound as {mode} to {host}:{port}",
            bind=self.settings.name,
            mode=self.settings.mode,
            host=self.settings.host,
            port=self.settings.port,
        )
        self.reactor.callFromThread(self.handler.bind_changed, self, True)
        if self._stopping.is_set():  # stop() came while we were binding
            self._send(smpp.make_pdu("unbind", client=self._seq).generate())
            self._drain()
            return
        poller = select.poll()  # not select(): it fails on a descriptor over 1023
        poller.register(sock, select.POLLIN | select.POLLPRI)
        last_rx = time.monotonic()
        probe_at: float | None = None
        s = self.settings
        while True:
            now = time.monotonic()
            if probe_at is not None:
                wait = probe_at + s.response_timeout - now
                if wait <= 0:
                    raise _LinkEnded(f"no answer to enquire_link within {s.response_timeout} s")
            else:
                wait = last_rx + s.enquire_link - now
                if wait <= 0:
                    self._send(smpp.make_pdu("enquire_link", client=self._seq).generate())
                    probe_at = now
                    continue
            readable = poller.poll(wait * 1000)
            if self._stopping.is_set() and self._unbound.is_set():
                return
            if not readable:
                continue
            raw = self._read_pdu(sock)
            last_rx, probe_at = time.monotonic(), None
            if self._dispatch(raw):
                return

    def _read_pdu(self, sock: socket.socket) -> bytes:
        first = _recv_exact(sock, pdu.HEADER_SIZE)
        try:
            h = pdu.header(first)
        except pdu.PduError as e:
            # A command_length that cannot be right: the stream is lost. Say so, then go.
            seq = int.from_bytes(first[12:16], "big")
            self._send(pdu.generic_nack(seq, e.status))
            self._drain()
            raise
        return first + _recv_exact(sock, h.length - pdu.HEADER_SIZE)

    def _dispatch(self, raw: bytes) -> bool:
        """Act on one PDU; True when the session is over (unbind done)."""
        h = pdu.header(raw)
        body = raw[pdu.HEADER_SIZE :]
        cid = h.command_id
        if cid == pdu.DELIVER_SM:
            self._deliver(h, body)
        elif cid == ENQUIRE_LINK:
            self._send(_response("enquire_link_resp", h.sequence))
        elif cid in (ENQUIRE_LINK_RESP, ALERT_NOTIFICATION):
            pass
        elif cid in (SUBMIT_SM_RESP, pdu.GENERIC_NACK):
            self._answered(h, body)
        elif cid == UNBIND:
            log.info("SMPP {bind}: the SMSC unbinds", bind=self.settings.name)
            self._send(_response("unbind_resp", h.sequence))
            self._drain()
            return True
        elif cid == UNBIND_RESP:
            self._unbound.set()
            return True
        elif not h.is_response:
            log.warn(
                "SMPP {bind}: command 0x{cid:08x} not supported: generic_nack",
                bind=self.settings.name,
                cid=cid,
            )
            self._send(pdu.generic_nack(h.sequence, consts.SMPP_ESME_RINVCMDID))
        else:
            log.debug("SMPP {bind}: ignored response 0x{cid:08x}", bind=self.settings.name, cid=cid)
        return False

    def _deliver(self, h: pdu.Header, body: bytes) -> None:
        received_at = datetime.now(UTC)
        try:
            d = pdu.parse_deliver_sm(body)
        except pdu.PduError as e:
            log.warn(
                "SMPP {bind}: deliver_sm {seq} refused (0x{status:02x}): {error}",
                bind=self.settings.name,
                seq=h.sequence,
                status=e.status,
                error=str(e),
            )
            self._send(_response("deliver_sm_resp", h.sequence, e.status))
            return
        if d.ignored_tlvs:
            log.info(
                "SMPP {bind}: deliver_sm {seq}: ignored TLVs {tags}",
                bind=self.settings.name,
                seq=h.sequence,
                tags=", ".join(f"0x{t:04x}" for t in d.ignored_tlvs),
            )
        # Past `window` unanswered messages, stop reading until the reactor catches up.
        while not self._window.acquire(timeout=1.0):
            if self._stopping.is_set():
                raise _LinkEnded("stopping")
        with self._lock:
            token = (self._session, h.sequence)
            self._unanswered.add(token)
        self.reactor.callFromThread(self.handler.deliver, self, token, d, received_at)

    def _answered(self, h: pdu.Header, body: bytes) -> None:
        with self._lock:
            d = self._waiting.pop(h.sequence, None)
        if d is None:
            return
        if h.status == consts.SMPP_ESME_ROK:
            self.reactor.callFromThread(_fire, d, pdu.cstring_at(body))
        else:
            self.reactor.callFromThread(_fail, d, SubmitRefused(h.status))

    def _drain(self, timeout: float = 2.0) -> None:
        """Let the writer send what is queued (an unbind_resp, a generic_nack) before the
        socket closes: until each PDU taken from the queue is written."""
        with self._lock:
            outbox = self._outbox
        if outbox is None:
            return
        deadline = time.monotonic() + timeout
        while outbox.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    def _teardown(self) -> None:
        was_up, self.up = self.up, False
        self._close()
        with self._lock:
            waiting, self._waiting = self._waiting, {}
            unanswered, self._unanswered = self._unanswered, set()
        for _ in unanswered:
            self._window.release()
        for d in waiting.values():
            self.reactor.callFromThread(_fail, d, SmppUnavailable("the link went down"))
        if was_up:
            self.reactor.callFromThread(self.handler.bind_changed, self, False)

    def _close(self) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
            outbox, self._outbox = self._outbox, None
        if outbox is not None:
            outbox.put(None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    # -- the writer thread -----------------------------------------------------------------

    def _send(self, data: bytes) -> bool:
        with self._lock:
            outbox = self._outbox
        if outbox is None:
            return False
        outbox.put(data)
        return True

    def _write(self, sock: socket.socket, outbox: queue.Queue[bytes | None]) -> None:
        while True:
            data = outbox.get()
            if data is None:
                return
            try:
                sock.sendall(data)
                outbox.task_done()
            except OSError as e:
                log.warn("SMPP {bind}: write failed: {error}", bind=self.settings.name, error=e)
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the session thread's read
                except OSError:
                    pass
                return


def _response(command: str, sequence: int, status: int = consts.SMPP_ESME_ROK) -> bytes:
    """A response PDU to the SMSC's request `sequence`.

    smpplib's `make_pdu` silently drops `sequence=` and `status=` keywords: its `_set_vars`
    skips attributes that already have a value, and `sequence` is a property reading the
    client's counter while `status` was just set to ESME_ROK. A temporary error would go
    out as ESME_ROK. Like smpplib's own `_message_received`, set both afterwards."""
    p = smpp.make_pdu(command, client=None)
    p.sequence = sequence
    p.status = status
    return p.generate()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    parts = []
    while n:
        try:
            chunk = sock.recv(n)
        except TimeoutError:
            raise _LinkEnded("the SMSC stopped in the middle of a PDU") from None
        if not chunk:
            raise _LinkEnded("the SMSC closed the connection")
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _fire(d: defer.Deferred[str], value: str) -> None:
    if not d.called:
        d.callback(value)


def _fail(d: defer.Deferred[Any], error: Exception) -> None:
    if not d.called:
        d.errback(error)
