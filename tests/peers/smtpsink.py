"""A scriptable SMTP receiver for tests that need something at the far end of an MTA:
aiosmtpd in a background thread with an asyncio loop of its own, recording every message.

    sink = SmtpSink()
    port = sink.start()
    sink.defer(2)               # the next 2 messages get "451 4.3.0 try later"
    sink.reject(rcpt="x@y")     # a message for x@y gets "550 5.7.1 ..."
    ... an MTA relays to 127.0.0.1:port ...
    sink.wait_count(3)
    sink.stop()                 # closes the port and the open sessions; start() reopens it

Test-only: the gateway's own SMTP channel runs aiosmtpd on the Twisted reactor's loop, not
in a Controller thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"
TRY_LATER = "451 4.3.0 try later"
REJECTED = "550 5.7.1 rejected by the test sink"


@dataclass(frozen=True)
class Received:
    """One DATA the sink answered: what came, and what it said."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    content: bytes
    reply: str

    @property
    def accepted(self) -> bool:
        return self.reply.startswith("250")

    @property
    def body(self) -> bytes:
        """The content after the header block (the MTA adds headers, never touches this)."""
        head, sep, body = self.content.partition(b"\r\n\r\n")
        if not sep:
            head, sep, body = self.content.partition(b"\n\n")
        return body


@dataclass
class _Script:
    reply: str
    count: int
    match: Callable[[Envelope], bool] | None = field(default=None)


class SmtpSink:
    """One listening aiosmtpd. `messages()` are the accepted ones, `attempts()` every DATA
    including the refused; both in arrival order."""

    def __init__(self, host: str = HOST, smtputf8: bool = True) -> None:
        self.host = host
        self.smtputf8 = smtputf8
        self.port: int | None = None
        self._lock = threading.Condition()
        self._attempts: list[Received] = []
        self._scripts: list[_Script] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._sessions: set[SMTP] = set()

    # -- life -----------------------------------------------------------------------------

    def start(self, port: int | None = None) -> int:
        """Listen on `port` (default: the last one, else a free one); returns the port."""
        if self._loop is not None:
            raise RuntimeError("the sink is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True, name="smtpsink")
        thread.start()
        self._loop, self._thread = loop, thread
        want = port if port is not None else (self.port or 0)
        try:
            # reuse_address (asyncio's default on Unix) lets a restart take the same port
            # while the last run's connections sit in TIME_WAIT.
            server = asyncio.run_coroutine_threadsafe(
                loop.create_server(self._protocol, self.host, want), loop
            ).result(5)
        except BaseException:
            self._stop_loop()
            raise
        self._server = server
        self.port = int(server.sockets[0].getsockname()[1])
        return self.port

    def stop(self) -> None:
        """Close the port and cut the open sessions (an MTA's cached connection included),
        as a receiver that died would. Safe to call twice."""
        loop, server = self._loop, self._server
        if loop is None:
            return
        self._server = None

        async def close() -> None:
            if server is not None:
                server.close()
                await server.wait_closed()
            for s in list(self._sessions):
                if isinstance(s.transport, asyncio.Transport):
                    s.transport.abort()

        try:
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=5)
        loop.close()

    def __enter__(self) -> SmtpSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _protocol(self) -> SMTP:
        sink = self

        class _Tracked(SMTP):
            def connection_made(self, transport: Any) -> None:
                sink._sessions.add(self)
                super().connection_made(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                sink._sessions.discard(self)
                super().connection_lost(exc)

        return _Tracked(
            self, hostname="sink.test", enable_SMTPUTF8=self.smtputf8, data_size_limit=None
        )

    # -- script ---------------------------------------------------------------------------

    def answer(
        self, reply: str, count: int = 1, match: Callable[[Envelope], bool] | None = None
    ) -> None:
        """Answer `reply` to DATA for the next `count` messages (that `match` accepts)."""
        with self._lock:
            self._scripts.append(_Script(reply, count, match))

    def defer(self, count: int = 1, reply: str = TRY_LATER) -> None:
        self.answer(reply, count)

    def reject(self, count: int = 1, rcpt: str | None = None, reply: str = REJECTED) -> None:
        match = None if rcpt is None else (lambda env: rcpt in env.rcpt_tos)
        self.answer(reply, count, match)

    def clear(self) -> None:
        """Forget the scripted replies: 250 from now on."""
        with self._lock:
            self._scripts.clear()

    def _reply_for(self, envelope: Envelope) -> str:
        for s in self._scripts:
            if s.match is None or s.match(envelope):
                s.count -= 1
                if s.count <= 0:
                    self._scripts.remove(s)
                return s.reply
        return "250 2.0.0 OK"

    # aiosmtpd handler hook
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self._lock:
            reply = self._reply_for(envelope)
            self._attempts.append(
                Received(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    mail_options=tuple(envelope.mail_options),
                    content=content,
                    reply=reply,
                )
            )
            self._lock.notify_all()
        return reply

    # -- what came ------------------------------------------------------------------------

    def attempts(self) -> list[Received]:
        with self._lock:
            return list(self._attempts)

    def messages(self) -> list[Received]:
        with self._lock:
            return [r for r in self._attempts if r.accepted]

    def wait_count(self, n: int, timeout: float = 10.0, accepted: bool = True) -> list[Received]:
        """Wait until at least `n` messages were accepted (or attempted); return them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [r for r in self._attempts if r.accepted or not accepted]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    what = "accepted" if accepted else "attempted"
                    raise TimeoutError(
                        f"{len(got)} of {n} messages {what} within {timeout} s; "
                        f"replies so far: {[r.reply for r in self._attempts]}"
                    )
                self._lock.wait(left)
