"""Alarm panels of fixed targets (联网报警): a SIA DC-09 receiver on TCP and UDP.

Plain Twisted transports over the pure `frame` module; `receiver.Receiver` decides each
answer after the store has what the frame carries (ACK after commit). Around it:

- the premises registry (`gateway.targets`), held in memory and re-read as it changes
  (keys and names of tens of thousands of panels: a lookup per frame must cost nothing);
- last-seen times, written in one batch a second (supervision messages are most of the
  traffic and are not evidence);
- the supervision check: a panel silent beyond its window opens one low-priority 通讯故障
  incident, once, until it reports again.
"""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer, protocol, task
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin

from gateway.channel import ChannelContext
from gateway.channels.dc09 import frame
from gateway.channels.dc09.metrics import PanelMetrics
from gateway.channels.dc09.receiver import REPORT_CHANNEL, Receiver
from gateway.channels.dc09.settings import Dc09Settings
from gateway.report import AlarmRef, Location, Report, Sender, format_utc
from gateway.service import InFlight, every
from gateway.store.engine import StoreUnavailable
from gateway.targets import registry

log = Logger()


class Dc09Channel(Service):
    name = "dc09"  # type: ignore[assignment]

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.settings: Dc09Settings = ctx.settings
        self.metrics: PanelMetrics = ctx.metrics
        self.clock = ctx.clock
        self.receiver = Receiver(self)
        self.cache: registry.Mirror[tuple[str, str, str], registry.Premises] = registry.Mirror(
            lambda p: (p.account, p.receiver, p.line)
        )
        self._seen: dict[int, tuple[datetime, str]] = {}
        self.inflight = InFlight(ctx.clock, "DC-09")
        self._loops: list[task.LoopingCall] = []
        self._ports: list[Any] = []
        self.links: set[PanelLink] = set()
        self.port: int | None = None
        self.stopping = False

    # -- life cycle ----------------------------------------------------------------------

    @defer.inlineCallbacks
    def startService(self) -> Any:
        super().startService()
        self._check_codes()
        yield self.refresh()
        s = self.settings
        reactor = self.ctx.reactor
        try:
            tcp = reactor.listenTCP(s.port, PanelLinks(self), interface=s.host)
            self._ports.append(tcp)
            self.port = tcp.getHost().port
            if s.udp:
                self._ports.append(
                    reactor.listenUDP(self.port, PanelDatagrams(self), interface=s.host)
                )
        except CannotListenError as e:
            from gateway.app import StartupError

            raise StartupError(f"[channels.dc09] cannot listen on {s.host}:{s.port}: {e}") from None
        log.info(
            "DC-09: listening on {host}:{port} (TCP{udp}), {n} premises",
            host=s.host,
            port=self.port,
            udp=" and UDP" if s.udp else "",
            n=len(self.cache.items),
        )
        for fn, interval in (
            (self.refresh, s.registry_refresh_s),
            (self.flush_seen, s.seen_flush_s),
            (self.supervise, s.supervision_check_s),
        ):
            self._loops.append(every(self.clock, interval, fn, "DC-09"))

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        self.stopping = True
        for loop in self._loops:
            if loop.running:
                loop.stop()
        yield defer.DeferredList([defer.maybeDeferred(p.stopListening) for p in self._ports])
        yield self.inflight.drain()  # answers after commit still on their way go out first
        for link in list(self.links):
            link.transport.loseConnection()
        yield self.flush_seen()

    def _check_codes(self) -> None:
        categories = self.ctx.config.categories
        wrong = [
            (f"codes.{code}.category", o.category)
            for code, o in self.settings.codes.items()
            if o.category and o.category not in categories
        ]
        if self.settings.supervision_category not in categories:
            wrong.append(("supervision_category", self.settings.supervision_category))
        if wrong:
            from gateway.app import StartupError

            where, what = wrong[0]
            known = ", ".join(categories)
            raise StartupError(f"channels.dc09.{where}: unknown category {what!r} ({known})")

    def now(self) -> datetime:
        return self.ctx.now()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> defer.Deferred[Any]:
        """Run `coro` (it awaits Deferreds); a stop waits for it (bounded)."""
        return self.inflight.spawn(coro)

    # -- the frames ------------------------------------------------------------------------

    async def answer(self, raw: bytes, transport: str) -> bytes | None:
        """The answer to one frame, or None when the store failed (the panel repeats)."""
        if self.stopping:
            return None
        try:
            return await self.receiver.answer(raw, transport)
        except StoreUnavailable as e:
            log.warn("DC-09: not stored, no ACK (the panel repeats): {e}", e=str(e))
        except Exception:
            log.failure("DC-09: a frame failed; no ACK (the panel repeats)")
        self.metrics.answers.labels("none", transport).inc()
        return None

    # -- the registry ------------------------------------------------------------------------

    def premises(self, account: str, receiver: str | None, line: str | None) -> Any:
        return registry.find_premises(self.cache.items, account, receiver or "", line or "")

    async def refresh(self) -> None:
        since = self.cache.since(self.clock.seconds())
        rows = await self.ctx.read(registry.premises_changed, since)
        self.cache.apply(rows, since, self.clock.seconds())

    def seen(self, premises_id: int, at: datetime, signal: str) -> None:
        self._seen[premises_id] = (at, signal)

    async def flush_seen(self) -> None:
        if not self._seen:
            return
        batch, self._seen = self._seen, {}
        items = [(pid, at, signal) for pid, (at, signal) in batch.items()]
        try:
            await self.ctx.write(_mark_seen, items)
        except Exception as e:
            log.warn("DC-09: last-seen times not written yet: {e}", e=str(e))
            for pid, value in batch.items():  # newer ones, if any, win
                self._seen.setdefault(pid, value)

    # -- supervision ---------------------------------------------------------------------------

    async def supervise(self) -> None:
        """A panel silent beyond its supervision window: one 通讯故障 incident (the report's
        external id names the silence, so a retry after a failure is the same report)."""
        now = self.now()
        await self.flush_seen()
        overdue = await self.ctx.read(registry.overdue_premises, now, 200)
        for p in overdue:
            since = p.last_seen_at or p.created_at
            hours = (now - since).total_seconds() / 3600
            text = (
                f"通讯故障：{p.name} 的报警终端（联网报警 账号 {p.account}）"
                f"已 {hours:.1f} 小时未上报（监测周期 {p.supervision_s} 秒），请核实"
            )
            report = Report(
                channel=REPORT_CHANNEL,
                external_id=f"supervision/{p.id}/{format_utc(since)}",
                received_at=now,
                sender=Sender("account", p.account, p.name),
                text=text,
                location=Location(lat=p.lat, lon=p.lon, address=p.address or None)
                if p.lat is not None or p.address
                else None,
                category=self.settings.supervision_category,
                priority=self.settings.supervision_priority,
                alarm=AlarmRef(p.account, "supervision"),
                drill=p.account in self.settings.drill_accounts,
                extra={"kind": "supervision", "premises": p.id, "event": "通讯故障"},
            )
            await self.ctx.submit(report)
            await self.ctx.write(_mark_fault, p.id, now)
            self.metrics.events.labels("supervision", "incident").inc()


