"""Vehicle terminals of mobile targets (移动目标: taxis, cash vans, buses) over JT/T 808.

A plain Twisted protocol over the pure `frame` module. Most of the traffic is heartbeats
and positions: they never go through intake — each terminal's latest position waits in
memory (one entry per terminal, so memory is bounded by the fleet) and all of them are
written in one batch a second. One emergency (SOS, bit 0 of the alarm word) must become an
incident at once: a priority-1 report at the vehicle's position with its plate and company,
and the platform's general response 0x8001 goes out only after its commit. While that
incident is open, the vehicle's positions are the incident's **track** (written with the
batch; one that carries an alarm is answered after that batch's commit). When a call-taker
accepts the incident the terminal gets 0x8203 (人工确认报警).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer, protocol, task
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin

from gateway.channel import ChannelContext
from gateway.channels.jt808 import frame, store
from gateway.channels.jt808.metrics import VehicleMetrics
from gateway.channels.jt808.settings import Jt808Settings
from gateway.report import AlarmRef, Location, Report, Sender
from gateway.service import InFlight, every
from gateway.store.engine import StoreUnavailable
from gateway.targets import registry

log = Logger()

REGISTER, AUTH, HEARTBEAT, LOGOUT, POSITION, BATCH = 0x0100, 0x0102, 0x0002, 0x0003, 0x0200, 0x0704
TERMINAL_RESPONSE = 0x0001
OK, FAILED, MESSAGE_ERROR, UNSUPPORTED, ALARM_CONFIRMED = 0, 1, 2, 3, 4
CLOSING_ACTIONS = frozenset({"close", "cancel", "mark_invalid", "merge"})


class Jt808Channel(Service):
    name = "jt808"  # type: ignore[assignment]

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.settings: Jt808Settings = ctx.settings
        self.metrics: VehicleMetrics = ctx.metrics
        self.clock = ctx.clock
        secret = self.settings.auth_secret or f"alarmgw:{ctx.config.city.code}"
        self.secret = secret.encode()
        self.fleet: registry.Mirror[str, registry.Vehicle] = registry.Mirror(lambda v: v.terminal)
        self.links: dict[str, TerminalLink] = {}  # terminal → its link (the latest)
        self.all_links: set[TerminalLink] = set()
        # Open emergencies: terminal → (incident id, number); one being filed: a Deferred.
        self.emergencies: dict[str, tuple[int, str]] = {}
        self.filing: dict[str, defer.Deferred[tuple[int, str] | None]] = {}
        self.to_confirm: dict[str, tuple[str, int]] = {}  # terminal → (number, alarm serial)
        self.sos_serial: dict[str, int] = {}  # terminal → serial of its first SOS message
        self.positions: dict[str, registry.PositionUpdate] = {}
        self.seen: dict[str, datetime] = {}  # heartbeats: terminal → when
        self._soon: Any = None  # a flush brought forward for an alarm waiting on it
        self.track: list[dict[str, Any]] = []
        self.track_waiters: list[defer.Deferred[None]] = []
        self._flushing: defer.Deferred[None] | None = None
        self.inflight = InFlight(ctx.clock, "JT/T 808")
        self._loops: list[task.LoopingCall] = []
        self._listening: Any = None
        self._unsubscribe: Any = None
        self.port: int | None = None
        self.stopping = False

    # -- life cycle ----------------------------------------------------------------------

    @defer.inlineCallbacks
    def startService(self) -> Any:
        super().startService()
        if self.settings.sos_category not in self.ctx.config.categories:
            from gateway.app import StartupError

            known = ", ".join(self.ctx.config.categories)
            raise StartupError(
                f"channels.jt808.sos_category: unknown category "
                f"{self.settings.sos_category!r} ({known})"
            )
        for bit, spec in self.settings.alarm_bits.items():
            if spec.category not in self.ctx.config.categories:
                from gateway.app import StartupError

                raise StartupError(
                    f"channels.jt808.alarm_bits.{bit}.category: unknown category {spec.category!r}"
                )
        yield self.refresh()
        found = yield self.ctx.read(store.open_emergencies)
        self.emergencies = {t: (iid, number) for t, (iid, number, _) in found.items()}
        # Accepted before a restart: the confirmation may not have reached the terminal.
        # It goes again when the terminal next authenticates (for all its alarms: serial 0).
        self.to_confirm = {t: (n, 0) for t, (_, n, state) in found.items() if state != "received"}
        s = self.settings
        try:
            self._listening = self.ctx.reactor.listenTCP(
                s.port, TerminalLinks(self), interface=s.host
            )
        except CannotListenError as e:
            from gateway.app import StartupError

            raise StartupError(
                f"[channels.jt808] cannot listen on {s.host}:{s.port}: {e}"
            ) from None
        self.port = self._listening.getHost().port
        if not s.auth_secret:
            log.warn("JT/T 808: no auth_secret set: auth codes are guessable; set one")
        log.info(
            "JT/T 808: listening on {host}:{port}, {n} vehicles, {e} open emergencies",
            host=s.host,
            port=self.port,
            n=len(self.vehicles),
            e=len(self.emergencies),
        )
        for fn, interval in ((self.flush, s.flush_s), (self.refresh, s.registry_refresh_s)):
            self._loops.append(every(self.clock, interval, fn, "JT/T 808"))
        self._unsubscribe = self.ctx.on_action(self.after_action)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        self.stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        for loop in self._loops:
            if loop.running:
                loop.stop()
        if self._listening is not None:
            yield defer.maybeDeferred(self._listening.stopListening)
        yield self.inflight.drain()
        yield self.flush()
        for link in list(self.all_links):
            link.transport.loseConnection()

    def now(self) -> datetime:
        return self.ctx.now()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> defer.Deferred[Any]:
        """Run `coro` (it awaits Deferreds); a stop waits for it (bounded)."""
        return self.inflight.spawn(coro)

    async def refresh(self) -> None:
        since = self.fleet.since(self.clock.seconds())
        rows = await self.ctx.read(registry.vehicles_changed, since)
        self.fleet.apply(rows, since, self.clock.seconds())

    @property
    def vehicles(self) -> dict[str, registry.Vehicle]:
        return self.fleet.items

    def auth_code(self, terminal: str) -> str:
        return hmac.new(self.secret, terminal.encode(), hashlib.sha256).hexdigest()[:16].upper()

    # -- batched writes ------------------------------------------------------------------------

    def keep_position(self, terminal: str, pos: frame.Position, now: datetime) -> None:
        self.positions[terminal] = registry.PositionUpdate(
            terminal=terminal,
            lat=pos.lat,
            lon=pos.lon,
            speed_kmh=pos.speed_kmh,
            heading=pos.heading,
            fix_at=pos.time or now,
            seen_at=now,
            alarm_flags=pos.alarm,
        )
        self._pressure()

    def keep_seen(self, terminal: str, now: datetime) -> None:
        self.seen[terminal] = now
        self._pressure()

    def keep_track(
        self, incident_id: int, terminal: str, pos: frame.Position, now: datetime
    ) -> defer.Deferred[None]:
        """A track point; the Deferred fires after the batch that holds it is committed."""
        self.track.append(
            {
                "incident_id": incident_id,
                "terminal": terminal,
                "fix_at": pos.time or now,
                "lat": pos.lat,
                "lon": pos.lon,
                "speed_kmh": pos.speed_kmh,
                "heading": pos.heading,
                "alarm": pos.alarm,
                "received_at": now,
            }
        )
        d: defer.Deferred[None] = defer.Deferred()
        self.track_waiters.append(d)
        self._pressure()
        if self._soon is None or not self._soon.active():  # an alarm waits: 50 ms, not 1 s
            self._soon = self.clock.callLater(0.05, self.flush)
        return d

    def _pressure(self) -> None:
        waiting = len(self.positions) + len(self.track) + len(self.seen)
        self.metrics.pending.set(waiting)
        if waiting >= self.settings.max_pending_positions and self._flushing is None:
            self.flush()

    def flush(self) -> defer.Deferred[None]:
        """Write what waits in one transaction (one at a time; the next waits its turn)."""
        if self._flushing is not None:
            if self.track_waiters and (self._soon is None or not self._soon.active()):
                self._soon = self.clock.callLater(0.05, self.flush)  # the next one, soon
            return self._flushing
        if not self.positions and not self.track and not self.seen:
            return defer.succeed(None)
        positions, self.positions = list(self.positions.values()), {}
        seen, self.seen = list(self.seen.items()), {}
        track, self.track = self.track, []
        waiters, self.track_waiters = self.track_waiters, []
        self.metrics.pending.set(0)

        def done(result: Any) -> None:
            self._flushing = None
            for w in waiters:
                w.callback(None)

        def failed(f: Any) -> None:
            self._flushing = None
            log.warn("JT/T 808: batch not written: {e}", e=str(f.value))
            for p in positions:  # newer positions win
                self.positions.setdefault(p.terminal, p)
            for terminal, at in seen:
                self.seen.setdefault(terminal, at)
            for w in waiters:  # the alarm frames are not answered: the terminal repeats
                w.errback(f)

        d = self.ctx.write(store.write_batch, positions, track, seen)
        self._flushing = d.addCallbacks(done, failed)
        return self._flushing

    # -- emergencies -------------------------------------------------------------------------

    async def emergency(
        self, link: TerminalLink, header: frame.Header, pos: frame.Position, now: datetime
    ) -> None:
        """A position carrying the SOS bit, or any position of a vehicle in emergency:
        the incident, or a track point of it; answered 0x8001 after the commit."""
        terminal = header.phone
        open_ = self.emergencies.get(terminal)
        if open_ is None and terminal in self.filing:
            open_ = await self.filing[terminal]
        if open_ is None and pos.sos:
            pending: defer.Deferred[tuple[int, str] | None] = defer.Deferred()
            self.filing[terminal] = pending
            try:
                open_ = await self.file_sos(header, pos, now, link.authenticated)
            except BaseException:
                pending.callback(None)
                raise
            finally:
                self.filing.pop(terminal, None)
            pending.callback(open_)
            self.emergencies[terminal] = open_
            self.sos_serial.setdefault(terminal, header.serial)
            self.metrics.messages.labels("0x0200", "sos_incident").inc()
        elif open_ is not None:
            await self.keep_track(open_[0], terminal, pos, now)
            self.metrics.messages.labels("0x0200", "track").inc()
        self.keep_position(terminal, pos, now)

    async def file_sos(
        self, header: frame.Header, pos: frame.Position, now: datetime, authenticated: bool
    ) -> tuple[int, str]:
        """The emergency's incident. A terminal that has not authenticated on this link is
        still heard (an alarm is never dropped for want of a handshake), and the report
        says so: its number could be claimed by anyone who can reach the port."""
        terminal = header.phone
        v = self.vehicles.get(terminal)
        report = Report(
            channel=store.REPORT_CHANNEL,
            external_id=f"{terminal}/{header.serial}/{_stamp(pos)}",
            received_at=now,
            sender=Sender("terminal", terminal, v.plate if v and v.plate else None),
            text=describe_sos(terminal, v, pos),
            location=Location(lat=pos.lat, lon=pos.lon) if _located(pos) else None,
            category=self.settings.sos_category,
            priority=1,
            alarm=AlarmRef(f"jt808:{terminal}", "sos"),
            drill=terminal in self.settings.drill_terminals,
            extra=_extra(terminal, v, pos, authenticated),
        )
        receipt = await self.ctx.submit(report)
        iid = await self.ctx.read(store.incident_id, receipt.incident)
        assert iid is not None
        return iid, receipt.incident

    async def bit_alarm(
        self, header: frame.Header, pos: frame.Position, now: datetime, authenticated: bool
    ) -> None:
        """Alarm bits the config makes incidents of, on their rising edge only."""
        terminal = header.phone
        previous = self.positions.get(terminal)
        before = previous.alarm_flags if previous is not None else 0
        v = self.vehicles.get(terminal)
        for bit, spec in sorted(self.settings.alarm_bits.items()):
            if not pos.alarm & (1 << bit) or before & (1 << bit):
                continue
            name = frame.ALARM_BITS.get(bit, f"报警位 {bit}")
            report = Report(
                channel=store.REPORT_CHANNEL,
                external_id=f"{terminal}/{header.serial}/{_stamp(pos)}/bit{bit}",
                received_at=now,
                sender=Sender("terminal", terminal, v.plate if v and v.plate else None),
                text=describe_sos(terminal, v, pos, name),
                location=Location(lat=pos.lat, lon=pos.lon) if _located(pos) else None,
                category=spec.category,
                priority=spec.priority,
                alarm=AlarmRef(f"jt808:{terminal}", f"bit{bit}"),
                drill=terminal in self.settings.drill_terminals,
                extra=_extra(terminal, v, pos, authenticated),
            )
            await self.ctx.submit(report)

    def after_action(self, number: str, action: str, doc: dict[str, Any]) -> None:
        """Accepted: the terminal's emergency is confirmed (0x8203). Closed, cancelled,
        invalid or merged: its positions are no longer this incident's track."""
        for terminal, (_iid, num) in list(self.emergencies.items()):
            if num != number:
                continue
            if action == "accept":
                self.to_confirm[terminal] = (number, self.sos_serial.get(terminal, 0))
                link = self.links.get(terminal)
                if link is not None:
                    link.confirm()
            elif action in CLOSING_ACTIONS:
                del self.emergencies[terminal]
                self.sos_serial.pop(terminal, None)
                self.to_confirm.pop(terminal, None)


