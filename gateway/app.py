"""The gateway assembled: store → intake worker → deadline timer → notifiers → HTTP →
channels (web first) → the drill runner. They start in that order and stop in the reverse one.

`build(config, data_dir, ...)` returns the top service; `gateway.tap` hands it to twistd.
The channels are the enabled declarations of the configuration (`gateway.discovery`): this
module loops over them and knows none by name.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry
from sqlalchemy import Connection
from twisted.application import service
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.web import resource

from gateway.channel import Channel, resolve
from gateway.config import Config
from gateway.console.routes import ConsoleRoutes
from gateway.console.stream import EventHub
from gateway.drills.http import DrillRoutes
from gateway.drills.service import DrillService
from gateway.http.incidents import CoreRoutes
from gateway.http.resource import ApiResource, Route, route
from gateway.http.site import WebService, make_site
from gateway.http.targets import TargetRoutes
from gateway.intake import Intake
from gateway.metrics import Metrics
from gateway.notify.outbox import Outbox
from gateway.notify.webhook import WebhookNotifier
from gateway.orgtree import OrgTree
from gateway.report import Receipt, Report
from gateway.service import AsyncMultiService, Collector, TopService, Waker
from gateway.store.db import Database
from gateway.store.engine import StoreUnavailable, sqlite_url
from gateway.store.transaction import WriteContext
from gateway.workflow.documents import Documents
from gateway.workflow.machine import Actor
from gateway.workflow.service import Workflow

log = Logger()
P = ParamSpec("P")
T = TypeVar("T")


class StartupError(Exception):
    """The gateway cannot start (a port in use, …): one line for the operator."""


class StoreService(service.Service):
    name = "store"  # type: ignore[assignment]

    def __init__(self, db: Database) -> None:
        self.db = db

    def startService(self) -> Any:
        service.Service.startService(self)
        log.info("Store: {url}", url=_redact(self.db.url))
        return self.db.start()

    def stopService(self) -> Any:
        service.Service.stopService(self)
        return self.db.stop()


class DeadlineTimer(Waker):
    """Fires missed deadlines. It wakes at the earliest pending deadline (re-read after
    each firing and whenever a write arms a new one) and at least every `poll` seconds,
    which also picks up deadlines armed by other nodes. At start it fires at once what
    passed while the gateway was down."""

    name = "deadlines"  # type: ignore[assignment]

    def __init__(self, gw: Gateway, poll: float = 5.0) -> None:
        super().__init__(gw.clock, poll)
        self.gw = gw

    def poke(self, due: datetime) -> None:
        self._schedule(max(0.0, due.timestamp() - self.gw.clock.seconds()))

    @defer.inlineCallbacks
    def _tick(self) -> Any:
        self._busy = defer.Deferred()
        try:
            fired = yield self.gw.workflow.fire_due()
            for _ in fired:
                self.gw.metrics.missed_deadlines.inc()
            nxt = yield self.gw.workflow.next_due()
        except StoreUnavailable as e:
            log.warn("Deadline check deferred: {error}", error=str(e))
            nxt = None
        except Exception:  # noqa: BLE001 - keep the timer alive whatever happens
            log.failure("Deadline check failed")
            nxt = None
        finally:
            busy, self._busy = self._busy, None
            busy.callback(None)
        delay = self.poll if nxt is None else max(0.0, nxt.timestamp() - self.gw.clock.seconds())
        self._schedule(delay)


@dataclass
class Gateway:
    """The running core: what the HTTP API and, through their contexts, the channels use."""

    config: Config
    db: Database
    intake: Intake
    workflow: Workflow
    documents: Documents
    metrics: Metrics
    reactor: Any
    clock: Any
    timer: DeadlineTimer | None = None
    hub: EventHub | None = None
    services: dict[str, service.Service] = field(default_factory=dict)  # by channel code
    # Called after each workflow action that committed: (incident number, action, document).
    action_listeners: list[Callable[[str, str, dict[str, Any]], None]] = field(default_factory=list)

    def submit(self, report: Report) -> defer.Deferred[Receipt]:
        d = self.intake.submit(report)

        def counted(r: Receipt) -> Receipt:
            self.metrics.reports.labels(
                report.channel, "duplicate" if r.duplicate else "stored"
            ).inc()
            return r

        def failed(f: Any) -> Any:
            outcome = "unavailable" if f.check(StoreUnavailable) else "invalid"
            self.metrics.reports.labels(report.channel, outcome).inc()
            return f

        return d.addCallbacks(counted, failed)

    def act(
        self, number: str, action: str, actor: Actor, params: dict[str, Any]
    ) -> defer.Deferred[dict[str, Any]]:
        return self.workflow.act(number, action, actor, params).addCallback(
            self._acted, number, action
        )

    def acknowledge_notice(self, delivery: int, reason: str) -> defer.Deferred[str]:
        def done(out: tuple[str, str, dict[str, Any] | None]) -> str:
            number, outcome, doc = out
            if doc is not None:
                self._acted(doc, number, "acknowledge")
            return outcome

        return self.workflow.acknowledge_notice(delivery, reason).addCallback(done)

    def _acted(self, doc: dict[str, Any], number: str, action: str) -> dict[str, Any]:
        pending = [d["due"] for d in doc.get("deadlines", ()) if not d["fired"]]
        if pending and self.timer is not None:
            self.timer.poke(datetime.fromisoformat(min(pending).replace("Z", "+00:00")))
        for listener in list(self.action_listeners):
            try:
                listener(number, action, doc)
            except Exception:  # noqa: BLE001 - the action is done; a listener's bug is logged
                log.failure("Action listener failed")
        return doc

    def context(self, channel: Channel) -> ChannelRuntime:
        return ChannelRuntime(self, channel)

    def channel_routes(self) -> list[Route]:
        """The enabled channels' HTTP routes, bound to their services."""
        out = []
        for channel in self.config.enabled_channels:
            for r in channel.routes:
                handler = functools.partial(resolve(r.handler), self.services[channel.code])
                out.append(route(r.method, r.pattern, handler, r.auth, r.roles))
        return out