def _mark_seen(w: Any, items: list[tuple[int, datetime, str]]) -> None:
    registry.mark_seen(w.conn, items)


def _mark_fault(w: Any, premises_id: int, now: datetime) -> bool:
    return registry.mark_fault_reported(w.conn, premises_id, now)


# -- the transports ------------------------------------------------------------------------------


class PanelLink(protocol.Protocol, TimeoutMixin):
    """One panel's TCP link: frames in the order they come, each answered when stored."""

    transport: Any  # Twisted's interfaces do not type-check as attributes

    def __init__(self, channel: Dc09Channel) -> None:
        self.ch = channel
        self.buffer = bytearray()

    def connectionMade(self) -> None:
        if len(self.ch.links) >= self.ch.settings.max_connections or self.ch.stopping:
            self.transport.loseConnection()
            return
        self.ch.links.add(self)
        self.ch.metrics.links.set(len(self.ch.links))
        self.setTimeout(self.ch.settings.idle_timeout_s)

    def connectionLost(self, reason: Any = None) -> None:
        self.setTimeout(None)
        self.ch.links.discard(self)
        self.ch.metrics.links.set(len(self.ch.links))

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        self.buffer += data
        for item in frame.split_stream(self.buffer):
            if isinstance(item, frame.FrameError):
                self.ch.metrics.refused.labels(item.kind).inc()
                self.transport.write(frame.duh(None, self.ch.now()))
                continue
            self.ch.spawn(self._answer(item))

    async def _answer(self, raw: bytes) -> None:
        reply = await self.ch.answer(raw, "tcp")
        if reply is not None and self.transport is not None and self.connected:
            self.transport.write(reply)


class PanelLinks(protocol.Factory):
    def __init__(self, channel: Dc09Channel) -> None:
        self.ch = channel

    def buildProtocol(self, addr: Any) -> PanelLink:
        return PanelLink(self.ch)


class PanelDatagrams(protocol.DatagramProtocol):
    """DC-09 over UDP: one frame per datagram, the answer to its sender."""

    transport: Any  # Twisted's interfaces do not type-check as attributes

    def __init__(self, channel: Dc09Channel) -> None:
        self.ch = channel

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.ch.spawn(self._answer(datagram, addr))

    async def _answer(self, datagram: bytes, addr: Any) -> None:
        reply = await self.ch.answer(datagram, "udp")
        if reply is not None and self.transport is not None:
            self.transport.write(reply, addr)
