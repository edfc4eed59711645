"""The gateway assembled: store → intake worker → deadline timer → notifiers → channels
(web first). They start in that order and stop in the reverse one.

`build(config, data_dir, ...)` returns the top service; `gateway.tap` hands it to twistd.
The core never imports a channel module at import time of its own: the channels are
listed here, in the one place that wires the application together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twisted.application import service
from twisted.internet import defer, endpoints
from twisted.logger import Logger
from twisted.web import server

from gateway.config import Config
from gateway.intake import Intake
from gateway.metrics import Metrics
from gateway.report import Receipt, Report
from gateway.service import AsyncMultiService
from gateway.store.db import Database, StoreUnavailable, sqlite_url
from gateway.workflow.service import Workflow

log = Logger()


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


class DeadlineTimer(service.Service):
    """Fires missed deadlines. It wakes at the earliest pending deadline (re-read after
    each firing and whenever a write arms a new one) and at least every `poll` seconds,
    which also picks up deadlines armed by other nodes. At start it fires at once what
    passed while the gateway was down."""

    name = "deadlines"  # type: ignore[assignment]

    def __init__(self, gw: Gateway, poll: float = 5.0) -> None:
        self.gw = gw
        self.poll = poll
        self._call: Any = None
        self._busy: defer.Deferred[Any] | None = None

    def startService(self) -> None:
        service.Service.startService(self)
        self._schedule(0)

    def stopService(self) -> Any:
        service.Service.stopService(self)
        if self._call is not None and self._call.active():
            self._call.cancel()
        return self._busy

    def poke(self, due: datetime) -> None:
        delay = max(0.0, due.timestamp() - self.gw.clock.seconds())
        if (
            self._call is None
            or not self._call.active()
            or (self._call.getTime() > self.gw.clock.seconds() + delay)
        ):
            self._schedule(delay)

    def _schedule(self, delay: float) -> None:
        if not self.running:
            return
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = self.gw.clock.callLater(min(delay, self.poll), self._tick)

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


class _Site(server.Site):
    """Answers go out at once (TCP_NODELAY): a 201 is one small write, and Nagle's
    algorithm with the client's delayed ACK could hold it back for up to 40 ms."""

    def buildProtocol(self, addr: Any) -> Any:
        proto = super().buildProtocol(addr)
        make = proto.makeConnection

        def makeConnection(transport: Any) -> None:
            if hasattr(transport, "setTcpNoDelay"):
                transport.setTcpNoDelay(True)
            make(transport)

        proto.makeConnection = makeConnection
        return proto


class WebService(service.Service):
    name = "web"  # type: ignore[assignment]

    def __init__(self, gw: Gateway, endpoint: str) -> None:
        self.gw = gw
        self.endpoint = endpoint
        self.port: Any = None

    @defer.inlineCallbacks
    def startService(self) -> Any:
        service.Service.startService(self)
        from gateway.http.api import ApiResource, LimitedRequest

        site = _Site(ApiResource(self.gw))
        max_body = self.gw.config.http.max_body

        class _Request(LimitedRequest):
            pass

        _Request.max_body = max_body
        site.requestFactory = _Request
        site.displayTracebacks = False
        ep = endpoints.serverFromString(self.gw.reactor, self.endpoint)
        self.port = yield ep.listen(site)
        addr = self.port.getHost()
        log.info("HTTP on http://{host}:{port}/", host=addr.host, port=addr.port)

    def stopService(self) -> Any:
        service.Service.stopService(self)
        if self.port is not None:
            return self.port.stopListening()
        return None