class ChannelRuntime:
    """The core as one channel sees it: `gateway.channel.ChannelContext`."""

    def __init__(self, gw: Gateway, channel: Channel) -> None:
        self.gw = gw
        self.channel = channel
        section = gw.config.channels.get(channel.code, {})
        self.settings: Any = (
            resolve(channel.settings).from_config(section) if channel.settings else section
        )
        self.metrics: Any = (
            resolve(channel.metrics)(gw.metrics.registry) if channel.metrics else None
        )
        self.tz = ZoneInfo(gw.config.city.timezone)

    @property
    def config(self) -> Config:
        return self.gw.config

    @property
    def org(self) -> OrgTree:
        return self.gw.config.org

    @property
    def reactor(self) -> Any:
        return self.gw.reactor

    @property
    def clock(self) -> Any:
        return self.gw.clock

    @property
    def registry(self) -> CollectorRegistry:
        return self.gw.metrics.registry

    @property
    def documents(self) -> Documents:
        return self.gw.documents

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.gw.clock.seconds(), UTC)

    def submit(self, report: Report) -> defer.Deferred[Receipt]:
        return self.gw.submit(report)

    def act(
        self, number: str, action: str, actor: Actor, params: dict[str, Any]
    ) -> defer.Deferred[dict[str, Any]]:
        return self.gw.act(number, action, actor, params)

    def acknowledge_notice(self, delivery: int, reason: str) -> defer.Deferred[str]:
        return self.gw.acknowledge_notice(delivery, reason)

    def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> defer.Deferred[T]:
        return (
            self.gw.db.read(functools.partial(fn, **kw), *args)
            if kw
            else self.gw.db.read(fn, *args)
        )

    def write(
        self, fn: Callable[Concatenate[WriteContext, P], T], *args: P.args, **kw: P.kwargs
    ) -> defer.Deferred[T]:
        return (
            self.gw.db.write(functools.partial(fn, **kw), *args)
            if kw
            else self.gw.db.write(fn, *args)
        )

    def on_action(self, listener: Callable[[str, str, dict[str, Any]], None]) -> Callable[[], None]:
        self.gw.action_listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self.gw.action_listeners:
                self.gw.action_listeners.remove(listener)

        return unsubscribe


