"""An AMI link that stays up: panoramisk 1.4 with its traps fixed on our side.

What panoramisk does not do, and this module does:

- **UTF-8 across reads.** panoramisk decodes each TCP chunk with ``'ignore'``, so a caller
  name split between two reads loses its characters. `_Protocol` decodes with an
  incremental decoder that carries a partial character over to the next read.
- **A handler error never drops the link.** panoramisk calls handlers inside
  ``data_received``; an exception there closes the connection. `_Manager.dispatch` catches
  and logs it per handler.
- **Half-open links are found.** panoramisk sends Ping and never reads the answer. Here a
  keepalive sends Ping every ``ping_interval`` seconds and aborts the connection when no
  answer comes within ``action_timeout`` (also the Login).
- **Every action has a timeout**, and an action in flight when the link drops fails at once
  with `AmiUnavailable` instead of hanging (panoramisk would re-send it after the reconnect,
  which for an Originate would ring somebody twice).
- **Reconnect with backoff** (exponential, capped, with jitter), and ``on_up`` after each
  successful Login so the caller can reconcile with Asterisk's own state.
"""

from __future__ import annotations

import asyncio
import codecs
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message
from twisted.logger import Logger

from gateway.errors import ChannelUnavailable

log = Logger()

EOL2 = "\r\n\r\n"


class AmiUnavailable(ChannelUnavailable):
    """No logged-in AMI link, or it dropped / timed out during the action (temporary)."""