def _stamp(pos: frame.Position) -> str:
    """The message's identity beside its serial: the terminal's time (a repeat carries the
    same), or "-" when its clock gave none."""
    return f"{pos.time:%Y%m%dT%H%M%S}" if pos.time is not None else "-"


def _order(pos: frame.Position) -> float:
    return pos.time.timestamp() if pos.time is not None else float("inf")


def _located(pos: frame.Position) -> bool:
    return pos.located and not (pos.lat == 0 and pos.lon == 0)


def describe_sos(
    terminal: str, v: registry.Vehicle | None, pos: frame.Position, what: str = "紧急报警"
) -> str:
    """车载终端紧急报警：云A12345（出租车，示例出租汽车公司），时速 32 公里."""
    moving = f"，时速 {pos.speed_kmh:.0f} 公里" if pos.speed_kmh else "，停驶"
    where = "" if _located(pos) else "，未定位（位置为最后一次有效定位）"
    if v is None:
        return f"未登记的报警终端 {terminal}：车载终端{what}{moving}{where}"
    kind = registry.KIND_NAMES_ZH.get(v.kind or "", v.kind or "")
    about = "，".join(x for x in (kind, v.company) if x)
    plate = v.plate or f"终端 {terminal}"
    return f"车载终端{what}：{plate}" + (f"（{about}）" if about else "") + moving + where