def build(
    config: Config,
    data_dir: str | Path = "alarmgw-data",
    http: tuple[str, int] | None = None,
    reactor: Any = None,
    clock: Any = None,
) -> tuple[AsyncMultiService, Gateway]:
    """The gateway's services, not started. The HTTP port (`http`, default the config's) is
    bound first, so a port in use stops the start before anything else happens
    (`StartupError`); it accepts connections once the services before it have started."""
    if reactor is None:
        from twisted.internet import reactor as _reactor

        reactor = _reactor
    clock = clock or reactor
    host, port = http or (config.http.host, config.http.port)
    site = make_site(resource.Resource(), config.http.max_body)
    listening = _listen(reactor, host, port, site)
    url = config.storage_url
    if not url:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        url = sqlite_url(data_dir)
    metrics = Metrics()
    hub = EventHub(None, config.org, clock, config.console.stream_poll_s)

    def committed(batch: int, seconds: float) -> None:  # on the writer's thread
        metrics.on_commit(batch, seconds)
        reactor.callFromThread(hub.kick)

    db = Database(
        url,
        reactor,
        on_commit=committed,
        busy_timeout_ms=config.busy_timeout_ms,
        channels=config.enabled_channels,
    )
    documents = Documents(config.enabled_channels)
    workflow = Workflow(db, config, clock, documents)
    intake = Intake(db, config, clock)
    gw = Gateway(config, db, intake, workflow, documents, metrics, reactor, clock)
    gw.hub = hub
    top = TopService(reactor)
    Collector(reactor, clock).setServiceParent(top)
    StoreService(db).setServiceParent(top)
    if config.intake_worker:
        from gateway.store.worker import IntakeWorker

        worker = IntakeWorker(
            str(config.path) if config.path else None, url, config.busy_timeout_ms, reactor
        )
        worker.setServiceParent(top)
        intake.worker = worker
    gw.timer = DeadlineTimer(gw)
    gw.timer.setServiceParent(top)
    channels = []
    for channel in config.enabled_channels:
        svc = resolve(channel.service)(gw.context(channel))
        gw.services[channel.code] = svc
        channels.append((channel, svc))
    notifiers = [WebhookNotifier(db, config, documents, clock)]
    notifiers += [resolve(c.notifier)(svc) for c, svc in channels if c.notifier]
    for notifier in notifiers:
        Outbox(db, notifier, clock, on_attempt=_count_delivery(metrics)).setServiceParent(top)
    hub.db = db
    hub.setServiceParent(top)
    console = ConsoleRoutes(gw, hub)
    drills = DrillService(gw)
    # The channels' first: the busiest route is the web channel's POST /api/v1/reports.
    routes = (
        gw.channel_routes()
        + CoreRoutes(gw).routes()
        + TargetRoutes(gw).routes()
        + DrillRoutes(gw, drills).routes()
        + console.routes()
    )
    api = ApiResource(db, clock, config.http.max_body, routes)
    api.sessions = console.sessions
    api.error_page = console.error_page
    console.api_tokens = api.tokens
    site.resource = api
    WebService(listening).setServiceParent(top)
    for _channel, svc in channels:
        svc.setServiceParent(top)
    drills.setServiceParent(top)  # after the channels it plays injects through
    intake.on_stored = _on_stored(gw)
    return top, gw


def _listen(reactor: Any, host: str, port: int, site: Any) -> Any:
    try:
        listening = reactor.listenTCP(port, site, interface=host)
    except CannotListenError as e:
        err = e.socketError
        why = (
            "address in use"
            if getattr(err, "errno", None) == errno.EADDRINUSE
            else getattr(err, "strerror", None) or str(err)
        )
        where = f"[{host}]" if ":" in host else host
        raise StartupError(f"cannot listen on {where}:{port}: {why}") from None
    listening.stopReading()  # connections wait in the backlog until the store is up
    return listening


def _count_delivery(metrics: Metrics) -> Callable[[str, str], None]:
    return lambda kind, status: metrics.deliveries.labels(kind, status).inc()


def _on_stored(gw: Gateway) -> Any:
    def on_stored(report: Report, receipt: Receipt) -> None:
        if gw.hub is not None:
            gw.hub.kick()  # the intake worker committed it: the consoles hear at once
        # A new incident arms its accept deadline: wake the timer no later than the
        # shortest accept SLA (priority 1) from now.
        if not receipt.duplicate and not receipt.attached and gw.timer is not None:
            seconds = gw.config.sla.seconds("accept", 1)
            if seconds is not None:
                gw.timer.poke(datetime.fromtimestamp(gw.clock.seconds() + seconds, UTC))

    return on_stored


def _redact(url: str) -> str:
    """Never log a database password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url
