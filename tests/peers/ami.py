"""A plain AMI client for tests: no panoramisk, so that what the gateway's adapter does is
checked against Asterisk itself, and so that the bytes Asterisk sends are kept exactly as
they came (`AmiSession.raw`, the transcripts of `tests/fixtures/ami/`).

The connection runs on an asyncio loop in a thread of its own; the methods block, with a
timeout, so sync tests (and pytest-twisted's reactor) are not involved.

    with AmiSession(asterisk.ami_host, asterisk.ami_port, "alarmgw", secret) as ami:
        ami.action("Ping")
        ami.wait_event("UserEvent", UserEvent="AlarmgwCall")
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

Message = dict[str, str]


def parse(block: bytes) -> Message:
    """One AMI message (the bytes between blank lines) as a dict; a repeated key keeps the
    first value and later ones go to `key#2`, `key#3` ... (ChanVariable, Variable)."""
    msg: Message = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        n = 1
        name = key
        while name in msg:
            n += 1
            name = f"{key}#{n}"
        msg[name] = value
    return msg


def split_messages(raw: bytes) -> list[bytes]:
    """The messages of a transcript, without the banner line ("Asterisk Call Manager/...")."""
    if raw.startswith(b"Asterisk Call Manager"):
        raw = raw.split(b"\r\n", 1)[1]
    return [m for m in raw.split(b"\r\n\r\n") if m.strip()]


class AmiError(Exception):
    pass


class AmiSession:
    def __init__(
        self, host: str, port: int, username: str, secret: str, *, events: bool = True
    ) -> None:
        self.host, self.port = host, port
        self.username, self.secret = username, secret
        self.events_on = events
        self.raw = bytearray()
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Future[None] | None = None
        self.closed = False

    # -- connection ---------------------------------------------------------------------

    def connect(self, timeout: float = 10.0) -> AmiSession:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._open(), self._loop)
        fut.result(timeout)
        res = self.action(
            "Login",
            Username=self.username,
            Secret=self.secret,
            Events="on" if self.events_on else "off",
            timeout=timeout,
        )
        if res.get("Response") != "Success":
            self.close()
            raise AmiError(f"AMI login as {self.username} failed: {res}")
        return self

    async def _open(self) -> None:
        reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._reader_task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        pending = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            with self._cond:
                self.raw += chunk
                pending += chunk
                if not self.messages and pending.startswith(b"Asterisk Call Manager"):
                    if b"\r\n" not in pending:
                        continue
                    pending = pending.split(b"\r\n", 1)[1]
                    self.messages.append({"Banner": bytes(self.raw).split(b"\r\n")[0].decode()})
                while b"\r\n\r\n" in pending:
                    block, pending = pending.split(b"\r\n\r\n", 1)
                    if block.strip():
                        self.messages.append(parse(block))
                self._cond.notify_all()
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def close(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._writer = None

    async def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            try:
                await self._reader_task
            except (asyncio.CancelledError, OSError):
                pass

    def __enter__(self) -> AmiSession:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- actions and events -------------------------------------------------------------

    def send(self, action: str, **fields: Any) -> str:
        """Send an action without waiting; returns its ActionID. A list value sends the key
        once per item (Variable: A=1, Variable: B=2)."""
        action_id = fields.pop("ActionID", None) or f"t{next(self._ids)}"
        lines = [f"Action: {action}", f"ActionID: {action_id}"]
        for key, value in fields.items():
            for item in value if isinstance(value, list | tuple) else [value]:
                lines.append(f"{key}: {item}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if self._writer is None:
            raise AmiError("not connected")
        writer = self._writer
        self._loop.call_soon_threadsafe(writer.write, data)
        return action_id

    def action(self, action: str, *, timeout: float = 10.0, **fields: Any) -> Message:
        """Send an action and return its response (matched by ActionID)."""
        action_id = self.send(action, **fields)
        return self.wait(lambda m: "Response" in m and m.get("ActionID") == action_id, timeout)

    def action_list(
        self, action: str, *, timeout: float = 10.0, **fields: Any
    ) -> tuple[Message, list[Message]]:
        """An action answered by a list of events ending in `EventList: Complete`."""
        action_id = self.send(action, **fields)
        res = self.wait(lambda m: "Response" in m and m.get("ActionID") == action_id, timeout)
        if res.get("Response") != "Success":
            return res, []
        self.wait(
            lambda m: m.get("ActionID") == action_id and m.get("EventList") == "Complete", timeout
        )
        with self._cond:
            items = [
                m
                for m in self.messages
                if m.get("ActionID") == action_id and "Event" in m and "EventList" not in m
            ]
        return res, items

    def mark(self) -> int:
        """A position in `messages`, for `wait(..., since=mark)`."""
        with self._cond:
            return len(self.messages)

    def wait(
        self, match: Callable[[Message], bool], timeout: float = 10.0, *, since: int = 0
    ) -> Message:
        """The first message from position `since` on (so far or to come) that `match`es."""
        deadline = time.monotonic() + timeout
        seen = since
        with self._cond:
            while True:
                for msg in self.messages[seen:]:
                    if match(msg):
                        return msg
                seen = len(self.messages)
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    why = "connection closed" if self.closed else f"nothing in {timeout} s"
                    raise TimeoutError(f"AMI: no matching message ({why})")
                self._cond.wait(left)

    def wait_event(
        self, event: str, timeout: float = 10.0, *, since: int = 0, **fields: str
    ) -> Message:
        """The first event named `event` whose fields equal `fields`."""
        return self.wait(
            lambda m: m.get("Event") == event and all(m.get(k) == v for k, v in fields.items()),
            timeout,
            since=since,
        )

    def events(self, event: str | None = None, **fields: str) -> list[Message]:
        with self._cond:
            return [
                m
                for m in self.messages
                if "Event" in m
                and (event is None or m["Event"] == event)
                and all(m.get(k) == v for k, v in fields.items())
            ]

    def user_events(self, name: str | None = None) -> list[Message]:
        return [m for m in self.events("UserEvent") if name is None or m["UserEvent"] == name]