def _extra(
    terminal: str, v: registry.Vehicle | None, pos: frame.Position, authenticated: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "terminal": terminal,
        "alarm": pos.alarm,
        "alarms": [name for bit, name in sorted(frame.ALARM_BITS.items()) if pos.alarm >> bit & 1],
        "speed_kmh": pos.speed_kmh,
        "heading": pos.heading,
        "fix_at": pos.time.isoformat() if pos.time else None,
        "located": pos.located,
    }
    names = "、".join(out["alarms"]) or "无"
    speed = f"时速 {pos.speed_kmh:.0f} 公里，方向 {pos.heading}°"
    who = f"终端：{terminal}" + ("" if authenticated else "（未鉴权，号码未经验证）")
    out["details"] = [f"报警：{names}", who, speed]
    out["authenticated"] = authenticated
    if v is not None:
        kind = registry.KIND_NAMES_ZH.get(v.kind or "", v.kind or "")
        out["details"].insert(0, "车辆：" + "，".join(x for x in (v.plate, kind, v.company) if x))
        if v.phones:
            out["details"].append("联系电话：" + "、".join(v.phones))
    if v is None:
        out["registered"] = False
    else:
        out.update(
            {
                k: val
                for k, val in (
                    ("plate", v.plate),
                    ("kind", v.kind),
                    ("company", v.company),
                    ("unit", v.unit),
                    ("phones", list(v.phones)),
                )
                if val
            }
        )
    return out


