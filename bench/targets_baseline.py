"""The same-run baselines of bench/targets.py: each channel's wire without the gateway.

- **JT/T 808**: a plain asyncio server that reads every frame with the gateway's own
  `frame.Decoder` and answers at once — 0x8100 with a fixed auth code to a registration,
  0x8001 "ok" to anything else — and keeps nothing. It takes the same terminals as the
  gateway (one fd each), so it raises its soft fd limit to the hard one as well.
- **DC-09**: a plain asyncio server that does the receiver's wire work with the gateway's
  `frame` module — split the stream, read the envelope, decrypt with the account's key,
  read the data, check the time window — and ACKs (encrypted when the frame was), storing
  nothing.

Both listen on 127.0.0.1 with the listen backlog Twisted's `listenTCP` uses (50), on the
event loop the gateway's asyncio reactor also runs on (the default selector loop), and run
in a process of their own until terminated; `serve_*` send ``("listening", port)`` on the
pipe once they accept. Not meant to be run by hand.
"""

from __future__ import annotations

import asyncio
import resource
import sys
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.channels.dc09 import frame as dc09  # noqa: E402
from gateway.channels.jt808 import frame as jt808  # noqa: E402

BACKLOG = 50  # twisted.internet.tcp.Port's default, what the gateway listens with
AUTH_CODE = "BENCHMARK"


def raise_nofile() -> int:
    """The soft limit of open files up to the hard one (root cannot go past it either)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class TerminalEcho(asyncio.Protocol):
    """One terminal's link: every frame answered at once, nothing kept."""

    def __init__(self) -> None:
        self.decoder = jt808.Decoder()
        self.serial = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        for m in self.decoder.feed(data):
            if isinstance(m, jt808.FrameError):
                continue
            h = m.header
            self.serial = (self.serial + 1) & 0xFFFF
            if h.msg_id == jt808.REGISTER:
                answer = jt808.register_response(
                    h.phone_raw, self.serial, h.serial, 0, AUTH_CODE, h.version
                )
            else:
                answer = jt808.general_response(
                    h.phone_raw, self.serial, h.serial, h.msg_id, jt808.RESULT_OK, h.version
                )
            self.transport.write(answer)


class PanelAck(asyncio.Protocol):
    """One panel's link: each frame read as the receiver reads it and ACKed, nothing kept."""

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys
        self.buffer = bytearray()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        for raw in dc09.split_stream(self.buffer):
            now = datetime.now(UTC)
            if isinstance(raw, dc09.FrameError):
                self.transport.write(dc09.duh(None, now))
                continue
            try:
                env = dc09.read_envelope(raw)
                key = self.keys.get(env.account)
                msg = dc09.open_message(env, key)
                dc09.parse_data(env.token, msg.data)
            except dc09.FrameError:
                self.transport.write(dc09.duh(None, now))
                continue
            if not dc09.timestamp_ok(msg, now):
                self.transport.write(dc09.nak(now))
                continue
            self.transport.write(dc09.ack(env, key, now))


async def _serve(factory: Any, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0, backlog=BACKLOG)
    pipe.send(("listening", server.sockets[0].getsockname()[1]))
    await server.serve_forever()


def serve_jt808(pipe: Connection) -> None:
    raise_nofile()
    asyncio.run(_serve(TerminalEcho, pipe))


def serve_dc09(pipe: Connection, keys: dict[str, bytes]) -> None:
    raise_nofile()
    asyncio.run(_serve(lambda: PanelAck(keys), pipe))
