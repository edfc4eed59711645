"""A JT/T 808 vehicle terminal for tests and benchmarks (no terminal simulator is packaged for
Debian or PyPI): it speaks through the terminal-side builders of
`gateway.channels.jt808.frame`, which are checked byte for byte against published frames of
other implementations (Traccar's decoder tests, yezhihao's jt808-server) in
tests/channels/jt808/test_frame.py."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

from gateway.channels.jt808 import frame

STATUS_LOCATED = 0x02  # status bit 1: the position is a fix (bit 0: ACC on)


class Terminal:
    def __init__(self, phone: str, port: int, version: int | None = None) -> None:
        self.phone = phone
        self.version = version
        self.phone_raw = frame.bcd_phone(phone, version)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.settimeout(10)
        self.decoder = frame.Decoder()
        self.inbox: list[frame.Message] = []
        self.serial = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, msg_id: int, body: bytes) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        self.sock.sendall(frame.encode(msg_id, self.phone_raw, self.serial, body, self.version))
        return self.serial

    def receive(
        self, msg_id: int, timeout: float = 10.0, reply_to: int | None = None
    ) -> frame.Message | None:
        """The next message `msg_id` from the platform (for 0x8001/0x8100 the answer to
        serial `reply_to`), or None when none came in time."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.inbox:
                if m.header.msg_id == msg_id and (
                    reply_to is None or int.from_bytes(m.body[:2], "big") == reply_to
                ):
                    self.inbox.remove(m)
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not data:
                return None
            for item in self.decoder.feed(data):
                assert not isinstance(item, frame.FrameError), f"the platform sent {item}"
                self.inbox.append(item)

    def answer(self, serial: int, timeout: float = 10.0) -> int | None:
        """The result of the platform's general response (0x8001) to our message `serial`."""
        m = self.receive(0x8001, timeout, reply_to=serial)
        return None if m is None else m.body[4]

    def register(self, plate: str = "", plate_color: int = 2) -> str:
        body = frame.register_body(
            53, 100, "ALMGW", "T1", self.phone[-7:], plate_color, plate, self.version
        )
        serial = self.send(0x0100, body)
        m = self.receive(0x8100, reply_to=serial)
        assert m is not None, "no 0x8100"
        assert m.body[2] == 0, f"registration refused: result {m.body[2]}"
        return m.body[3:].decode("gb18030")

    def authenticate(self, code: str) -> int | None:
        return self.answer(
            self.send(
                0x0102, frame.auth_body(code, self.version, imei="860000000000001", software="1.0")
            )
        )

    def heartbeat(self) -> int:
        return self.send(0x0002, b"")

    def position(
        self,
        lat: float,
        lon: float,
        *,
        alarm: int = 0,
        speed_kmh: float = 30.0,
        heading: int = 90,
        at: datetime | None = None,
        located: bool = True,
    ) -> int:
        body = frame.position_body(
            alarm,
            STATUS_LOCATED if located else 0,
            lat,
            lon,
            1900,
            speed_kmh,
            heading,
            at or datetime.now(UTC).replace(microsecond=0),
        )
        return self.send(0x0200, body)