# -- the transport ------------------------------------------------------------------------------


class TerminalLink(protocol.Protocol, TimeoutMixin):
    """One terminal's TCP link."""

    transport: Any  # Twisted's interfaces do not type-check as attributes

    def __init__(self, channel: Jt808Channel) -> None:
        self.ch = channel
        self.decoder = frame.Decoder()
        self.terminal: str | None = None
        self.phone_raw: bytes | None = None
        self.version: int | None = None
        self.authenticated = False
        self.serial = 0

    def connectionMade(self) -> None:
        if len(self.ch.all_links) >= self.ch.settings.max_connections or self.ch.stopping:
            self.transport.loseConnection()
            return
        self.ch.all_links.add(self)
        self.ch.metrics.links.set(len(self.ch.all_links))
        self.setTimeout(self.ch.settings.idle_timeout_s)

    def connectionLost(self, reason: Any = None) -> None:
        self.setTimeout(None)
        self.ch.all_links.discard(self)
        if self.terminal is not None and self.ch.links.get(self.terminal) is self:
            del self.ch.links[self.terminal]
        self.ch.metrics.links.set(len(self.ch.all_links))

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    def send(self, data: bytes) -> None:
        if self.transport is not None and self.connected:
            self.transport.write(data)

    def respond(self, header: frame.Header, result: int) -> None:
        self.send(
            frame.general_response(
                header.phone_raw,
                self.next_serial(),
                header.serial,
                header.msg_id,
                result,
                header.version,
            )
        )

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        for item in self.decoder.feed(data):
            if isinstance(item, frame.FrameError):
                self.refused(item)
            else:
                self.received(item)

    def refused(self, e: frame.FrameError) -> None:
        """A frame we cannot take: "message error" (0x8001 result 2) to the frame's own
        terminal and serial when its header could be read; nothing else to say otherwise."""
        self.ch.metrics.refused.labels(e.kind).inc()
        h = e.header
        if h is not None:
            self.send(
                frame.general_response(
                    h.phone_raw, self.next_serial(), h.serial, h.msg_id, MESSAGE_ERROR, h.version
                )
            )

    def received(self, msg: frame.Message) -> None:
        h = msg.header
        if self.terminal != h.phone:
            self.terminal, self.authenticated = h.phone, False
        self.phone_raw, self.version = h.phone_raw, h.version
        self.ch.links[h.phone] = self
        label = f"0x{h.msg_id:04x}"
        try:
            if h.msg_id == POSITION:
                self.position(h, frame.decode_position(msg.body))
            elif h.msg_id == BATCH:
                _, items = frame.decode_batch(msg.body)
                self.batch(h, items)
            elif h.msg_id == HEARTBEAT:
                self.ch.keep_seen(h.phone, self.ch.now())
                self.respond(h, OK)
            elif h.msg_id == REGISTER:
                self.register(h, frame.decode_register(msg.body, h.version))
            elif h.msg_id == AUTH:
                self.auth(h, frame.decode_auth(msg.body, h.version))
            elif h.msg_id == LOGOUT:
                self.respond(h, OK)
            elif h.msg_id == TERMINAL_RESPONSE:
                pass  # the terminal's answer to our 0x8203
            else:
                self.respond(h, UNSUPPORTED)
                label = "other"
        except frame.FrameError as e:
            self.ch.metrics.refused.labels(e.kind).inc()
            self.respond(h, MESSAGE_ERROR)
            return
        self.ch.metrics.messages.labels(label, "ok").inc()

    def register(self, h: frame.Header, reg: frame.Register) -> None:
        known = h.phone in self.ch.vehicles
        if not known and not self.ch.settings.accept_unknown:
            self.send(
                frame.register_response(
                    h.phone_raw, self.next_serial(), h.serial, 4, None, h.version
                )
            )
            return
        code = self.ch.auth_code(h.phone)
        self.send(
            frame.register_response(h.phone_raw, self.next_serial(), h.serial, 0, code, h.version)
        )
        log.info(
            "JT/T 808: terminal {t} registered ({plate}{unknown})",
            t=h.phone,
            plate=reg.plate or "no plate",
            unknown="" if known else ", not in the registry",
        )

    def auth(self, h: frame.Header, code: str) -> None:
        self.authenticated = hmac.compare_digest(code.strip(), self.ch.auth_code(h.phone))
        self.respond(h, OK if self.authenticated else FAILED)
        if self.authenticated:
            self.confirm()

    def confirm(self) -> None:
        """Send the pending 人工确认报警 (0x8203) for this terminal's accepted emergency."""
        if self.terminal is None or self.phone_raw is None:
            return
        pending = self.ch.to_confirm.pop(self.terminal, None)
        if pending is None:
            return
        _number, alarm_serial = pending
        self.send(
            frame.alarm_confirm(self.phone_raw, self.next_serial(), alarm_serial, 1, self.version)
        )

    def position(self, h: frame.Header, pos: frame.Position) -> None:
        now = self.ch.now()
        if pos.sos or h.phone in self.ch.emergencies or h.phone in self.ch.filing:
            self.ch.spawn(self._after_commit(h, self.ch.emergency(self, h, pos, now), pos.alarm))
            return
        if pos.alarm and self.ch.settings.alarm_bits:
            self.ch.spawn(
                self._after_commit(h, self.ch.bit_alarm(h, pos, now, self.authenticated), pos.alarm)
            )
            self.ch.keep_position(h.phone, pos, now)
            return
        self.ch.keep_position(h.phone, pos, now)
        self.respond(h, OK)

    def batch(self, h: frame.Header, items: list[frame.Position]) -> None:
        now = self.ch.now()
        urgent = [p for p in items if p.sos or h.phone in self.ch.emergencies]
        if not urgent:
            for p in sorted(items, key=_order):
                self.ch.keep_position(h.phone, p, now)
            self.respond(h, OK)
            return

        async def each() -> None:
            for p in sorted(items, key=_order):
                if p.sos or h.phone in self.ch.emergencies or h.phone in self.ch.filing:
                    await self.ch.emergency(self, h, p, now)
                else:
                    self.ch.keep_position(h.phone, p, now)

        self.ch.spawn(self._after_commit(h, each(), max(p.alarm for p in items)))

    async def _after_commit(
        self, h: frame.Header, work: Coroutine[Any, Any, Any], alarm: int
    ) -> None:
        try:
            await work
        except StoreUnavailable as e:
            log.warn("JT/T 808: alarm of {t} not stored, not answered: {e}", t=h.phone, e=str(e))
            return
        except Exception:
            log.failure("JT/T 808: alarm of {t} failed, not answered", t=h.phone)
            return
        self.respond(h, OK)


class TerminalLinks(protocol.Factory):
    def __init__(self, channel: Jt808Channel) -> None:
        self.ch = channel

    def buildProtocol(self, addr: Any) -> TerminalLink:
        return TerminalLink(self.ch)