@dataclass
class Gateway:
    """The running parts that channels and the HTTP API talk to."""

    config: Config
    db: Database
    intake: Intake
    workflow: Workflow
    metrics: Metrics
    reactor: Any
    clock: Any
    timer: DeadlineTimer | None = None
    phone: Any = None  # the AMI channel, when [channels.ami] is enabled
    sms: Any = None  # the SMPP channel, when [channels.smpp] is enabled
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
        self, number: str, action: str, actor: Any, params: dict[str, Any]
    ) -> defer.Deferred[dict[str, Any]]:
        d = self.workflow.act(number, action, actor, params)

        def poke(doc: dict[str, Any]) -> dict[str, Any]:
            pending = [d["due"] for d in doc.get("deadlines", ()) if not d["fired"]]
            if pending and self.timer is not None:
                self.timer.poke(datetime.fromisoformat(min(pending).replace("Z", "+00:00")))
            for listener in self.action_listeners:
                try:
                    listener(number, action, doc)
                except Exception:  # noqa: BLE001 - the action is done; a listener's bug is logged
                    log.failure("Action listener failed")
            return doc

        return d.addCallback(poke)


def build(
    config: Config,
    data_dir: str | Path = "alarmgw-data",
    http_endpoint: str | None = None,
    reactor: Any = None,
    clock: Any = None,
) -> tuple[AsyncMultiService, Gateway]:
    if reactor is None:
        from twisted.internet import reactor as _reactor

        reactor = _reactor
    clock = clock or reactor
    url = config.storage_url
    if not url:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        url = sqlite_url(data_dir)
    metrics = Metrics()
    db = Database(url, reactor, on_commit=metrics.on_commit, busy_timeout_ms=config.busy_timeout_ms)
    ami = config.channels.get("ami", {})
    smpp = config.channels.get("smpp", {})
    kinds = {"webhook"}
    if ami.get("enabled"):
        kinds.add("phone")
    if smpp.get("enabled"):
        kinds.add("sms")
    workflow = Workflow(db, config, clock, notify_kinds=frozenset(kinds))
    intake = Intake(db, config, clock)
    gw = Gateway(config, db, intake, workflow, metrics, reactor, clock)
    top = AsyncMultiService()
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
    _add_notifiers(gw, top)
    web = config.channels.get("web", {})
    if web.get("enabled", True):
        endpoint = http_endpoint or tcp_endpoint(config.http.host, config.http.port)
        WebService(gw, endpoint).setServiceParent(top)
    if ami.get("enabled"):
        from gateway.channels.ami.service import AmiChannel, AmiSettings

        gw.phone = AmiChannel(gw, AmiSettings.from_config(ami))
        gw.phone.setServiceParent(top)
    if smpp.get("enabled"):
        from gateway.channels.smpp.service import SmppChannel
        from gateway.channels.smpp.settings import SmppSettings

        gw.sms = SmppChannel(gw, SmppSettings.from_config(smpp))
        gw.sms.setServiceParent(top)
    intake.on_stored = _on_stored(gw)
    return top, gw


def tcp_endpoint(host: str, port: int) -> str:
    """A twisted endpoint description; IPv6 colons are escaped."""
    return f"tcp:{port}:interface={host.replace(':', chr(92) + ':')}"


def _on_stored(gw: Gateway) -> Any:
    def on_stored(report: Report, receipt: Receipt) -> None:
        # A new incident arms its accept deadline: wake the timer no later than the
        # shortest accept SLA (priority 1) from now.
        if not receipt.duplicate and not receipt.attached and gw.timer is not None:
            seconds = gw.config.sla.seconds("accept", 1)
            if seconds is not None:
                gw.timer.poke(datetime.fromtimestamp(gw.clock.seconds() + seconds, UTC))

    return on_stored


def _add_notifiers(gw: Gateway, top: AsyncMultiService) -> None:
    from gateway.notify.webhook import WebhookNotifier

    WebhookNotifier(
        gw.db,
        gw.config,
        clock=gw.clock,
        on_attempt=lambda status: gw.metrics.deliveries.labels("webhook", status).inc(),
    ).setServiceParent(top)


def _redact(url: str) -> str:
    """Never log a database password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url