class AmiError(Exception):
    """Asterisk answered the action with an error."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class _Everything:
    """panoramisk re-sends after a reconnect every action not in ``forgetable_actions``;
    we forget them all (the caller has had its `AmiUnavailable`)."""

    def __contains__(self, _item: object) -> bool:
        return True


class _Protocol(AMIProtocol):  # type: ignore[misc]
    version: str | None
    closed: bool

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = ""

    def data_received(self, data: bytes) -> None:
        text = self._buffer + self._decoder.decode(data)
        if self.version is None and text.startswith("Asterisk Call Manager/"):
            first, _, _ = text.partition("\r\n")
            self.version = first.partition("/")[2].strip()
        *messages, self._buffer = text.split(EOL2)
        for raw in messages:
            message = Message.from_line(raw.strip())
            if message is not None:
                self.handle_message(message)

    def close(self) -> None:
        pending = list(self.responses.values())
        self.responses.clear()
        for action in pending:
            if not action.future.done():
                action.future.set_exception(AmiUnavailable("the AMI link dropped"))
        if not self.closed:
            self.closed = True
            self.transport.close()


class _Manager(Manager):  # type: ignore[misc]
    def __init__(self, link: AmiLink, **config: Any) -> None:
        super().__init__(**config)
        self.link = link
        self.forgetable_actions = _Everything()

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        try:
            _transport, protocol = f.result()
        except OSError as e:
            self.link._down(e)
            return
        self.protocol = protocol
        protocol.factory = self
        protocol.encoding = self.encoding = "utf-8"
        self.responses = protocol.responses
        self.link._connected()

    def ping(self) -> None:
        """Disabled: `AmiLink` checks its own pings."""

    def dispatch(self, event: Message) -> list[str]:
        if (event.get("Event") or "").lower() == "fullybooted":
            return []
        try:
            self.link._event(event)
        except Exception:  # noqa: BLE001 - an error in our handler must not drop the link
            log.failure("AMI: handling {event} failed", event=event.get("Event"))
        return []

    def connection_lost(self, exc: Any) -> None:
        self._connected = False
        self.authenticated = False
        self.link._down(exc)


class AmiLink:
    """One AMI connection, kept up for as long as the link is started."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        on_event: Callable[[Mapping[str, str]], None],
        on_up: Callable[[], Awaitable[None]] | None = None,
        action_timeout: float = 5.0,
        ping_interval: float = 5.0,
        reconnect_initial: float = 0.5,
        reconnect_max: float = 30.0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.secret = username, secret
        self.on_event = on_event
        self.on_up = on_up
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.loop = loop
        self.up = False  # logged in
        self._delay = reconnect_initial
        self._manager: _Manager | None = None
        self._running = False
        self._retry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.up_changed: Callable[[bool], None] | None = None

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.loop = self.loop or asyncio.get_event_loop()
        self._running = True
        self._connect()

    def stop(self) -> None:
        self._running = False
        if self._retry is not None:
            self._retry.cancel()
        for t in list(self._tasks):
            t.cancel()
        if self._manager is not None and self._manager.protocol is not None:
            self._manager.protocol.close()
        self._set_up(False)

    def drop(self) -> None:
        """Abort the TCP connection (as a broken link would); it reconnects by itself."""
        m = self._manager
        if m is not None and m.protocol is not None and not m.protocol.closed:
            m.protocol.transport.abort()

    def _connect(self) -> None:
        if not self._running:
            return
        assert self.loop is not None
        self._manager = _Manager(
            self,
            host=self.host,
            port=self.port,
            loop=self.loop,
            protocol_factory=_Protocol,
            ping_delay=10**9,
        )
        self._manager.connect()

    def _connected(self) -> None:
        self._spawn(self._login())

    async def _login(self) -> None:
        try:
            resp = await self.action(
                "Login", Username=self.username, Secret=self.secret, Events="on", _login=True
            )
        except AmiError as e:
            log.error("AMI: login as {user} refused: {error}", user=self.username, error=e.message)
            self.drop()
            return
        except AmiUnavailable as e:
            log.warn("AMI: no answer to Login: {error}", error=str(e))
            self.drop()
            return
        log.info(
            "AMI: logged in to {host}:{port} as {user} ({resp})",
            host=self.host,
            port=self.port,
            user=self.username,
            resp=resp.get("Message", ""),
        )
        self._delay = self.reconnect_initial
        self._set_up(True)
        self._spawn(self._keepalive())
        if self.on_up is not None:
            self._spawn(self.on_up())

    def _down(self, exc: Any) -> None:
        was_up = self.up
        self._set_up(False)
        for t in list(self._tasks):
            if t is not asyncio.current_task():
                t.cancel()
        if not self._running:
            return
        delay = self._delay * random.uniform(0.8, 1.2)  # noqa: S311 - not crypto
        self._delay = min(self.reconnect_max, self._delay * 2)
        (log.warn if was_up else log.debug)(
            "AMI: link to {host}:{port} down ({error}); reconnecting in {delay:.1f}s",
            host=self.host,
            port=self.port,
            error=_reason(exc),
            delay=delay,
        )
        assert self.loop is not None
        self._retry = self.loop.call_later(delay, self._connect)

    def _set_up(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            if self.up_changed is not None:
                self.up_changed(up)

    def _spawn(self, coro: Any) -> None:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("AMI: task failed: {error!r}", error=task.exception())

    async def _keepalive(self) -> None:
        while self.up:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.action("Ping")
            except (AmiUnavailable, AmiError) as e:
                log.warn("AMI: Ping unanswered ({error}): the link is dead", error=str(e))
                self.drop()
                return

    def _event(self, event: Mapping[str, str]) -> None:
        if (event.get("Event") or "").lower() == "shutdown":
            log.warn("AMI: Asterisk is shutting down")
        self.on_event(event)

    # -- actions -------------------------------------------------------------------------

    async def action(self, name: str, *, timeout: float | None = None, **fields: Any) -> Any:
        """Send one action and wait for its answer (a Message, or for a list action the
        list of messages). Raises `AmiUnavailable` (no link, dropped, timed out) or
        `AmiError` (Asterisk said Error)."""
        login = fields.pop("_login", False)
        m = self._manager
        if m is None or m.protocol is None or m.protocol.closed or (not self.up and not login):
            raise AmiUnavailable(f"{name}: the AMI link is down")
        future = m.send_action(dict({"Action": name}, **fields))
        try:
            resp = await asyncio.wait_for(
                asyncio.shield(future), timeout if timeout is not None else self.action_timeout
            )
        except TimeoutError:
            m.protocol.responses.pop(_action_id(future, m), None)
            raise AmiUnavailable(f"{name}: no answer within the timeout") from None
        first = resp[0] if isinstance(resp, list) else resp
        if (first.get("Response") or "").lower() == "error":
            raise AmiError(name, first.get("Message") or "error")
        return resp


def _action_id(future: Any, manager: _Manager) -> str | None:
    for key, action in list(manager.protocol.responses.items()):
        if action.future is future:
            return str(key)
    return None


def _reason(exc: Any) -> str:
    if exc is None:
        return "closed"
    if isinstance(exc, BaseException):
        return f"{type(exc).__name__}: {exc}"
    return "Shutdown"


def as_list(resp: Any) -> list[Any]:
    return resp if isinstance(resp, list) else [resp]


def originate_failed(resp: Any) -> str | None:
    """None if the originated call was answered; else why not (OriginateResponse)."""
    final = as_list(resp)[-1]
    if (final.get("Response") or "").lower() == "success" and final.get("Event"):
        return None
    if final.get("Event") != "OriginateResponse":
        return None if (final.get("Response") or "").lower() == "success" else "refused"
    reason = final.get("Reason", "")
    return {"1": "hung up", "3": "no answer", "5": "busy", "8": "congestion"}.get(
        reason, f"failed (reason {reason or '?'})"
    )
